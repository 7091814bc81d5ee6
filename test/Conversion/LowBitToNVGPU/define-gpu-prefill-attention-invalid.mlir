// RUN: lowbit-opt %s --split-input-file --verify-diagnostics --lowbit-define-gpu-prefill-attention=chip=sm_90
// RUN: not lowbit-opt %s --split-input-file --lowbit-define-gpu-prefill-attention=chip=sm_70 2>&1 | FileCheck %s --check-prefix=CHIP

// CHIP: unknown GPU chip 'sm_70'; expected sm_80, sm_89 or sm_90

// expected-error @+1 {{'func.func' op is marked lowbit.gpu_prefill_attention but does not take (query rows, key region, value region, start position, output rows) with a !lowbit.kv_cache type as the mark's value}}
func.func private @no_start(memref<?x128xf32>, memref<?xi8>, memref<?xi8>, memref<?x128xf32>) attributes {lowbit.gpu_prefill_attention = !lowbit.kv_cache<bits = 4, group = 32, heads = 1, head_dim = 64, max_len = 8>}

// -----

// expected-error @+1 {{'func.func' op is marked lowbit.gpu_prefill_attention but does not take (query rows, key region, value region, start position, output rows) with a !lowbit.kv_cache type as the mark's value}}
func.func private @no_cache(memref<?x128xf32>, memref<?xi8>, memref<?xi8>, index, memref<?x128xf32>) attributes {lowbit.gpu_prefill_attention = f32}

// -----

// expected-error @+1 {{'func.func' op has 96 query channels, not a whole number of heads of 64}}
func.func private @partial_head(memref<?x96xf32>, memref<?xi8>, memref<?xi8>, index, memref<?x96xf32>) attributes {lowbit.gpu_prefill_attention = !lowbit.kv_cache<bits = 4, group = 32, heads = 1, head_dim = 64, max_len = 8>}

// -----

// expected-error @+1 {{'func.func' op has no GPU prefill attention kernel: 16-bit caches are not supported; 4 and 8 are}}
func.func private @f16_cache(memref<?x128xf32>, memref<?xi8>, memref<?xi8>, index, memref<?x128xf32>) attributes {lowbit.gpu_prefill_attention = !lowbit.kv_cache<bits = 16, group = 64, heads = 1, head_dim = 64, max_len = 8>}

// -----

// expected-error @+1 {{'func.func' op has no GPU prefill attention kernel: heads of 256 channels are not supported; a multiple of 8 up to 128 is}}
func.func private @wide_heads(memref<?x256xf32>, memref<?xi8>, memref<?xi8>, index, memref<?x256xf32>) attributes {lowbit.gpu_prefill_attention = !lowbit.kv_cache<bits = 4, group = 32, heads = 1, head_dim = 256, max_len = 8>}

// -----

// expected-error @+1 {{'func.func' op has no GPU prefill attention kernel: 3 heads do not share 2 KV heads evenly}}
func.func private @uneven_heads(memref<?x96xf32>, memref<?xi8>, memref<?xi8>, index, memref<?x96xf32>) attributes {lowbit.gpu_prefill_attention = !lowbit.kv_cache<bits = 4, group = 32, heads = 2, head_dim = 32, max_len = 8>}

// -----

// expected-error @+1 {{'func.func' op has no GPU prefill attention kernel: scale groups of 4 channels are not a multiple of 8 that divides the heads of 64}}
func.func private @small_groups(memref<?x64xf32>, memref<?xi8>, memref<?xi8>, index, memref<?x64xf32>) attributes {lowbit.gpu_prefill_attention = !lowbit.kv_cache<bits = 4, group = 4, heads = 1, head_dim = 64, max_len = 8>}

