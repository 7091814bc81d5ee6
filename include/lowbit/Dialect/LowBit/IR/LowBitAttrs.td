//===- LowBitAttrs.td - lowbit attributes ------------------*- tablegen -*-===//
//
// Attributes that carry quantization decisions: the mixed-precision block
// layout of a channel axis (FMPQ) and the wire format of a compressed
// collective. Upstream `!quant.uniform` cannot mix 4- and 8-bit blocks in one
// tensor, carry a channel permutation or hold dynamic scales; these can.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_LOWBIT_IR_LOWBITATTRS_TD
#define LOWBIT_DIALECT_LOWBIT_IR_LOWBITATTRS_TD

include "lowbit/Dialect/LowBit/IR/LowBitDialect.td"
include "lowbit/Dialect/LowBit/IR/LowBitEnums.td"

def LowBit_BlockLayoutAttr : LowBit_Attr<"BlockLayout", "blocks"> {
  let summary = "Mixed-precision block layout of a channel axis";
  let description = [{
    Describes how the channel (reduction) axis of a quantized tensor is stored:
    cut into consecutive blocks of `blockSize` channels, block `i` stored with
    `blockBits[i]` bits (4 or 8) per element. When `perm` is present the blocks
    apply to the permuted channel order: stored channel `i` is original channel
    `perm[i]`; FMPQ uses this to gather outlier channels into the 8-bit blocks.

    The scale granularity says where scales live for a [rows, channels] tensor:
    `per_token` (activations: one scale per row and block, computed at run
    time), `per_channel` (weights: one scale per output channel, i.e. row, and
    block) or `per_group = G` (one scale per row for every G consecutive stored
    channels; G divides the block size).

    `asymmetric` stores stored weights (per_channel or per_group scales, 4-bit
    blocks) with a zero point per scale group: unsigned codes q in [0, 15]
    stand for scale * (q - zero), the range [min(x, 0), max(x, 0)] of the
    group spread over all 16 codes. Symmetric layouts use signed codes in
    [-7, 7] (or [-127, 127]) and no zero point.

    Example:

    ```mlir
    #lowbit.blocks<128, [8, 4, 4, 4], per_token>
    #lowbit.blocks<128, [4, 4], per_group = 64>
    #lowbit.blocks<128, [4, 4], per_group = 64, asymmetric>
    #lowbit.blocks<4, [8, 4], per_token, perm = [5, 1, 0, 2, 3, 4, 6, 7]>
    ```
  }];
  let parameters = (ins
    "int64_t":$blockSize,
    ArrayRefParameter<"int64_t", "storage bits of each block">:$blockBits,
    EnumParameter<LowBit_ScaleGranularity>:$granularity,
    "int64_t":$groupSize,
    OptionalArrayRefParameter<"int64_t", "channel permutation">:$permutation,
    "bool":$asymmetric
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Number of blocks along the channel axis.
    int64_t getNumBlocks() const { return getBlockBits().size(); }
    /// Number of channels the layout covers.
    int64_t getNumChannels() const { return getNumBlocks() * getBlockSize(); }
    /// Number of blocks stored in 8 bits.
    int64_t getNumInt8Blocks() const;
    /// Number of consecutive stored channels that share one scale.
    int64_t getScaleGroupChannels() const;
    /// Number of scales each row carries.
    int64_t getScalesPerRow() const {
      return getNumChannels() / getScaleGroupChannels();
    }
    /// Bytes one row occupies in packed storage, scales not included.
    int64_t getPackedRowBytes() const;
    /// Bytes of one row's zero points (4 bits per scale group, two per
    /// byte); 0 for symmetric layouts.
    int64_t getZeroPointRowBytes() const;
  }];
}

def LowBit_WireFormatAttr : LowBit_Attr<"WireFormat", "wire"> {
  let summary = "Block-quantized wire format of a compressed collective";
  let description = [{
    Data sent by a compressed collective is cut into blocks of `block`
    consecutive elements along the innermost axis; every block is quantized
    to `element` (FP4 e2m1, FP5 e2m2 or e3m1, INT4, INT8) with one scale of
    type `scale` (f16, bf16, f32 or the power-of-two f8E8M0FNU).

    Example: `#lowbit.wire<fp4_e2m1, block = 16, scale = f16>`
  }];
  let parameters = (ins
    EnumParameter<LowBit_WireElement>:$element,
    "int64_t":$blockSize,
    "::mlir::Type":$scaleType
  );
  let assemblyFormat = [{
    `<` $element `,` `block` `=` $blockSize `,` `scale` `=` $scaleType `>`
  }];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The runtime's description of this format, which defines its numbers
    /// and bytes (lowbit/Runtime/WireFormat.h).
    ::lowbit::runtime::WireFormat getRuntimeFormat() const;
    /// Bits of one quantized element on the wire.
    int64_t getElementBits() const;
    /// Bits one block occupies on the wire, its scale included.
    int64_t getBlockBits() const;
  }];
}

def LowBit_ChannelStatisticsAttr
    : LowBit_Attr<"ChannelStatistics", "channel_stats"> {
  let summary = "Calibration statistics of a linear layer's input channels";
  let description = [{
    What `lowbit-run calibrate` measured at the input of one linear layer
    over `tokens` calibration tokens, one entry per input channel: the
    largest magnitude, the magnitude at the file's percentile, and the mean
    square. `lowbit-import-calibration` attaches it to a `lowbit.linear` as
    `lowbit.calibration`; FMPQ finds outlier channels in it and weight
    quantization weighs rounding errors by the mean square.

    Example:

    ```mlir
    #lowbit.channel_stats<tokens = 4096, absmax = [1.5, 30.0],
        percentile = [1.0, 24.0], mean_square = [0.2, 90.0]>
    ```
  }];
  let parameters = (ins
    "int64_t":$tokens,
    "::mlir::DenseF32ArrayAttr":$absMax,
    "::mlir::DenseF32ArrayAttr":$percentile,
    "::mlir::DenseF32ArrayAttr":$meanSquare
  );
  let assemblyFormat = [{
    `<` `tokens` `=` $tokens `,` `absmax` `=` $absMax `,`
    `percentile` `=` $percentile `,` `mean_square` `=` $meanSquare `>`
  }];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Number of input channels described.
    int64_t getNumChannels() const { return getAbsMax().size(); }
  }];
}

#endif // LOWBIT_DIALECT_LOWBIT_IR_LOWBITATTRS_TD
