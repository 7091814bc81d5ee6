// RUN: lowbit-opt %s --lowbit-define-gpu-linears -split-input-file -verify-diagnostics
// RUN: not lowbit-opt %s --lowbit-define-gpu-linears=chip=sm_75 2>&1 | FileCheck %s --check-prefix=CHIP

// CHIP: error: unknown GPU chip 'sm_75'; expected sm_80, sm_89 or sm_90

// The weight's input channels must be the input rows'.
// expected-error @below {{'func.func' op is marked lowbit.gpu_linear but does not take (input rows [?, K], transposed weight [K, N], output rows [?, N]) as f32 memrefs}}
func.func private @mismatched_weight(memref<?x64xf32>, memref<32x256xf32>, memref<?x256xf32>) attributes {lowbit.gpu_linear}

// -----

// expected-error @below {{'func.func' op is marked lowbit.gpu_linear but does not take (input rows [?, K], transposed weight [K, N], output rows [?, N]) as f32 memrefs}}
func.func private @f16_rows(memref<?x64xf16>, memref<64x256xf32>, memref<?x256xf32>) attributes {lowbit.gpu_linear}

// -----

// The kernel's tiles cover 128 outputs.
// expected-error @below {{'func.func' op has no GPU linear kernel: 100 output channels are not a positive multiple of 128}}
func.func private @narrow(memref<?x64xf32>, memref<64x100xf32>, memref<?x100xf32>) attributes {lowbit.gpu_linear}

// -----

// expected-error @below {{'func.func' op has no GPU linear kernel: 40 input channels are not a positive multiple of 16}}
func.func private @odd_inputs(memref<?x40xf32>, memref<40x128xf32>, memref<?x128xf32>) attributes {lowbit.gpu_linear}
