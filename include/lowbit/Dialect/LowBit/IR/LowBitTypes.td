//===- LowBitTypes.td - lowbit types -----------------------*- tablegen -*-===//
//
// Types for values whose storage is not a plain tensor: a block-quantized
// tensor with its scales, and a layer's KV cache in 4, 8 or 16 bits.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_LOWBIT_IR_LOWBITTYPES_TD
#define LOWBIT_DIALECT_LOWBIT_IR_LOWBITTYPES_TD

include "lowbit/Dialect/LowBit/IR/LowBitAttrs.td"

def LowBit_QuantizedTensorType : LowBit_Type<"QuantizedTensor", "qtensor"> {
  let summary = "A [rows, channels] tensor stored in mixed-precision blocks";
  let description = [{
    A two-dimensional tensor whose channel axis is stored as described by a
    `#lowbit.blocks` layout, together with its scales of type `scaleType`.
    Rows may be dynamic (`?`: the number of tokens); channels are static.

    Example: `!lowbit.qtensor<?x512, f16, #lowbit.blocks<128, [8, 4, 4, 4], per_token>>`
  }];
  let parameters = (ins
    ArrayRefParameter<"int64_t", "shape">:$shape,
    "::mlir::FloatType":$scaleType,
    "::lowbit::BlockLayoutAttr":$layout
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Number of rows, or ShapedType::kDynamic.
    int64_t getNumRows() const { return getShape()[0]; }
    /// Number of channels (the reduction axis).
    int64_t getNumChannels() const { return getShape()[1]; }
  }];
}

def LowBit_KVCacheType : LowBit_Type<"KVCache", "kv_cache"> {
  let summary = "Key/value cache of one attention layer";
  let description = [{
    Keys and values of `heads` KV heads of dimension `head_dim` for up to
    `max_len` positions, stored in `bits` bits: 4 or 8 (integers; every
    `group` consecutive elements of a head vector share one scale), 16 (f16)
    or 32 (f32, the unquantized form the importer emits). An `asymmetric`
    4- or 8-bit cache also gives every group a zero point: unsigned codes q
    stand for scale * (q - zero), the group's range [min(x, 0), max(x, 0)]
    spread over all 2^bits codes.

    Example: `!lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 64, max_len = 2048>`
  }];
  let parameters = (ins
    "int64_t":$bits,
    "int64_t":$groupSize,
    "int64_t":$numHeads,
    "int64_t":$headDim,
    "int64_t":$maxLength,
    DefaultValuedParameter<"bool", "false">:$asymmetric
  );
  let assemblyFormat = [{
    `<` `bits` `=` $bits `,` `group` `=` $groupSize `,` `heads` `=` $numHeads
    `,` `head_dim` `=` $headDim `,` `max_len` `=` $maxLength
    (`,` `asymmetric` `=` $asymmetric^)? `>`
  }];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Channels of one position's keys (or values): heads times head_dim.
    int64_t getChannels() const { return getNumHeads() * getHeadDim(); }
  }];
}

#endif // LOWBIT_DIALECT_LOWBIT_IR_LOWBITTYPES_TD
