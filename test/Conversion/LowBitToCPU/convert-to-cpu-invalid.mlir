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

lowbit.rank_group @tp [0, 1]

func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x4xf32> {
  %table = lowbit.weight "token_embd.weight" : tensor<8x8xf32>
  %x = lowbit.embedding %table[%tokens] : tensor<8x8xf32>, tensor<?xi32> -> tensor<?x8xf32>
  %y = arith.addf %x, %x : tensor<?x8xf32>
  // expected-error @+1 {{lowbit-convert-to-cpu takes slices of weights only (cut once, when the artifact is written)}}
  %half = lowbit.shard %y over @tp along 1 : tensor<?x8xf32> -> tensor<?x4xf32>
  return %half : tensor<?x4xf32>
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

// -----

lowbit.rank_group @tp [0, 1]

func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x4xf32> {
  %table = lowbit.weight "token_embd.weight" : tensor<8x8xf32>
  %x = lowbit.embedding %table[%tokens] : tensor<8x8xf32>, tensor<?xi32> -> tensor<?x8xf32>
  // expected-error @+1 {{lowbit-convert-to-cpu does not lower reduce-scatters; compress with algorithm=all-gather}}
  %part = lowbit.reduce_scatter %x over @tp along 1 : tensor<?x8xf32> -> tensor<?x4xf32>
  return %part : tensor<?x4xf32>
}

// -----

lowbit.rank_group @tp [0, 1]

func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x8xf32> {
  %table = lowbit.weight "token_embd.weight" : tensor<8x8xf32>
  %x = lowbit.embedding %table[%tokens] : tensor<8x8xf32>, tensor<?xi32> -> tensor<?x8xf32>
  // expected-error @+1 {{lowbit-convert-to-cpu gathers along the channels (axis 1) only}}
  %rows = lowbit.all_gather %x over @tp along 0 : tensor<?x8xf32> -> tensor<?x8xf32>
  return %rows : tensor<?x8xf32>
}

// -----

lowbit.rank_group @tp [0, 1]
// expected-error @+1 {{'lowbit.rank_group' op is a second rank group; lowbit-convert-to-cpu lowers models sharded over one group}}
lowbit.rank_group @dp [0, 1]

func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x8xf32> {
  %table = lowbit.weight "token_embd.weight" : tensor<8x8xf32>
  %x = lowbit.embedding %table[%tokens] : tensor<8x8xf32>, tensor<?xi32> -> tensor<?x8xf32>
  return %x : tensor<?x8xf32>
}
