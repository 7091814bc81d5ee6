// RUN: lowbit-opt %s --lowbit-define-gpu-matmuls -split-input-file -verify-diagnostics
// RUN: not lowbit-opt %s --lowbit-define-gpu-matmuls=chip=sm_75 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not lowbit-opt %s --lowbit-define-gpu-matmuls=max-decode-tokens=12 2>&1 | FileCheck %s --check-prefix=TOKENS
// RUN: not lowbit-opt %s --lowbit-define-gpu-matmuls=pipeline-stages=5 2>&1 | FileCheck %s --check-prefix=STAGES
// RUN: not lowbit-opt %s --lowbit-define-gpu-matmuls=multiprocessors=-4 2>&1 | FileCheck %s --check-prefix=WAVE
// RUN: not lowbit-opt %s --lowbit-define-gpu-matmuls=decode-token-blocks=0 2>&1 | FileCheck %s --check-prefix=BLOCKS

// CHIP: error: unknown GPU chip 'sm_75'; expected sm_80, sm_89 or sm_90
// TOKENS: error: max-decode-tokens must be a positive power of two, got 12
// STAGES: error: pipeline-stages must be 2, 3 or 4, got 5
// WAVE: error: multiprocessors must be 0 (the chip's usual GPU) or positive, got -4
// BLOCKS: error: decode-token-blocks must be at least 1, got 0

// expected-error @below {{'func.func' op is marked lowbit.gpu_matmul but does not take (activation codes, activation scales, then for each weight: weight codes, weight scales, result) as 2-D memrefs with static weight shapes}}
func.func private @three_arguments(memref<?x64xi8>, memref<?x2xf32>, memref<?x64xf32>) attributes {lowbit.gpu_matmul}

// -----

// Two weights of one launch must share their scale group.
// expected-error @below {{'func.func' op has 1 scale groups per row in weight 1 but 2 in weight 0; one launch takes one weight scale group}}
func.func private @two_scale_groups(memref<?x64xi8>, memref<?x2xf32>, memref<8x32xi8>, memref<8x2xf32>, memref<?x8xf32>, memref<8x32xi8>, memref<8x1xf32>, memref<?x8xf32>) attributes {lowbit.gpu_matmul}

// -----

// A weight's codes without its scales and result.
// expected-error @below {{'func.func' op is marked lowbit.gpu_matmul but does not take}}
func.func private @incomplete_weight(memref<?x64xi8>, memref<?x2xf32>, memref<8x32xi8>, memref<8x2xf32>, memref<?x8xf32>, memref<8x32xi8>) attributes {lowbit.gpu_matmul}

// -----

// expected-error @below {{'func.func' op has no GPU decode kernel: 48 input channels are not a multiple of 32}}
func.func private @odd_channels(memref<?x48xi8>, memref<?x1xf32>, memref<8x24xi8>, memref<8x1xf32>, memref<?x8xf32>) attributes {lowbit.gpu_matmul}

// -----

// A result must have as many channels as its weight has rows.
// expected-error @below {{'func.func' op has 8 rows in weight 0 but its scales are 'memref<8x2xf32>' and its result 'memref<?x16xf32>'}}
func.func private @wide_result(memref<?x64xi8>, memref<?x2xf32>, memref<8x32xi8>, memref<8x2xf32>, memref<?x16xf32>) attributes {lowbit.gpu_matmul}

// -----

// The activation blocks' size and widths come together.
// expected-error @below {{'func.func' op needs both lowbit.activation_block_size (i64) and lowbit.activation_block_bits (array<i64>), or neither}}
func.func private @half_blocks(memref<?x64xi8>, memref<?x2xf32>, memref<8x32xi8>, memref<8x2xf32>, memref<?x8xf32>) attributes {lowbit.gpu_matmul, lowbit.activation_block_size = 32 : i64}

// -----

// The activation blocks must cover the input channels.
// expected-error @below {{'func.func' op has 3 activation blocks of 32 channels for 64 input channels}}
func.func private @short_blocks(memref<?x64xi8>, memref<?x2xf32>, memref<8x32xi8>, memref<8x2xf32>, memref<?x8xf32>) attributes {lowbit.gpu_matmul, lowbit.activation_block_size = 32 : i64, lowbit.activation_block_bits = array<i64: 8, 4, 4>}
