//===- CPUKernels.h - the CPU kernels of the lowbit graph ops ---*- C++ -*-===//
//
// lowbit-convert-to-cpu calls one generated kernel per graph op. Each kernel
// is a private func.func over memrefs, built from scf loops, arith, math and
// vector ops, and specialised to the op's static shape, bit widths and
// permutation. Kernels follow QuantizedArithmetic.h and the reference
// executor operation for operation, including the order of every
// floating-point sum, so the compiled model computes the reference
// executor's numbers; vector lanes only ever hold independent sums.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_LIB_CONVERSION_LOWBITTOCPU_CPUKERNELS_H
#define LOWBIT_LIB_CONVERSION_LOWBITTOCPU_CPUKERNELS_H

#include "lowbit/Dialect/LowBit/IR/LowBitDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <functional>
#include <optional>

namespace lowbit {
namespace cpu {
class Emitter;
} // namespace cpu

/// Bytes one row of a `bits`-bit KV cache of `channels` channels takes in
/// its code or value region (4: packed nibbles, 8: bytes, 16: f16, 32: f32).
int64_t getKVRowBytes(int64_t bits, int64_t channels);

/// The instructions the quantized matmul kernels compute dot products with.
enum class CPUMatmulISA {
  /// Vector dialect ops that every target lowers (AVX2 on x86-64-v3).
  Generic,
  /// AArch64 NEON `sdot` (FEAT_DotProd) for every tile of tokens.
  NeonDot,
  /// AArch64 NEON `smmla` (FEAT_I8MM) for pairs of token rows and for a
  /// lone row (decode).
  NeonMatrix,
  /// The generic kernel with x86 AVX-512 VNNI `vpdpwssd` (INT16 pairs) for
  /// the products and sums.
  X86VNNI,
  /// lowbit's NVIDIA GPU matmul kernels (decode and tensor-core) for every
  /// matmul that fitsGPUMatmul, on weights in the interleaved form; the
  /// generic kernel for the others. For lowbit-offload-kernels-to-gpu.
  NVGPU,
};

/// The ISA named "generic", "neon-dotprod", "neon-i8mm", "x86-avx512vnni"
/// or "nvgpu".
std::optional<CPUMatmulISA> parseCPUMatmulISA(llvm::StringRef name);

/// Whether `isa` is one of the AArch64 NEON ISAs.
inline bool isNeon(CPUMatmulISA isa) {
  return isa == CPUMatmulISA::NeonDot || isa == CPUMatmulISA::NeonMatrix;
}

/// Whether the NEON matmul kernels take operands of `layout`: blocks and
/// scale groups of multiples of 32 channels.
bool fitsNeonMatmul(BlockLayoutAttr layout);

/// Whether lowbit's GPU matmul kernels take a matmul of `act` and `weight`
/// into `resultType`: INT4 weights, input channels and both scale groups in
/// multiples of 32, and an f32 result.
bool fitsGPUMatmul(QuantizedTensorType act, QuantizedTensorType weight,
                   mlir::FloatType resultType);

/// Whether lowbit's GPU prefill attention kernel takes causal attention of
/// heads of `headDim` channels over a cache of `type`: 4- or 8-bit codes,
/// heads of a multiple of 8 channels up to 128, and scale groups of a
/// multiple of 8 channels that divide the heads.
bool fitsGPUPrefillAttention(KVCacheType type, int64_t headDim);

/// Whether lowbit's tiled GPU linear kernel (LinearKernel) takes an f32
/// linear of `inChannels` to `outChannels`: outputs a multiple of 128,
/// inputs of 16.
bool fitsGPULinear(int64_t inChannels, int64_t outChannels);

/// Rows per tile of stored weights for the matmul of `isa`: 1 for Generic
/// and X86VNNI (packed rows, docs/quantization.md), 4 for NeonDot and 2 for
/// NeonMatrix.
///
/// The NEON layouts store weights in tiles of T rows (zero rows pad the
/// last). Every 32-channel chunk of a tile holds 2T sub-tiles S_0..S_{2T-1}
/// of 16 codes: S_j is channels j*W..j*W+W-1 (W = 16/T) of the first row,
/// then of the second, and so on. 8-bit blocks store S_j as 16 bytes at
/// 16j; 4-bit blocks store S_2i and S_2i+1 as the low and high nibbles of
/// the 16 bytes at 16i. One load and one shift or mask give an `sdot` or
/// `smmla` operand (4-bit sub-tiles come out as 16 x code, exactly): for
/// T = 4 a 4x4 sub-tile is dotted with 4 activation codes by indexed `sdot`,
/// for T = 2 a 2x8 sub-tile is a `smmla` operand. Scales are stored per tile
/// and group, the T rows' scales side by side (0 for padding rows).
int64_t getWeightTileRows(CPUMatmulISA isa);

/// The stored form of quantized weights for `isa`: "packed",
/// "packed-row-quads" or "packed-row-pairs".
llvm::StringRef getWeightForm(CPUMatmulISA isa);

/// A rotary embedding: pairs (2i, 2i+1) of each head of `headDim` channels
/// turn by the angle position / (theta^(2i / headDim) x factors[i]), the
/// factors (headDim / 2 f32) only when `hasFactors`.
struct RotaryEmbedding {
  int64_t headDim;
  float theta;
  bool hasFactors;
};

/// How the rows of a step relate to the sequences whose KV caches it uses.
enum class KVRows {
  /// All rows are one sequence's: row t sits at position start + t of the
  /// one cache (prefill, and decode of one sequence).
  OneSequence,
  /// Row t is the next token of sequence t (batched decode): sequence t's
  /// cache lies t x `sequenceStride` bytes after the first one, and the row
  /// sits at position positions[t] of it.
  PerSequence,
};

/// Creates the kernels of a module on demand, one per distinct
/// specialisation, at the end of the module.
class CPUKernelBuilder {
public:
  CPUKernelBuilder(mlir::ModuleOp module, CPUMatmulISA isa)
      : module(module), isa(isa) {}

