//===- LowBitOps.td - lowbit operations --------------------*- tablegen -*-===//
//
// Operations of the lowbit dialect: the graph-level pieces of a Llama block
// that upstream dialects do not have, quantization and the mixed-precision
// matmul, the KV cache, and collectives for tensor parallelism.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_LOWBIT_IR_LOWBITOPS_TD
#define LOWBIT_DIALECT_LOWBIT_IR_LOWBITOPS_TD

include "lowbit/Dialect/LowBit/IR/LowBitTypes.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

/// Element types lowbit computes in at graph level.
def LowBit_FloatElement : AnyTypeOf<[F16, BF16, F32]>;
/// A [rows, channels] activation or weight in floating point.
def LowBit_Float2D : TensorRankOf<[F16, BF16, F32], [2]>;
/// A vector of per-channel floating-point parameters (norm weights).
def LowBit_Float1D : TensorRankOf<[F16, BF16, F32], [1]>;
/// Token ids or positions.
def LowBit_Index1D : TensorRankOf<[I32, I64], [1]>;

//===----------------------------------------------------------------------===//
// Graph-level Llama operations
//===----------------------------------------------------------------------===//

def LowBit_EmbeddingOp : LowBit_Op<"embedding", [Pure]> {
  let summary = "Gathers the embedding rows of a sequence of tokens";
  let description = [{
    Row `t` of the result is row `tokens[t]` of `table` ([vocab, dim]).

    ```mlir
    %h = lowbit.embedding %table[%tokens] : tensor<4096x256xf32>, tensor<?xi32> -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins LowBit_Float2D:$table, LowBit_Index1D:$tokens);
  let results = (outs LowBit_Float2D:$result);
  let assemblyFormat = [{
    $table `[` $tokens `]` attr-dict `:` type($table) `,` type($tokens) `->` type($result)
  }];
  let hasVerifier = 1;
}

def LowBit_RMSNormOp : LowBit_Op<"rms_norm",
    [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "Root-mean-square layer normalization";
  let description = [{
    `result[t, c] = input[t, c] / sqrt(mean_c(input[t, :]^2) + epsilon) * weight[c]`.

    With `output_permutation` P the result comes out with its channels
    reordered: `result[t, i] = input[t, P[i]] / rms(input[t, :]) * weight[i]`,
    the weight given in output order. The mean does not depend on channel
    order, so this is `permute_channels(rms_norm(input, w), P)` with `w`
    permuted likewise, at no cost: it is how FMPQ's channel permutation
    folds into the norm that produces a linear layer's input.

    ```mlir
    %n = lowbit.rms_norm %x, %w {epsilon = 1.0e-05 : f32} : tensor<?x256xf32>, tensor<256xf32>
    ```
  }];
  let arguments = (ins LowBit_Float2D:$input, LowBit_Float1D:$weight,
                   DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon,
                   OptionalAttr<DenseI64ArrayAttr>:$output_permutation);
  let results = (outs LowBit_Float2D:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight)
  }];
  let hasVerifier = 1;
}

def LowBit_LinearOp : LowBit_Op<"linear", [Pure]> {
  let summary = "Floating-point linear layer: input times weight transposed";
  let description = [{
    `result[t, n] = sum_k input[t, k] * weight[n, k]`, the layout of Llama's
    q/k/v/o, gate/up/down and output projections ([out, in] weights).

    ```mlir
    %y = lowbit.linear %x, %w : tensor<?x256xf32>, tensor<512x256xf32> -> tensor<?x512xf32>
    ```
  }];
  let arguments = (ins LowBit_Float2D:$input, LowBit_Float2D:$weight);
  let results = (outs LowBit_Float2D:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
}

def LowBit_RotaryOp : LowBit_Op<"rotary",
    [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "Rotary position embedding of every head of a projection";
  let description = [{
    `input` holds heads of `head_dim` channels side by side. Within a head,
    the pair of channels (2i, 2i+1) of the row at position p is rotated by the
    angle `p * theta^(-2i / head_dim) / factors[i]` (the pairing of Meta's
    Llama and of GGUF's `llama` architecture). The optional frequency
    factors (head_dim / 2 of them, 1 when absent) carry Llama-3 style RoPE
    scaling, as GGUF's `rope_freqs.weight` does.

    ```mlir
    %r = lowbit.rotary %q, %pos {head_dim = 32 : i64, theta = 1.0e+04 : f32} : tensor<?x256xf32>, tensor<?xi32>
    %s = lowbit.rotary %q, %pos factors(%f : tensor<16xf32>) {head_dim = 32 : i64} : tensor<?x256xf32>, tensor<?xi32>
    ```
  }];
  let arguments = (ins LowBit_Float2D:$input, LowBit_Index1D:$positions,
                   Optional<LowBit_Float1D>:$frequency_factors,
                   I64Attr:$head_dim,
                   DefaultValuedAttr<F32Attr, "10000.0">:$theta);
  let results = (outs LowBit_Float2D:$result);
  let assemblyFormat = [{
    $input `,` $positions
    (`factors` `(` $frequency_factors^ `:` type($frequency_factors) `)`)?
    attr-dict `:` type($input) `,` type($positions)
  }];
  let hasVerifier = 1;
}

def LowBit_SwiGLUOp : LowBit_Op<"swiglu", [Pure, SameOperandsAndResultType]> {
  let summary = "SwiGLU gate: silu(gate) * up";
  let description = [{
    ```mlir
    %a = lowbit.swiglu %gate, %up : tensor<?x704xf32>
    ```
  }];
  let arguments = (ins LowBit_Float2D:$gate, LowBit_Float2D:$up);
  let results = (outs LowBit_Float2D:$result);
  let assemblyFormat = "$gate `,` $up attr-dict `:` type($result)";
}

def LowBit_AttentionOp : LowBit_Op<"attention",
    [Pure, AllTypesMatch<["query", "result"]>]> {
  let summary = "Scaled dot-product attention with grouped-query heads";
  let description = [{
    `query` holds `num_heads` heads side by side, `keys` and `values` hold
    `num_kv_heads` heads of the same dimension; query head h reads KV head
    `h / (num_heads / num_kv_heads)`. With `causal`, query row t attends to
    key rows 0..t + (keys rows - query rows).

    ```mlir
    %o = lowbit.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 4 : i64, causal}
        : tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>
    ```
  }];
  let arguments = (ins LowBit_Float2D:$query, LowBit_Float2D:$keys,
                   LowBit_Float2D:$values, I64Attr:$num_heads,
                   I64Attr:$num_kv_heads, UnitAttr:$causal);
  let results = (outs LowBit_Float2D:$result);
  let assemblyFormat = [{
    $query `,` $keys `,` $values attr-dict `:` type($query) `,` type($keys) `,` type($values)
  }];
  let hasVerifier = 1;
}

def LowBit_WeightOp : LowBit_Op<"weight", [Pure]> {
  let summary = "A named weight tensor of the model's checkpoint";
  let description = [{
    Refers to the tensor `name` (GGUF naming, e.g. `blk.0.attn_q.weight`) of
    the checkpoint that the enclosing module's `lowbit.checkpoint` attribute
    names, so that weights stay in the checkpoint file instead of the IR.
    Whoever executes or compiles the module reads the tensor from there and
    converts it to the result type.

    ```mlir
    %wq = lowbit.weight "blk.0.attn_q.weight" : tensor<256x256xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name);
  let results = (outs RankedTensorOf<[F16, BF16, F32]>:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// KV cache
//===----------------------------------------------------------------------===//

def LowBit_KVAppendOp : LowBit_Op<"kv_append",
    [Pure, AllTypesMatch<["cache", "result"]>]> {
  let summary = "Writes the keys and values of new positions into a KV cache";
  let description = [{
    Stores row t of `keys` and `values` at cache position `position + t`,
    quantized to the cache's bit width, and yields the updated cache.

    ```mlir
    %c1 = lowbit.kv_append %k, %v into %c0 at %pos
        : tensor<?x128xf32>, tensor<?x128xf32> -> !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>
    ```
  }];
  let arguments = (ins LowBit_Float2D:$keys, LowBit_Float2D:$values,
                   LowBit_KVCacheType:$cache, Index:$position);
  let results = (outs LowBit_KVCacheType:$result);
  let assemblyFormat = [{
    $keys `,` $values `into` $cache `at` $position attr-dict `:` type($keys) `,` type($values) `->` qualified(type($cache))
  }];
  let hasVerifier = 1;
}

def LowBit_KVAttentionOp : LowBit_Op<"kv_attention",
    [Pure, AllTypesMatch<["query", "result"]>]> {
  let summary = "Causal grouped-query attention over a KV cache";
  let description = [{
    Query row t sits at position `position + t` and attends to cache positions
    0 through `position + t`, reading the cache at its stored bit width.

    ```mlir
    %o = lowbit.kv_attention %q, %c1 at %pos {num_heads = 8 : i64}
        : tensor<?x256xf32>, !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 32, max_len = 256>
    ```
  }];
  let arguments = (ins LowBit_Float2D:$query, LowBit_KVCacheType:$cache,
                   Index:$position, I64Attr:$num_heads);
  let results = (outs LowBit_Float2D:$result);
  let assemblyFormat = [{
    $query `,` $cache `at` $position attr-dict `:` type($query) `,` qualified(type($cache))
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

def LowBit_QuantizeOp : LowBit_Op<"quantize", [Pure]> {
  let summary = "Quantizes a tensor into mixed-precision blocks";
  let description = [{
    Computes the scales of the result's layout from the data (dynamically for
    activations, once at compile time for constant weights), applies the
    layout's channel permutation and rounds every block to its bit width.
    Scales are symmetric absolute-maximum scales: the largest magnitude of a
    scale group maps to the largest code (7 for 4 bits, 127 for 8 bits).
    Hence quantizing the result of a `lowbit.dequantize` into the same type
    gives back its operand, and folds to it.

    With `clip_search` (for weights, quantized at compile time) each scale
    group instead takes the scale `r * absmax / largest code` whose rounding
    error is smallest, r searched over 1, 0.975, ..., 0.5 (the first of
    equal errors wins); the error of a value of input channel c is weighted
    by `channel_importance[c]` when given (the calibrated mean square of the
    activation that multiplies it), else by 1.

    ```mlir
    %q = lowbit.quantize %x : tensor<?x512xf16> -> !lowbit.qtensor<?x512, f16, #lowbit.blocks<128, [8, 4, 4, 4], per_token>>
    %w = lowbit.quantize %v {clip_search, channel_importance = array<f32: 1.0, 9.0>}
        : tensor<4x2xf32> -> !lowbit.qtensor<4x2, f16, #lowbit.blocks<2, [4], per_channel>>
    ```
  }];
  let arguments = (ins LowBit_Float2D:$input, UnitAttr:$clip_search,
                   OptionalAttr<DenseF32ArrayAttr>:$channel_importance);
  let results = (outs LowBit_QuantizedTensorType:$result);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` qualified(type($result))
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def LowBit_DequantizeOp : LowBit_Op<"dequantize", [Pure]> {
  let summary = "Restores floating point from mixed-precision blocks";
  let description = [{
    Multiplies every stored value by its scale and undoes the layout's channel
    permutation, so channels come back in their original order.

    ```mlir
    %x = lowbit.dequantize %q : !lowbit.qtensor<?x512, f16, #lowbit.blocks<128, [8, 4, 4, 4], per_token>> -> tensor<?x512xf16>
    ```
  }];
  let arguments = (ins LowBit_QuantizedTensorType:$input);
  let results = (outs LowBit_Float2D:$result);
  let assemblyFormat = [{
    $input attr-dict `:` qualified(type($input)) `->` type($result)
  }];
  let hasVerifier = 1;
}

def LowBit_PermuteChannelsOp : LowBit_Op<"permute_channels",
    [Pure, SameOperandsAndResultType]> {
  let summary = "Reorders one axis of a tensor (by default the channel axis)";
  let description = [{
    `result[..., i] = input[..., permutation[i]]` along `axis`, the innermost
    axis unless `along` names another: for a [out, in] weight, `along 0`
    reorders its output channels (rows). The inverse permutation is another
    `permute_channels`; a permutation followed by its inverse along the same
    axis folds away, and consecutive permutations compose into one.

    ```mlir
    %p = lowbit.permute_channels %x [3, 0, 1, 2] : tensor<?x4xf32>
    %r = lowbit.permute_channels %w [1, 0] along 0 : tensor<2x4xf32>
    %n = lowbit.permute_channels %g [2, 0, 1] : tensor<3xf32>
    ```
  }];
  let arguments = (ins TensorRankOf<[F16, BF16, F32], [1, 2]>:$input,
                   DenseI64ArrayAttr:$permutation,
                   OptionalAttr<I64Attr>:$axis);
  let results = (outs TensorRankOf<[F16, BF16, F32], [1, 2]>:$result);
  let assemblyFormat = [{
    $input $permutation (`along` $axis^)? attr-dict `:` type($result)
  }];
  let extraClassDeclaration = [{
    /// The axis that is reordered: `axis` when given, else the innermost.
    int64_t getPermutedAxis() {
      return getAxis() ? static_cast<int64_t>(*getAxis())
                       : getInput().getType().getRank() - 1;
    }
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def LowBit_MatmulOp : LowBit_Op<"matmul", [Pure]> {
  let summary = "Mixed-precision matmul of quantized activations and weights";
  let description = [{
    `result[t, n] = sum_k act[t, k] * weight[n, k]` where both operands are
    stored in blocks of the same size and channel permutation. Each block pair
    (INT4 or INT8 activations times INT4 or INT8 weights) accumulates in INT32;
    the epilogue multiplies by the activation and weight scales and converts
    to the result type (f16 or f32).

    ```mlir
    %y = lowbit.matmul %a, %w
        : !lowbit.qtensor<?x512, f16, #lowbit.blocks<128, [8, 4, 4, 4], per_token>>,
          !lowbit.qtensor<1024x512, f16, #lowbit.blocks<128, [4, 4, 4, 4], per_channel>>
          -> tensor<?x1024xf16>
    ```
  }];
  let arguments = (ins LowBit_QuantizedTensorType:$act,
                   LowBit_QuantizedTensorType:$weight);
  let results = (outs TensorRankOf<[F16, F32], [2]>:$result);
  let assemblyFormat = [{
    $act `,` $weight attr-dict `:` qualified(type($act)) `,` qualified(type($weight))
    `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Tensor-parallel collectives
//===----------------------------------------------------------------------===//

def LowBit_RankGroupOp : LowBit_Op<"rank_group",
    [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "A named group of ranks that collectives run over";
  let description = [{
    ```mlir
    lowbit.rank_group @tp [0, 1, 2, 3]
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, DenseI64ArrayAttr:$ranks);
  let assemblyFormat = "$sym_name $ranks attr-dict";
  let hasVerifier = 1;
}

def LowBit_ShardOp : LowBit_Op<"shard",
    [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "This rank's slice of a tensor every rank holds whole";
  let description = [{
    On the rank at position `i` of the group's rank list, the result is the
    `i`-th of `n` equal slices of the input along `axis`, `n` being the
    group's size. No data moves between ranks: this is how a
    tensor-parallel module takes a rank's part of a replicated weight
    (column-parallel layers slice rows, axis 0; row-parallel layers slice
    input channels, axis 1).

    With `replicas R`, the input is cut into n / R slices and R consecutive
    ranks hold the same one (rank i takes slice i / R): how KV heads are
    shared when there are fewer of them than ranks.

    ```mlir
    lowbit.rank_group @tp [0, 1]
    %q = lowbit.shard %w over @tp along 0 : tensor<256x256xf32> -> tensor<128x256xf32>
    %k = lowbit.shard %wk over @tp along 0 replicas 2 : tensor<32x256xf32> -> tensor<32x256xf32>
    ```
  }];
  let arguments = (ins TensorRankOf<[F16, BF16, F32], [1, 2]>:$input,
                   FlatSymbolRefAttr:$group, I64Attr:$axis,
                   OptionalAttr<I64Attr>:$replicas);
  let results = (outs TensorRankOf<[F16, BF16, F32], [1, 2]>:$result);
  let assemblyFormat = [{
    $input `over` $group `along` $axis (`replicas` $replicas^)? attr-dict `:` type($input) `->` type($result)
  }];
  let extraClassDeclaration = [{
    /// Ranks that hold each slice: `replicas`, or 1.
    int64_t getReplicaCount() { return getReplicas() ? *getReplicas() : 1; }
  }];
  let hasVerifier = 1;
}

/// Common shape of the collectives: an input, a rank group and an optional
/// compressed wire format.
class LowBit_CollectiveOp<string mnemonic, list<Trait> traits = []>
    : LowBit_Op<mnemonic, !listconcat(traits,
        [DeclareOpInterfaceMethods<SymbolUserOpInterface>])> {
  let results = (outs LowBit_Float2D:$result);
  let hasVerifier = 1;
}

def LowBit_AllReduceOp : LowBit_CollectiveOp<"all_reduce",
    [AllTypesMatch<["input", "result"]>]> {
  let summary = "Sums a tensor over a rank group";
  let description = [{
    With a wire format, every rank block-quantizes its partial result before
    it leaves the device and the sum is taken over dequantized data.

    ```mlir
    %s = lowbit.all_reduce %x over @tp wire <fp4_e2m1, block = 16, scale = f16> : tensor<?x256xf32>
    ```
  }];
  let arguments = (ins LowBit_Float2D:$input, FlatSymbolRefAttr:$group,
                   OptionalAttr<LowBit_WireFormatAttr>:$wire);
  let assemblyFormat = [{
    $input `over` $group (`wire` $wire^)? attr-dict `:` type($input)
  }];
}

def LowBit_AllGatherOp : LowBit_CollectiveOp<"all_gather"> {
  let summary = "Concatenates every rank's tensor along an axis";
  let description = [{
    ```mlir
    %g = lowbit.all_gather %x over @tp along 1 wire <int4, block = 32, scale = f16>
        : tensor<?x128xf32> -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins LowBit_Float2D:$input, FlatSymbolRefAttr:$group,
                   I64Attr:$axis, OptionalAttr<LowBit_WireFormatAttr>:$wire);
  let assemblyFormat = [{
    $input `over` $group `along` $axis (`wire` $wire^)? attr-dict `:` type($input) `->` type($result)
  }];
}

def LowBit_ReduceScatterOp : LowBit_CollectiveOp<"reduce_scatter"> {
  let summary = "Sums over a rank group and leaves each rank one slice";
  let description = [{
    ```mlir
    %r = lowbit.reduce_scatter %x over @tp along 1 : tensor<?x256xf32> -> tensor<?x128xf32>
    ```
  }];
  let arguments = (ins LowBit_Float2D:$input, FlatSymbolRefAttr:$group,
                   I64Attr:$axis, OptionalAttr<LowBit_WireFormatAttr>:$wire);
  let assemblyFormat = [{
    $input `over` $group `along` $axis (`wire` $wire^)? attr-dict `:` type($input) `->` type($result)
  }];
}

#endif // LOWBIT_DIALECT_LOWBIT_IR_LOWBITOPS_TD
