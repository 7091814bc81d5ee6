//===- CPUEmitter.h - building blocks of the CPU kernels --------*- C++ -*-===//
//
// The builder the CPU kernels are written with (constants, loops and the
// scalar quantization rules of QuantizedArithmetic.h) and the helpers that
// name and shape them, shared by the generic kernels and the NEON matmul.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_LIB_CONVERSION_LOWBITTOCPU_CPUEMITTER_H
#define LOWBIT_LIB_CONVERSION_LOWBITTOCPU_CPUEMITTER_H

#include "lowbit/Conversion/Passes.h"
#include "lowbit/Dialect/LowBit/IR/LowBitDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/Support/FormatVariadic.h"

#include <string>
#include <tuple>

namespace lowbit::cpu {

/// An mlir::ImplicitLocOpBuilder with the constants, loops and scalar rules the
/// kernels share.
class Emitter : public mlir::ImplicitLocOpBuilder {
public:
  Emitter(mlir::OpBuilder &builder, mlir::Location loc)
      : mlir::ImplicitLocOpBuilder(loc, builder) {}

  mlir::Value index(int64_t value) { return mlir::arith::ConstantIndexOp::create(*this, value); }
  mlir::Value f32(float value) {
    return mlir::arith::ConstantFloatOp::create(*this, getF32Type(),
                                          llvm::APFloat(value));
  }
  mlir::Value i32(int64_t value) {
    return mlir::arith::ConstantIntOp::create(*this, getI32Type(), value);
  }
  mlir::Value i8(int64_t value) {
    return mlir::arith::ConstantIntOp::create(*this, getI8Type(), value);
  }
  mlir::Value add(mlir::Value lhs, mlir::Value rhs) { return mlir::arith::AddIOp::create(*this, lhs, rhs); }
  mlir::Value mul(mlir::Value lhs, mlir::Value rhs) { return mlir::arith::MulIOp::create(*this, lhs, rhs); }
  mlir::Value addf(mlir::Value lhs, mlir::Value rhs) { return mlir::arith::AddFOp::create(*this, lhs, rhs); }
  mlir::Value mulf(mlir::Value lhs, mlir::Value rhs) { return mlir::arith::MulFOp::create(*this, lhs, rhs); }
  mlir::Value divf(mlir::Value lhs, mlir::Value rhs) { return mlir::arith::DivFOp::create(*this, lhs, rhs); }
  mlir::Value rows(mlir::Value memref) { return mlir::memref::DimOp::create(*this, memref, 0); }
  mlir::Value load(mlir::Value memref, mlir::ValueRange indices) {
    return mlir::memref::LoadOp::create(*this, memref, indices);
  }
  void store(mlir::Value value, mlir::Value memref, mlir::ValueRange indices) {
    mlir::memref::StoreOp::create(*this, value, memref, indices);
  }
  /// `value` as an index (from i32).
  mlir::Value toIndex(mlir::Value value) {
    return mlir::arith::IndexCastOp::create(*this, getIndexType(), value);
  }
  mlir::Value toF32(mlir::Value value) {
    if (value.getType().isF32())
      return value;
    if (value.getType().isInteger())
      return mlir::arith::SIToFPOp::create(*this, getF32Type(), value);
    return mlir::arith::ExtFOp::create(*this, getF32Type(), value);
  }
  /// std::max(current, candidate): `current < candidate ? candidate :
  /// current`.
  mlir::Value maxOf(mlir::Value current, mlir::Value candidate) {
    mlir::Value less = mlir::arith::CmpFOp::create(*this, mlir::arith::CmpFPredicate::OLT,
                                       current, candidate);
    return mlir::arith::SelectOp::create(*this, less, candidate, current);
  }
  /// `value` (f32) rounded to the nearest `type` value, ties to even.
  mlir::Value roundTo(mlir::Value value, mlir::FloatType type) {
    if (type.isF32())
      return value;
    mlir::Value narrow = mlir::arith::TruncFOp::create(*this, type, value);
    return mlir::arith::ExtFOp::create(*this, getF32Type(), narrow);
  }

  /// A loop over [lower, upper) by `step` whose body gets the induction
  /// variable and the carried values and returns the next ones.
  mlir::scf::ForOp loop(
      mlir::Value lower, mlir::Value upper, int64_t step, mlir::ValueRange carried,
      llvm::function_ref<llvm::SmallVector<mlir::Value>(Emitter &, mlir::Value, mlir::ValueRange)>
          body) {
    return mlir::scf::ForOp::create(
        *this, lower, upper, index(step), carried,
        [&](mlir::OpBuilder &nested, mlir::Location loc, mlir::Value iv, mlir::ValueRange args) {
          Emitter inner(nested, loc);
          llvm::SmallVector<mlir::Value> next = body(inner, iv, args);
          mlir::scf::YieldOp::create(nested, loc, next);
        });
  }
  /// loop() with no carried values.
  mlir::scf::ForOp loop(mlir::Value lower, mlir::Value upper, int64_t step,
                        llvm::function_ref<void(Emitter &, mlir::Value)> body) {
    return mlir::scf::ForOp::create(
        *this, lower, upper, index(step), mlir::ValueRange(),
        [&](mlir::OpBuilder &nested, mlir::Location loc, mlir::Value iv,
            mlir::ValueRange) {
          Emitter inner(nested, loc);
          body(inner, iv);
          mlir::scf::YieldOp::create(nested, loc);
        });
  }
  mlir::scf::ForOp loop(int64_t lower, int64_t upper, int64_t step,
                        llvm::function_ref<void(Emitter &, mlir::Value)> body) {
    return loop(index(lower), index(upper), step, body);
  }