  /// The ISA of the matmul kernels.
  CPUMatmulISA getISA() const { return isa; }

  /// out[t, :] = table[tokens[t], :].
  /// (table: VxD f32, tokens: ?xi32, out: ?xD f32)
  mlir::func::FuncOp getEmbedding(int64_t vocab, int64_t dim);

  /// RMSNorm with an optional output permutation.
  /// (input: ?xC f32, weight: C f32, out: ?xC f32)
  mlir::func::FuncOp getRMSNorm(int64_t channels, float epsilon,
                                llvm::ArrayRef<int64_t> permutation);

  /// out[:, i] = input[:, permutation[i]]. (input, out: ?xC f32)
  mlir::func::FuncOp getPermute(int64_t channels,
                                llvm::ArrayRef<int64_t> permutation);

  /// out = input x weight^T with the weight stored transposed (KxN), each
  /// output summed over k in order like the reference executor.
  /// (input: ?xK f32, weightT: KxN f32, out: ?xN f32)
  mlir::func::FuncOp getLinear(int64_t inChannels, int64_t outChannels);

  /// Quantizes activation rows as `type` says: permuted channels, one
  /// absmax scale per group rounded to the scale type, codes as bytes. For
  /// `smmla` token rows 2i and 2i+1 are interleaved: codes in chunks of 8
  /// channels, scales one by one (a lone last row stays as it is).
  /// (input: ?xC f32, codes: ?xC i8, scales: ?xG f32)
  mlir::func::FuncOp getQuantize(QuantizedTensorType type);

  /// getQuantize of getRMSNorm's output, with no normalised row stored: up
  /// to 16 token rows, one launch in which every (token, group) recomputes
  /// its row's inverse RMS; more rows first store each row's inverse RMS in
  /// `inverseRms`. With `residualSum` the norm's input is the sum lhs + rhs,
  /// which the kernel stores too (a residual connection that later ops
  /// read).
  /// (input: ?xC f32, or lhs, rhs: ?xC f32; weight: C f32; with
  ///  `residualSum` sum: ?xC f32; codes: ?xC i8, scales: ?xG f32,
  ///  inverseRms: ? f32)
  mlir::func::FuncOp getRMSNormQuantize(QuantizedTensorType type, float epsilon,
                                        llvm::ArrayRef<int64_t> normPermutation,
                                        bool residualSum);

  /// getQuantize of getSwiGLU's output, in one kernel.
  /// (gate, up: ?xC f32, codes: ?xC i8, scales: ?xG f32)
  mlir::func::FuncOp getSwiGLUQuantize(QuantizedTensorType type);

  /// The mixed-precision matmul of quantized activations (byte codes) and
  /// packed weights: INT32 sums per scale segment, scaled in f32.
  /// (actCodes: ?xK i8, actScales: ?xGa f32, weightCodes: ceil(N/T) x TR i8
  ///  and weightScales: ceil(N/T) x TGw f32 for T = getWeightTileRows and R
  ///  packed bytes per row, out: ?xN f32)
  /// With `prescaled`, the scales of 4-bit weight groups are stored divided
  /// by 16 (NEON kernels only).
  mlir::func::FuncOp getMatmul(QuantizedTensorType act,
                               QuantizedTensorType weight,
                               mlir::FloatType resultType, bool prescaled);

