// RUN: lowbit-opt %s --lowbit-convert-to-cpu --split-input-file -verify-diagnostics

!w = !lowbit.qtensor<8x32, f16, #lowbit.blocks<32, [4], per_channel>>

func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x8xf32> {
  %table = lowbit.weight "token_embd.weight" : tensor<8x32xf32>
  %x = lowbit.embedding %table[%tokens] : tensor<8x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
  %w = lowbit.weight "output.weight" : tensor<8x32xf32>
  %q = lowbit.quantize %w : tensor<8x32xf32> -> !w
  // expected-error @+1 {{lowbit-convert-to-cpu cannot lower this operation yet}}
  %d = lowbit.dequantize %q : !w -> tensor<8x32xf32>
  %y = lowbit.linear %x, %d : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// expected-error @+1 {{is not a graph entry point (tokens, positions, start, KV caches -> logits, KV caches)}}
func.func @prefill(%x: tensor<?x32xf32>) -> tensor<?x32xf32> {
  return %x : tensor<?x32xf32>
}

// -----

func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x8xf32> {
  %table = lowbit.weight "token_embd.weight" : tensor<8x32xf32>
  %x = lowbit.embedding %table[%tokens] : tensor<8x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
  %w = lowbit.weight "output.weight" : tensor<8x32xf32>
  // expected-error @+1 {{lowbit-convert-to-cpu needs the activation operands of this operation to be computed at run time}}
  %doubled = arith.addf %w, %w : tensor<8x32xf32>
  %y = lowbit.linear %x, %doubled : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// expected-error @+1 {{lowbit-convert-to-cpu does not lower tensor-parallel modules (lowbit.rank_group)}}
module {
  lowbit.rank_group @tp [0, 1]
  func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x8xf32> {
    %table = lowbit.weight "token_embd.weight" : tensor<8x32xf32>
    %x = lowbit.embedding %table[%tokens] : tensor<8x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
    %w = lowbit.weight "output.weight" : tensor<8x32xf32>
    %y = lowbit.linear %x, %w : tensor<?x32xf32>, tensor<8x32xf32> -> tensor<?x8xf32>
    return %y : tensor<?x8xf32>
  }
}

// -----

!w = !lowbit.qtensor<8x32, f16, #lowbit.blocks<32, [4], per_channel, asymmetric>>
!a = !lowbit.qtensor<?x32, f16, #lowbit.blocks<32, [8], per_token>>

func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x8xf32> {
  %table = lowbit.weight "token_embd.weight" : tensor<8x32xf32>
  %x = lowbit.embedding %table[%tokens] : tensor<8x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
  %w = lowbit.weight "output.weight" : tensor<8x32xf32>
  // expected-error @+1 {{lowbit-convert-to-cpu does not lower asymmetric (zero-point) weights or KV caches yet; the reference executor runs them}}
  %q = lowbit.quantize %w : tensor<8x32xf32> -> !w
  %xq = lowbit.quantize %x : tensor<?x32xf32> -> !a
  %y = lowbit.matmul %xq, %q : !a, !w -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