  /// `thenBody` where `condition` holds, else `elseBody` (scf.if).
  void ifElse(mlir::Value condition,
              llvm::function_ref<void(Emitter &)> thenBody,
              llvm::function_ref<void(Emitter &)> elseBody) {
    auto branch = [](llvm::function_ref<void(Emitter &)> body) {
      return [body](mlir::OpBuilder &nested, mlir::Location loc) {
        Emitter inner(nested, loc);
        body(inner);
        mlir::scf::YieldOp::create(nested, loc);
      };
    };
    mlir::scf::IfOp::create(*this, condition, branch(thenBody),
                            branch(elseBody));
  }

  /// Lets GPU offloading spread `loop` over the lanes of a warp (`split`:
  /// "independent", "add" or "max"; see kLaneSplitAttrName). The CPU runs it
  /// as it is.
  static mlir::scf::ForOp splitOverLanes(mlir::scf::ForOp loop,
                                         llvm::StringRef split) {
    loop->setAttr(kLaneSplitAttrName,
                  mlir::StringAttr::get(loop.getContext(), split));
    return loop;
  }

  /// A nest of independent iterations over [lowers[i], uppers[i]) by
  /// steps[i] (scf.parallel): the body gets one induction variable per
  /// dimension. The CPU lowering runs it as nested loops in order; GPU
  /// offloading (lowbit-offload-kernels-to-gpu) gives each iteration a
  /// thread, so bodies write only their own elements.
  void parallel(mlir::ValueRange lowers, mlir::ValueRange uppers,
                llvm::ArrayRef<int64_t> steps,
                llvm::function_ref<void(Emitter &, mlir::ValueRange)> body) {
    llvm::SmallVector<mlir::Value> stepValues;
    for (int64_t step : steps)
      stepValues.push_back(index(step));
    mlir::scf::ParallelOp::create(
        *this, lowers, uppers, stepValues,
        [&](mlir::OpBuilder &nested, mlir::Location loc, mlir::ValueRange ivs) {
          Emitter inner(nested, loc);
          body(inner, ivs);
        });
  }
  /// parallel() from 0 by 1 in every dimension.
  void parallel(mlir::ValueRange uppers,
                llvm::function_ref<void(Emitter &, mlir::ValueRange)> body) {
    llvm::SmallVector<mlir::Value> lowers(uppers.size(), index(0));
    llvm::SmallVector<int64_t> steps(uppers.size(), 1);
    parallel(lowers, uppers, steps, body);
  }

  /// The code of `value` at `scale` as QuantizedArithmetic's codeOf:
  /// round-to-even(value / scale) clamped to [-limit, limit], 0 for a zero
  /// scale; as i8.
  mlir::Value codeOf(mlir::Value value, mlir::Value scale, int32_t limit) {
    return codeOf(value, scale, f32(static_cast<float>(limit)));
  }
  /// codeOf with the largest code `high` as an f32 value.
  mlir::Value codeOf(mlir::Value value, mlir::Value scale, mlir::Value high) {
    mlir::Value positive = mlir::arith::CmpFOp::create(*this, mlir::arith::CmpFPredicate::OGT,
                                           scale, f32(0.0f));
    mlir::Value rounded = mlir::math::RoundEvenOp::create(*this, divf(value, scale));
    mlir::Value code = mlir::arith::SelectOp::create(*this, positive, rounded, f32(0.0f));
    mlir::Value low = mlir::arith::NegFOp::create(*this, high);
    // std::clamp(code, low, high).
    mlir::Value belowLow =
        mlir::arith::CmpFOp::create(*this, mlir::arith::CmpFPredicate::OLT, code, low);
    mlir::Value aboveHigh =
        mlir::arith::CmpFOp::create(*this, mlir::arith::CmpFPredicate::OLT, high, code);
    code = mlir::arith::SelectOp::create(
        *this, belowLow, low,
        mlir::arith::SelectOp::create(*this, aboveHigh, high, code));
    return mlir::arith::FPToSIOp::create(*this, getI8Type(), code);
  }