  /// A declaration marked kGPUMatmulAttrName for matmuls of the same
  /// activations `act` by `weights` (one or more, of one weight scale group,
  /// each fitting fitsGPUMatmul with an f32 result), stored in
  /// kGPUInterleavedWeightForm: lowbit-define-gpu-matmuls gives it a body
  /// that launches lowbit's GPU matmul kernels for all of them at once.
  /// (act codes, act scales, then for each weight: its codes, its scales,
  ///  its f32 result [tokens, N])
  mlir::func::FuncOp getGPUMatmul(QuantizedTensorType act,
                                  llvm::ArrayRef<QuantizedTensorType> weights);

  /// A declaration of a compressed all-reduce over `ranks` ranks in `wire`
  /// format, marked kGPUWireAllReduceAttrName, which
  /// lowbit-define-gpu-wire-all-reduces defines with GPU kernels and an
  /// all-gather of the messages.
  /// (partial results: tokens x C f32 as bytes, workspace: bytes of
  ///  ranks + 1 messages, sum: tokens x C f32 as bytes)
  mlir::func::FuncOp getGPUWireAllReduce(WireFormatAttr wire, int64_t ranks);
  /// out[t, r * C + c] = gathered[r * tokens + t, c]: every rank's rows,
  /// gathered one rank after another, side by side along the channels.
  /// (gathered: (ranks x tokens) x C f32, out: tokens x (ranks x C) f32)
  mlir::func::FuncOp getInterleaveRanks(int64_t ranks, int64_t channels);
  /// Rotary embedding of channel pairs per head, in place into `out`.
  /// (input: ?xC f32, positions: ?xi32, out: ?xC f32, factors: H/2 f32 when
  /// `hasFactors`)
  mlir::func::FuncOp getRotary(int64_t channels, int64_t headDim, float theta,
                               bool hasFactors);

  /// out = gate * sigmoid(gate) * up. (gate, up, out: ?xC f32)
  mlir::func::FuncOp getSwiGLU(int64_t channels);

  /// out = lhs + rhs. (lhs, rhs, out: ?xC f32)
  mlir::func::FuncOp getAdd(int64_t channels);

  /// Stores key and value rows at positions start.. of a KV cache, rounded
  /// the way `type` stores them.
  /// (keys, values: ?xC f32, keyData, valueData: LxR i8, keyScales,
  ///  valueScales: LxS f32, start: index)
  ///
  /// With `keyRotary` (4- and 8-bit caches of even groups; GPU models) the
  /// kernel first turns the keys by that rotary embedding, one launch
  /// instead of a rotary kernel before it, and with `queryChannels` (a
  /// multiple of C; 0: none) it also stores the query rows turned alike,
  /// for the attention after it.
  /// (..., start: index, positions: ?xi32, factors: H/2 f32 when
  ///  keyRotary->hasFactors, then with queryChannels query, rotatedQuery:
  ///  ?xQ f32)
  ///
  /// With `rows` KVRows::PerSequence the kernel takes the sequence stride
  /// in place of start and always takes the positions.
  mlir::func::FuncOp
  getKVAppend(KVCacheType type,
              std::optional<RotaryEmbedding> keyRotary = std::nullopt,
              int64_t queryChannels = 0, KVRows rows = KVRows::OneSequence);