  /// The absmax scale of the values `valueAt` gives for channels [first,
  /// last), divided by `limit` and rounded to `scaleType`, as
  /// QuantizedArithmetic's quantizeGroup computes it.
  mlir::Value groupScale(mlir::Value first, mlir::Value last,
                   llvm::function_ref<mlir::Value(Emitter &, mlir::Value)> valueAt,
                   int32_t limit, mlir::FloatType scaleType) {
    return groupScale(first, last, valueAt, f32(static_cast<float>(limit)),
                      scaleType);
  }
  /// groupScale with the largest code `limit` as an f32 value.
  mlir::Value
  groupScale(mlir::Value first, mlir::Value last,
             llvm::function_ref<mlir::Value(Emitter &, mlir::Value)> valueAt,
             mlir::Value limit, mlir::FloatType scaleType) {
    return groupScaleOver(
        first, last, 1,
        [&](Emitter &e, mlir::Value c) -> llvm::SmallVector<mlir::Value> {
          return {valueAt(e, c)};
        },
        limit, scaleType);
  }
  /// groupScale of values that come in pairs: `pairAt` gives channels c and
  /// c + 1 for every even c from `first` (the group's size even), so work a
  /// pair shares (a rotation angle) is done once.
  mlir::Value groupScaleOfPairs(
      mlir::Value first, mlir::Value last,
      llvm::function_ref<std::pair<mlir::Value, mlir::Value>(Emitter &,
                                                              mlir::Value)>
          pairAt,
      int32_t limit, mlir::FloatType scaleType) {
    return groupScaleOver(
        first, last, 2,
        [&](Emitter &e, mlir::Value c) -> llvm::SmallVector<mlir::Value> {
          auto [low, high] = pairAt(e, c);
          return {low, high};
        },
        f32(static_cast<float>(limit)), scaleType);
  }

  /// The signed 4-bit field of `byte` (i8) in the low nibble when `high` is
  /// false, the high nibble otherwise.
  mlir::Value nibble(mlir::Value byte, mlir::Value high) {
    mlir::Value four = i8(4);
    mlir::Value low = mlir::arith::ShRSIOp::create(
        *this, mlir::arith::ShLIOp::create(*this, byte, four), four);
    mlir::Value top = mlir::arith::ShRSIOp::create(*this, byte, four);
    return mlir::arith::SelectOp::create(*this, high, top, low);
  }

private:
  /// The absmax scale of the values `valuesAt` gives at every `step`-th
  /// channel of [first, last) (`step` values each), divided by `limit` and
  /// rounded to `scaleType`.
  mlir::Value groupScaleOver(
      mlir::Value first, mlir::Value last, int64_t step,
      llvm::function_ref<llvm::SmallVector<mlir::Value>(Emitter &,
                                                        mlir::Value)>
          valuesAt,
      mlir::Value limit, mlir::FloatType scaleType) {
    // Magnitudes are at least 0, so 0 is the maximum's identity here.
    mlir::Value absmax =
        splitOverLanes(
            loop(first, last, step, {f32(0.0f)},
                 [&](Emitter &e, mlir::Value c, mlir::ValueRange current)
                     -> llvm::SmallVector<mlir::Value> {
                   mlir::Value maximum = current[0];
                   for (mlir::Value value : valuesAt(e, c))
                     maximum = e.maxOf(maximum,
                                       mlir::math::AbsFOp::create(e, value));
                   return {maximum};
                 }),
            "max")
            .getResult(0);
    return roundTo(divf(absmax, limit), scaleType);
  }
};

inline mlir::MemRefType rowsOf(int64_t channels, mlir::Type element) {
  return mlir::MemRefType::get({mlir::ShapedType::kDynamic, channels}, element);
}

/// Runs of consecutive blocks that share a bit width: (first channel, end
/// channel, bits), so that kernels unroll over few runs, not many blocks.
inline llvm::SmallVector<std::tuple<int64_t, int64_t, int64_t>>
getBitRuns(BlockLayoutAttr layout) {
  llvm::SmallVector<std::tuple<int64_t, int64_t, int64_t>> runs;
  int64_t blockSize = layout.getBlockSize();
  for (auto [block, bits] : llvm::enumerate(layout.getBlockBits())) {
    int64_t begin = static_cast<int64_t>(block) * blockSize;
    if (!runs.empty() && std::get<2>(runs.back()) == bits)
      std::get<1>(runs.back()) = begin + blockSize;
    else
      runs.push_back({begin, begin + blockSize, bits});
  }
  return runs;
}

/// The type's name as MLIR prints it, for kernel symbols.
inline std::string getTypeName(mlir::Type type) {
  std::string name;
  llvm::raw_string_ostream os(name);
  type.print(os);
  return name;
}

/// Largest code of a symmetric `bits`-bit integer.
inline int32_t largestCode(int64_t bits) { return (1 << (bits - 1)) - 1; }

/// The widest of 32, 16, ..., 2 channels that divides `channels`.
inline int64_t getVectorChannels(int64_t channels) {
  int64_t width = 32;
  while (width > 2 && channels % width != 0)
    width /= 2;
  return width;
}

/// Suffix naming a permutation in kernel symbols: a hash of its entries.
inline std::string permutationSuffix(llvm::ArrayRef<int64_t> permutation) {
  if (permutation.empty())
    return "";
  return llvm::formatv("_p{0:x}", llvm::hash_combine_range(permutation)).str();
}

} // namespace lowbit::cpu

#endif // LOWBIT_LIB_CONVERSION_LOWBITTOCPU_CPUEMITTER_H