  /// Causal grouped-query attention of query rows at positions start..
  /// over the cache.
  /// (query: ?xQ f32, keyData, valueData: LxR i8, keyScales, valueScales:
  ///  LxS f32, start: index, out: ?xQ f32, and, when
  ///  getDecodeAttentionWorkspaceBytes is not 0, workspace: bytes)
  ///
  /// With `rows` KVRows::PerSequence, each row attends to its own
  /// sequence's cache up to its own position: the kernel takes the sequence
  /// stride in place of start, then the positions (?xi32) last; each
  /// sequence's workspace lies one stride after the one before.
  mlir::func::FuncOp getKVAttention(KVCacheType type, int64_t queryChannels,
                                    int64_t numHeads,
                                    KVRows rows = KVRows::OneSequence);
  /// A declaration marked kGPUPrefillAttentionAttrName of the causal
  /// attention of several query rows over a cache of `type`
  /// (fitsGPUPrefillAttention): lowbit-define-gpu-prefill-attention gives it
  /// a body that launches the tensor-core prefill attention kernel.
  /// getKVAttention's GPU kernel calls it for steps of more than one row.
  /// (query: ?xQ f32, keyData, valueData: bytes, start: index, out: ?xQ f32)
  mlir::func::FuncOp getGPUPrefillAttention(KVCacheType type,
                                            int64_t queryChannels);
  /// A declaration marked kGPULinearAttrName of the f32 linear of
  /// `inChannels` to `outChannels` (fitsGPULinear):
  /// lowbit-define-gpu-linears gives it a body that launches the tiled
  /// linear kernel. getLinear's GPU kernel calls it for steps of more than
  /// 16 rows. (input: ?xK f32, weightT: KxN f32, out: ?xN f32)
  mlir::func::FuncOp getGPULinear(int64_t inChannels, int64_t outChannels);
  /// Bytes of the workspace getKVAttention's kernel takes for the partial
  /// sums of a decode step split over positions (GPU kernels over channel
  /// lanes), or 0 when it takes none.
  int64_t getDecodeAttentionWorkspaceBytes(KVCacheType type,
                                           int64_t queryChannels,
                                           int64_t numHeads) const;

private:
  /// How a quantization kernel reads one token row of what it quantizes.
  struct QuantizedRowReader {
    /// The value to quantize at a channel (after the quantization's
    /// permutation).
    std::function<mlir::Value(cpu::Emitter &, mlir::Value channel)> valueAt;
    /// Optional: stores what else the kernel writes at a channel (not
    /// permuted); called once for every channel of the row.
    std::function<void(cpu::Emitter &, mlir::Value channel)> storeAt;
  };
  /// A quantization kernel lowbit_cpu_<producer>_<layout> whose leading
  /// arguments are `inputTypes`: each (token, group) iteration asks
  /// `readRow` (given those arguments, the token row and the row's
  /// statistic) for the reader of its row, then quantizes as getQuantize
  /// describes. With `rowStatistic` (given the arguments and the token row)
  /// the kernel takes a last argument of one f32 per token for it.
  mlir::func::FuncOp getQuantizeOf(
      llvm::StringRef producer, QuantizedTensorType type,
      mlir::TypeRange inputTypes,
      llvm::function_ref<QuantizedRowReader(cpu::Emitter &, mlir::ValueRange,
                                            mlir::Value, mlir::Value)>
          readRow,
      llvm::function_ref<mlir::Value(cpu::Emitter &, mlir::ValueRange,
                                     mlir::Value)>
          rowStatistic = nullptr);
  /// Whether the attention kernels of heads of `headDim` channels over
  /// `type` spread each head's channels over a GPU warp's lanes.
  bool usesChannelLaneAttention(KVCacheType type, int64_t headDim) const;
  /// getMatmul for the NEON ISAs: tiles of 8 outputs (two row quads) by 6
  /// tokens with indexed `sdot`, or of 4 outputs (two row pairs) by 16
  /// tokens with `smmla`, 32 channels per step.
  mlir::func::FuncOp getNeonMatmul(QuantizedTensorType act,
                                   QuantizedTensorType weight,
                                   mlir::FloatType resultType, bool prescaled);
  /// out = combine(lhs, rhs) elementwise, named lowbit_cpu_<name>_<C>.
  mlir::func::FuncOp getElementwise(
      llvm::StringRef name, int64_t channels,
      llvm::function_ref<mlir::Value(mlir::ImplicitLocOpBuilder &, mlir::Value,
                                     mlir::Value)>
          combine);
  /// The kernel `name`, or a new one of `argumentTypes` whose body
  /// `buildBody` emits (before the return) when there is none.
  mlir::func::FuncOp
  getOrCreate(llvm::StringRef name, mlir::TypeRange argumentTypes,
              llvm::function_ref<void(mlir::OpBuilder &, mlir::Location,
                                      mlir::ValueRange)>
                  buildBody);
  /// The declaration `name`, or a new private one of `argumentTypes`
  /// carrying the attributes `marks`, which a lowbit-define-gpu-* pass
  /// defines.
  mlir::func::FuncOp getOrDeclare(llvm::StringRef name,
                                  mlir::TypeRange argumentTypes,
                                  llvm::ArrayRef<mlir::NamedAttribute> marks);
  /// A constant global holding `values` as i32, for permutations.
  mlir::Value getIndexTable(mlir::OpBuilder &builder, mlir::Location loc,
                            llvm::StringRef name,
                            llvm::ArrayRef<int64_t> values);

  mlir::ModuleOp module;
  CPUMatmulISA isa;
};

} // namespace lowbit

#endif // LOWBIT_LIB_CONVERSION_LOWBITTOCPU_CPUKERNELS_H
