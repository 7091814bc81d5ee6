//===- CPUKernels.cpp - the CPU kernels of the lowbit graph ops -----------===//
//
// Builds the kernels lowbit-convert-to-cpu calls. Integer work (the
// quantized matmul) runs on vectors; floating-point sums keep the reference
// executor's order, so lanes of a vector only ever hold separate sums (e.g.
// eight output channels of a linear layer) and the compiled model's logits
// are the reference executor's, bit for bit, on the same machine.
//
//===----------------------------------------------------------------------===//

#include "CPUKernels.h"
#include "CPUEmitter.h"
#include "lowbit/Conversion/LowBitToNVGPU/LinearKernel.h"
#include "lowbit/Conversion/Passes.h"
#include "lowbit/Conversion/Runs.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FormatVariadic.h"

#include <array>
#include <cmath>
#include <numeric>

using namespace mlir;
using namespace lowbit;
using namespace lowbit::cpu;

/// SwiGLU of one gate and up value: gate * sigmoid(gate) * up.
static Value emitSwiGLU(ImplicitLocOpBuilder &b, Value gate, Value up) {
  Value one =
      arith::ConstantFloatOp::create(b, b.getF32Type(), llvm::APFloat(1.0f));
  Value sigmoidDenominator = arith::AddFOp::create(
      b, one, math::ExpOp::create(b, arith::NegFOp::create(b, gate)));
  return arith::MulFOp::create(
      b, arith::DivFOp::create(b, gate, sigmoidDenominator), up);
}

int64_t lowbit::getKVRowBytes(int64_t bits, int64_t channels) {
  return bits * channels / 8;
}

std::optional<CPUMatmulISA> lowbit::parseCPUMatmulISA(StringRef name) {
  return llvm::StringSwitch<std::optional<CPUMatmulISA>>(name)
      .Case("generic", CPUMatmulISA::Generic)
      .Case("neon-dotprod", CPUMatmulISA::NeonDot)
      .Case("neon-i8mm", CPUMatmulISA::NeonMatrix)
      .Case("x86-avx512vnni", CPUMatmulISA::X86VNNI)
      .Case("nvgpu", CPUMatmulISA::NVGPU)
      .Default(std::nullopt);
}

bool lowbit::fitsNeonMatmul(BlockLayoutAttr layout) {
  return layout.getBlockSize() % 32 == 0 &&
         layout.getScaleGroupChannels() % 32 == 0;
}

bool lowbit::fitsGPUMatmul(QuantizedTensorType act, QuantizedTensorType weight,
                           FloatType resultType) {
  BlockLayoutAttr weightLayout = weight.getLayout();
  return resultType.isF32() && weightLayout.getNumInt8Blocks() == 0 &&
         weightLayout.getNumChannels() % 32 == 0 &&
         weightLayout.getScaleGroupChannels() % 32 == 0 &&
         act.getLayout().getScaleGroupChannels() % 32 == 0;
}

int64_t lowbit::getWeightTileRows(CPUMatmulISA isa) {
  switch (isa) {
  case CPUMatmulISA::Generic:
  case CPUMatmulISA::X86VNNI:
  case CPUMatmulISA::NVGPU:
    return 1;
  case CPUMatmulISA::NeonDot:
    return 4;
  case CPUMatmulISA::NeonMatrix:
    return 2;
  }
  llvm_unreachable("unknown CPU matmul ISA");
}

StringRef lowbit::getWeightForm(CPUMatmulISA isa) {
  switch (isa) {
  case CPUMatmulISA::Generic:
  case CPUMatmulISA::X86VNNI:
  case CPUMatmulISA::NVGPU:
    return "packed";
  case CPUMatmulISA::NeonDot:
    return "packed-row-quads";
  case CPUMatmulISA::NeonMatrix:
    return "packed-row-pairs";
  }
  llvm_unreachable("unknown CPU matmul ISA");
}

func::FuncOp CPUKernelBuilder::getOrCreate(
    StringRef name, TypeRange argumentTypes,
    llvm::function_ref<void(OpBuilder &, Location, ValueRange)> buildBody) {
  if (auto existing = module.lookupSymbol<func::FuncOp>(name))
    return existing;
  func::FuncOp kernel = getOrDeclare(name, argumentTypes, /*marks=*/{});
  Location loc = kernel.getLoc();
  Block *body = kernel.addEntryBlock();
  OpBuilder builder = OpBuilder::atBlockBegin(body);
  buildBody(builder, loc, body->getArguments());
  func::ReturnOp::create(builder, loc);
  return kernel;
}

func::FuncOp CPUKernelBuilder::getOrDeclare(StringRef name,
                                            TypeRange argumentTypes,
                                            ArrayRef<NamedAttribute> marks) {
  if (auto existing = module.lookupSymbol<func::FuncOp>(name))
    return existing;
  OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
  auto declaration =
      func::FuncOp::create(builder, module.getLoc(), name,
                           builder.getFunctionType(argumentTypes, {}));
  declaration.setPrivate();
  for (NamedAttribute mark : marks)
    declaration->setAttr(mark.getName(), mark.getValue());
  return declaration;
}

Value CPUKernelBuilder::getIndexTable(OpBuilder &builder, Location loc,
                                      StringRef name,
                                      ArrayRef<int64_t> values) {
  auto type =
      MemRefType::get({static_cast<int64_t>(values.size())}, builder.getI32Type());
  if (!module.lookupSymbol(name)) {
    OpBuilder atEnd = OpBuilder::atBlockEnd(module.getBody());
    SmallVector<int32_t> entries(values.begin(), values.end());
    auto tensorType = RankedTensorType::get(type.getShape(), type.getElementType());
    memref::GlobalOp::create(
        atEnd, loc, name, atEnd.getStringAttr("private"), type,
        DenseIntElementsAttr::get(tensorType, ArrayRef<int32_t>(entries)),
        /*constant=*/true, /*alignment=*/nullptr);
  }
  return memref::GetGlobalOp::create(builder, loc, type, name);
}

func::FuncOp CPUKernelBuilder::getEmbedding(int64_t vocab, int64_t dim) {
  Builder b(module.getContext());
  Type f32 = b.getF32Type();
  return getOrCreate(
      llvm::formatv("lowbit_cpu_embedding_{0}x{1}", vocab, dim).str(),
      {MemRefType::get({vocab, dim}, f32),
       MemRefType::get({ShapedType::kDynamic}, b.getI32Type()),
       rowsOf(dim, f32)},
      [&](OpBuilder &builder, Location loc, ValueRange args) {
        Emitter e(builder, loc);
        Value table = args[0], tokens = args[1], out = args[2];
        e.parallel({e.rows(out), e.index(dim)}, [&](Emitter &e, ValueRange tc) {
          Value token = e.toIndex(e.load(tokens, tc[0]));
          e.store(e.load(table, {token, tc[1]}), out, tc);
        });
      });
}

namespace {
/// Token rows up to which a fused quantization recomputes its row statistic
/// (an RMSNorm's inverse RMS) in every scale group.
constexpr int64_t kMaxRowsRecomputingStatistics = 16;

/// The inverse RMS of token row t of `rowAt` (channel -> value) over
/// `channels` channels, as getRMSNorm computes it: summed over a warp's
/// lanes on a GPU.
Value emitInverseRms(Emitter &e, int64_t channels, float epsilon,
                     llvm::function_ref<Value(Emitter &, Value)> rowAt) {
  Value sumOfSquares =
      Emitter::splitOverLanes(e.loop(e.index(0), e.index(channels), 1,
                                     {e.f32(0.0f)},
                                     [&](Emitter &e, Value c,
                                         ValueRange sum) -> SmallVector<Value> {
                                       Value x = rowAt(e, c);
                                       return {e.addf(sum[0], e.mulf(x, x))};
                                     }),
                              "add")
          .getResult(0);
  Value mean = e.divf(sumOfSquares, e.f32(static_cast<float>(channels)));
  return e.divf(e.f32(1.0f),
                math::SqrtOp::create(e, e.addf(mean, e.f32(epsilon))));
}

/// Reads channel c of token row t of `rows`.
std::function<Value(Emitter &, Value)> rowReader(Value rows, Value t) {
  return [rows, t](Emitter &e, Value c) { return e.load(rows, {t, c}); };
}

/// Reads channel c of token row t of lhs + rhs.
std::function<Value(Emitter &, Value)> sumReader(Value lhs, Value rhs,
                                                 Value t) {
  return [lhs, rhs, t](Emitter &e, Value c) {
    Value left = e.load(lhs, {t, c});
    return e.addf(left, e.load(rhs, {t, c}));
  };
}

/// Reads channel c of the RMSNorm of a row (`rowAt`) with inverse RMS
/// `inverseRms`, permuted by `table` when there is one.
std::function<Value(Emitter &, Value)>
getNormalisedRow(Value inverseRms, Value weight, Value table,
                 std::function<Value(Emitter &, Value)> rowAt) {
  return [=](Emitter &e, Value c) {
    Value source = table ? e.toIndex(e.load(table, c)) : c;
    Value normalised = e.mulf(rowAt(e, source), inverseRms);
    return e.mulf(normalised, e.load(weight, c));
  };
}
} // namespace

func::FuncOp CPUKernelBuilder::getRMSNorm(int64_t channels, float epsilon,
                                          ArrayRef<int64_t> permutation) {
  Builder b(module.getContext());
  Type f32 = b.getF32Type();
  std::string suffix = permutationSuffix(permutation);
  return getOrCreate(
      llvm::formatv("lowbit_cpu_rms_norm_{0}_eps{1:x}{2}", channels,
                    llvm::bit_cast<uint32_t>(epsilon), suffix)
          .str(),
      {rowsOf(channels, f32), MemRefType::get({channels}, f32),
       rowsOf(channels, f32)},
      [&](OpBuilder &builder, Location loc, ValueRange args) {
        Emitter e(builder, loc);
        Value input = args[0], weight = args[1], out = args[2];
        Value table;
        if (!permutation.empty())
          table = getIndexTable(builder, loc, "lowbit_cpu_permutation" + suffix,
                                permutation);
        e.parallel({e.rows(out)}, [&](Emitter &e, ValueRange ivs) {
          Value t = ivs[0];
          auto rowAt = rowReader(input, t);
          auto normalised =
              getNormalisedRow(emitInverseRms(e, channels, epsilon, rowAt),
                               weight, table, rowAt);
          Emitter::splitOverLanes(
              e.loop(0, channels, 1,
                     [&](Emitter &e, Value c) {
                       e.store(normalised(e, c), out, {t, c});
                     }),
              "independent");
        });
      });
}

func::FuncOp CPUKernelBuilder::getPermute(int64_t channels,
                                          ArrayRef<int64_t> permutation) {
  Builder b(module.getContext());
  Type f32 = b.getF32Type();
  std::string suffix = permutationSuffix(permutation);
  return getOrCreate(
      llvm::formatv("lowbit_cpu_permute_{0}{1}", channels, suffix).str(),
      {rowsOf(channels, f32), rowsOf(channels, f32)},
      [&](OpBuilder &builder, Location loc, ValueRange args) {
        Emitter e(builder, loc);
        Value table = getIndexTable(builder, loc,
                                    "lowbit_cpu_permutation" + suffix,
                                    permutation);
        e.parallel({e.rows(args[1]), e.index(channels)},
                   [&](Emitter &e, ValueRange tc) {
                     Value source = e.toIndex(e.load(table, tc[1]));
                     e.store(e.load(args[0], {tc[0], source}), args[1], tc);
                   });
      });
}

/// Token rows up to which the GPU form of the f32 linear splits k over a
/// warp's lanes rather than giving each thread a tile.
constexpr int64_t kMaxRowsForLaneSplitLinear = 16;

func::FuncOp CPUKernelBuilder::getLinear(int64_t inChannels,
                                         int64_t outChannels) {
  Builder b(module.getContext());
  Type f32 = b.getF32Type();
  int64_t lanes = 8;
  while (lanes > 1 && outChannels % lanes != 0)
    lanes /= 2;
  return getOrCreate(
      llvm::formatv("lowbit_cpu_linear_{0}x{1}", outChannels, inChannels).str(),
      {rowsOf(inChannels, f32), MemRefType::get({inChannels, outChannels}, f32),
       rowsOf(outChannels, f32)},
      [&](OpBuilder &builder, Location loc, ValueRange args) {
        Emitter e(builder, loc);
        Value input = args[0], weightT = args[1], out = args[2];
        auto vectorType = VectorType::get({lanes}, f32);
        Value zeros = arith::ConstantOp::create(
            e, vectorType, DenseElementsAttr::get(vectorType, 0.0f));
        // Tiles of up to 4 tokens x 2 vectors of outputs: the weight columns
        // of a tile stay in cache for every token, and each lane sums one
        // output channel of one token over k in order.
        int64_t vectors = outChannels % (2 * lanes) == 0 ? 2 : 1;
        auto tile = [&](Emitter &e, Value t, int64_t tokens, Value n,
                        bool splitK) {
          SmallVector<Value> initial(tokens * vectors, zeros);
          auto overK = [&](scf::ForOp loop) {
            return splitK ? Emitter::splitOverLanes(loop, "add") : loop;
          };
          ValueRange sums =
              overK(
                  e.loop(e.index(0), e.index(inChannels), 1, initial,
                         [&](Emitter &e, Value k, ValueRange acc) {
                           SmallVector<Value> w;
                           for (int64_t v = 0; v < vectors; ++v)
                             w.push_back(vector::LoadOp::create(
                                 e, vectorType, weightT,
                                 ValueRange{k, e.add(n, e.index(v * lanes))}));
                           SmallVector<Value> next;
                           for (int64_t r = 0; r < tokens; ++r) {
                             Value x = vector::BroadcastOp::create(
                                 e, vectorType,
                                 e.load(input, {e.add(t, e.index(r)), k}));
                             for (int64_t v = 0; v < vectors; ++v)
                               next.push_back(e.addf(acc[r * vectors + v],
                                                     e.mulf(x, w[v])));
                           }
                           return next;
                         }))
                  .getResults();
          for (int64_t r = 0; r < tokens; ++r)
            for (int64_t v = 0; v < vectors; ++v)
              vector::StoreOp::create(
                  e, sums[r * vectors + v], out,
                  ValueRange{e.add(t, e.index(r)),
                             e.add(n, e.index(v * lanes))});
        };
        // Independent tiles: (outputs, groups of 4 tokens), the last group
        // token by token when fewer than 4 remain.
        Value numRows = e.rows(out);
        Value tokenGroups =
            arith::DivUIOp::create(e, e.add(numRows, e.index(3)), e.index(4));
        auto emitNest = [&](Emitter &outer, bool splitK) {
          outer.parallel({outer.index(0), outer.index(0)},
                         {outer.index(outChannels), tokenGroups},
                         {vectors * lanes, 1}, [&](Emitter &e, ValueRange ivs) {
                           Value n = ivs[0], t = e.mul(ivs[1], e.index(4));
                           Value full = arith::CmpIOp::create(
                               e, arith::CmpIPredicate::ule,
                               e.add(t, e.index(4)), numRows);
                           e.ifElse(
                               full,
                               [&](Emitter &whole) {
                                 tile(whole, t, 4, n, splitK);
                               },
                               [&](Emitter &rest) {
                                 rest.loop(t, numRows, 1,
                                           [&](Emitter &e, Value r) {
                                             tile(e, r, 1, n, splitK);
                                           });
                               });
                         });
        };
        if (isa != CPUMatmulISA::NVGPU)
          return emitNest(e, /*splitK=*/false);
        // On a GPU, few tokens (decode, short prompts) leave too few tiles
        // for a thread each: a warp takes a tile and its lanes split k. Many
        // tokens take the tiled linear kernel where it takes the shape
        // (lowbit-define-gpu-linears), else give every thread a tile of its
        // own, neighbouring threads reading neighbouring weight columns.
        Value fewRows =
            arith::CmpIOp::create(e, arith::CmpIPredicate::ule, numRows,
                                  e.index(kMaxRowsForLaneSplitLinear));
        e.ifElse(
            fewRows, [&](Emitter &few) { emitNest(few, /*splitK=*/true); },
            [&](Emitter &many) {
              if (!fitsGPULinear(inChannels, outChannels))
                return emitNest(many, /*splitK=*/false);
              func::CallOp::create(many,
                                   getGPULinear(inChannels, outChannels),
                                   ValueRange{input, weightT, out});
            });
      });
}

bool lowbit::fitsGPULinear(int64_t inChannels, int64_t outChannels) {
  return LinearKernel{inChannels, outChannels}.checkSupported().empty();
}

func::FuncOp CPUKernelBuilder::getGPULinear(int64_t inChannels,
                                            int64_t outChannels) {
  assert(isa == CPUMatmulISA::NVGPU && fitsGPULinear(inChannels, outChannels) &&
         "the GPU linear kernel does not take this shape");
  Type f32 = Float32Type::get(module.getContext());
  Builder b(module.getContext());
  return getOrDeclare(
      llvm::formatv("lowbit_nvgpu_linear_{0}x{1}", outChannels, inChannels)
          .str(),
      {rowsOf(inChannels, f32), MemRefType::get({inChannels, outChannels}, f32),
       rowsOf(outChannels, f32)},
      {b.getNamedAttr(kGPULinearAttrName, b.getUnitAttr())});
}

func::FuncOp CPUKernelBuilder::getQuantize(QuantizedTensorType type) {
  return getQuantizeOf(
      "quantize", type,
      {rowsOf(type.getLayout().getNumChannels(),
              Float32Type::get(module.getContext()))},
      [](Emitter &, ValueRange inputs, Value t, Value) -> QuantizedRowReader {
        return {rowReader(inputs[0], t), {}};
      });
}

func::FuncOp
CPUKernelBuilder::getRMSNormQuantize(QuantizedTensorType type, float epsilon,
                                     ArrayRef<int64_t> normPermutation,
                                     bool residualSum) {
  Builder b(module.getContext());
  Type f32 = b.getF32Type();
  int64_t channels = type.getLayout().getNumChannels();
  std::string suffix = permutationSuffix(normPermutation);
  SmallVector<Type> inputTypes = {rowsOf(channels, f32)};
  if (residualSum)
    inputTypes.push_back(rowsOf(channels, f32));
  inputTypes.push_back(MemRefType::get({channels}, f32));
  if (residualSum)
    inputTypes.push_back(rowsOf(channels, f32));
  return getQuantizeOf(
      llvm::formatv("{0}rms_norm_eps{1:x}{2}_quantize",
                    residualSum ? "add_" : "",
                    llvm::bit_cast<uint32_t>(epsilon), suffix)
          .str(),
      type, inputTypes,
      [&](Emitter &e, ValueRange inputs, Value t,
          Value inverseRms) -> QuantizedRowReader {
        Value table;
        if (!normPermutation.empty())
          table =
              getIndexTable(e, e.getLoc(), "lowbit_cpu_permutation" + suffix,
                            normPermutation);
        if (!residualSum)
          return {getNormalisedRow(inverseRms, inputs[1], table,
                                   rowReader(inputs[0], t)),
                  {}};
        auto sumAt = sumReader(inputs[0], inputs[1], t);
        Value sum = inputs[3];
        return {getNormalisedRow(inverseRms, inputs[2], table, sumAt),
                [sumAt, sum, t](Emitter &e, Value c) {
                  e.store(sumAt(e, c), sum, {t, c});
                }};
      },
      [&](Emitter &e, ValueRange inputs, Value t) {
        return emitInverseRms(e, channels, epsilon,
                              residualSum ? sumReader(inputs[0], inputs[1], t)
                                          : rowReader(inputs[0], t));
      });
}

func::FuncOp CPUKernelBuilder::getSwiGLUQuantize(QuantizedTensorType type) {
  Type f32 = Float32Type::get(module.getContext());
  int64_t channels = type.getLayout().getNumChannels();
  return getQuantizeOf(
      "swiglu_quantize", type, {rowsOf(channels, f32), rowsOf(channels, f32)},
      [](Emitter &, ValueRange inputs, Value t, Value) -> QuantizedRowReader {
        Value gate = inputs[0], up = inputs[1];
        return {[gate, up, t](Emitter &e, Value c) {
                  Value gateValue = e.load(gate, {t, c});
                  return emitSwiGLU(e, gateValue, e.load(up, {t, c}));
                },
                {}};
      });
}

func::FuncOp CPUKernelBuilder::getQuantizeOf(
    StringRef producer, QuantizedTensorType type, TypeRange inputTypes,
    llvm::function_ref<QuantizedRowReader(Emitter &, ValueRange, Value, Value)>
        readRow,
    llvm::function_ref<Value(Emitter &, ValueRange, Value)> rowStatistic) {
  Builder b(module.getContext());
  BlockLayoutAttr layout = type.getLayout();
  int64_t channels = layout.getNumChannels();
  int64_t group = layout.getScaleGroupChannels();
  int64_t groups = layout.getScalesPerRow();
  FloatType scaleType = type.getScaleType();
  std::string suffix = permutationSuffix(layout.getPermutation());
  std::string bitsName;
  for (int64_t bits : layout.getBlockBits())
    bitsName += std::to_string(bits);
  bool pairRows = isa == CPUMatmulISA::NeonMatrix;
  SmallVector<Type> argumentTypes(inputTypes);
  argumentTypes.push_back(rowsOf(channels, b.getI8Type()));
  argumentTypes.push_back(rowsOf(groups, b.getF32Type()));
  if (rowStatistic)
    argumentTypes.push_back(
        MemRefType::get({ShapedType::kDynamic}, b.getF32Type()));
  return getOrCreate(
      llvm::formatv(
          "lowbit_cpu_{0}_{1}_b{2}_g{3}_{4}_{5}{6}{7}", producer, channels,
          layout.getBlockSize(), group,
          bitsName.size() > 24
              ? llvm::formatv("{0:x}", llvm::hash_value(bitsName)).str()
              : bitsName,
          getTypeName(scaleType), suffix, pairRows ? "_pairs" : "")
          .str(),
      argumentTypes, [&](OpBuilder &builder, Location loc, ValueRange args) {
        Emitter e(builder, loc);
        ValueRange inputs = args.drop_back(rowStatistic ? 3 : 2);
        Value codes = args[inputs.size()], scales = args[inputs.size() + 1];
        Value table;
        if (!layout.getPermutation().empty())
          table = getIndexTable(builder, loc, "lowbit_cpu_permutation" + suffix,
                                layout.getPermutation());
        Value numRows = e.rows(codes);
        // Rows below `pairedRows` come in pairs (smmla operands).
        Value pairedRows = arith::SubIOp::create(
            e, numRows, arith::RemUIOp::create(e, numRows, e.index(2)));
        // Stores `value` at (t, c) of `target` (`width` columns); in pair
        // layout, rows 2i and 2i+1 interleave in chunks of `chunk` columns.
        auto storePaired = [&](Emitter &e, Value value, Value target,
                               int64_t width, int64_t chunk, Value t,
                               Value c) {
          if (!pairRows)
            return e.store(value, target, {t, c});
          // Offset in the pair: (c / chunk) * 2 chunk + (t % 2) * chunk +
          // c % chunk.
          Value size = e.index(chunk), columns = e.index(width);
          Value odd = arith::RemUIOp::create(e, t, e.index(2));
          Value inPair = e.add(
              e.add(e.mul(arith::DivUIOp::create(e, c, size),
                          e.index(2 * chunk)),
                    e.mul(odd, size)),
              arith::RemUIOp::create(e, c, size));
          Value paired = arith::CmpIOp::create(e, arith::CmpIPredicate::ult, t,
                                               pairedRows);
          Value offset = arith::SelectOp::create(
              e, paired,
              e.add(e.mul(arith::SubIOp::create(e, t, odd), columns), inPair),
              e.add(e.mul(t, columns), c));
          e.store(value, target,
                  {arith::DivUIOp::create(e, offset, columns),
                   arith::RemUIOp::create(e, offset, columns)});
        };
        // Every (token, group) is independent: one nest over all groups,
        // whose largest code follows the group's run of one bit width.
        auto bitRuns = getBitRuns(layout);
        // With a row statistic, `statistics` holds it per token, or every
        // (token, group) computes it when `statistics` is null.
        auto quantizeNest = [&](Emitter &e, Value statistics) {
          e.parallel({numRows, e.index(groups)}, [&](Emitter &e,
                                                     ValueRange ivs) {
            Value t = ivs[0], g = ivs[1];
            Value limit = e.f32(
                static_cast<float>(largestCode(std::get<2>(bitRuns.back()))));
            for (auto [begin, end, bits] :
                 llvm::reverse(ArrayRef(bitRuns).drop_back())) {
              Value inRun = arith::CmpIOp::create(e, arith::CmpIPredicate::ult,
                                                  g, e.index(end / group));
              limit = arith::SelectOp::create(
                  e, inRun, e.f32(static_cast<float>(largestCode(bits))),
                  limit);
            }
            Value statistic;
            if (rowStatistic)
              statistic = statistics ? e.load(statistics, t)
                                     : rowStatistic(e, inputs, t);
            QuantizedRowReader row = readRow(e, inputs, t, statistic);
            auto sourceValue = [&](Emitter &e, Value c) {
              return row.valueAt(e, table ? e.toIndex(e.load(table, c)) : c);
            };
            Value first = e.mul(g, e.index(group));
            Value last = e.add(first, e.index(group));
            Value scale =
                e.groupScale(first, last, sourceValue, limit, scaleType);
            storePaired(e, scale, scales, groups, 1, t, g);
            Emitter::splitOverLanes(
                e.loop(first, last, 1,
                       [&](Emitter &e, Value c) {
                         storePaired(e,
                                     e.codeOf(sourceValue(e, c), scale, limit),
                                     codes, channels, 8, t, c);
                         // The groups cover every channel once.
                         if (row.storeAt)
                           row.storeAt(e, c);
                       }),
                "independent");
          });
        };
        if (!rowStatistic)
          return quantizeNest(e, Value());
        // Few rows (decode) recompute the statistic in every group: one
        // launch, and the row's other groups run beside it. Many rows
        // (prefill) compute it once per row first.
        Value fewRows =
            arith::CmpIOp::create(e, arith::CmpIPredicate::ule, numRows,
                                  e.index(kMaxRowsRecomputingStatistics));
        Value statistics = args.back();
        e.ifElse(
            fewRows, [&](Emitter &few) { quantizeNest(few, Value()); },
            [&](Emitter &many) {
              many.parallel({numRows}, [&](Emitter &e, ValueRange ivs) {
                e.store(rowStatistic(e, inputs, ivs[0]), statistics, ivs[0]);
              });
              quantizeNest(many, statistics);
            });
      });
}

func::FuncOp CPUKernelBuilder::getMatmul(QuantizedTensorType act,
                                         QuantizedTensorType weight,
                                         FloatType resultType,
                                         bool prescaled) {
  if (isNeon(isa))
    return getNeonMatmul(act, weight, resultType, prescaled);
  assert(!prescaled && "prescaled weight scales are for the NEON kernels");
  Builder b(module.getContext());
  Type f32 = b.getF32Type(), i8 = b.getI8Type(), i32 = b.getI32Type();
  BlockLayoutAttr actLayout = act.getLayout(), weightLayout = weight.getLayout();
  int64_t channels = weightLayout.getNumChannels();
  int64_t outputs = weight.getShape()[0];
  int64_t actGroup = actLayout.getScaleGroupChannels();
  int64_t weightGroup = weightLayout.getScaleGroupChannels();
  int64_t segment = std::gcd(actGroup, weightGroup);
  int64_t rowBytes = weightLayout.getPackedRowBytes();
  int64_t width = getVectorChannels(segment);
  // With VNNI, 32 codes widen to i16 and vpdpwssd sums pairs of products
  // into 16 INT32 lanes; otherwise each code has a lane.
  bool vnni = isa == CPUMatmulISA::X86VNNI && width == 32;
  std::string bitsName;
  for (int64_t bits : weightLayout.getBlockBits())
    bitsName += std::to_string(bits);
  return getOrCreate(
      llvm::formatv("lowbit_cpu_matmul_{0}x{1}_b{2}_ga{3}_gw{4}_{5}_{6}{7}",
                    outputs, channels, weightLayout.getBlockSize(), actGroup,
                    weightGroup,
                    bitsName.size() > 24
                        ? llvm::formatv("{0:x}", llvm::hash_value(bitsName)).str()
                        : bitsName,
                    getTypeName(resultType), vnni ? "_vnni" : "")
          .str(),
      {rowsOf(channels, i8), rowsOf(actLayout.getScalesPerRow(), f32),
       MemRefType::get({outputs, rowBytes}, i8),
       MemRefType::get({outputs, weightLayout.getScalesPerRow()}, f32),
       rowsOf(outputs, f32)},
      [&](OpBuilder &builder, Location loc, ValueRange args) {
        Emitter e(builder, loc);
        Value actCodes = args[0], actScales = args[1], weightCodes = args[2],
              weightScales = args[3], out = args[4];
        auto codesType = VectorType::get({width}, i8);
        auto halfType = VectorType::get({width / 2}, i8);
        auto widened = VectorType::get({vnni ? width / 2 : width}, i32);
        auto halves = VectorType::get({width}, b.getI16Type());
        Value zeros = arith::ConstantOp::create(
            e, widened, DenseElementsAttr::get(widened, int32_t(0)));
        Value four = arith::ConstantOp::create(
            e, halfType, DenseElementsAttr::get(halfType, int8_t(4)));
        // Nibble 2i of a byte vector is code 2i: interleave lows and highs.
        SmallVector<int64_t> interleave;
        for (int64_t i = 0; i < width / 2; ++i)
          interleave.append({i, width / 2 + i});
        Value numRows = e.rows(out);
        // Outputs outside, tokens inside: a packed weight row is read from
        // memory once and reused from cache for every token.
        e.parallel({e.index(outputs), numRows}, [&](Emitter &e, ValueRange nm) {
          Value n = nm[0], m = nm[1];
          Value sum = e.f32(0.0f);
          int64_t byteBase = 0;
          for (auto [begin, end, bits] : getBitRuns(weightLayout)) {
            int64_t runByteBase = byteBase;
            int64_t runBegin = begin;
            int64_t runBits = bits;
            sum =
                e.loop(e.index(begin), e.index(end), segment, {sum},
                       [&](Emitter &e, Value first,
                           ValueRange total) -> SmallVector<Value> {
                         Value last = e.add(first, e.index(segment));
                         Value products =
                             e.loop(first, last, width, {zeros},
                                    [&](Emitter &e, Value k, ValueRange acc)
                                        -> SmallVector<Value> {
                                      Value a = vector::LoadOp::create(
                                          e, codesType, actCodes,
                                          ValueRange{m, k});
                                      Value offset = arith::SubIOp::create(
                                          e, k, e.index(runBegin));
                                      Value w;
                                      if (runBits == 8) {
                                        w = vector::LoadOp::create(
                                            e, codesType, weightCodes,
                                            ValueRange{n, e.add(offset, e.index(runByteBase))});
                                      } else {
                                        Value byte = e.add(
                                            arith::DivUIOp::create(e, offset, e.index(2)),
                                            e.index(runByteBase));
                                        Value packed = vector::LoadOp::create(
                                            e, halfType, weightCodes,
                                            ValueRange{n, byte});
                                        Value low = arith::ShRSIOp::create(
                                            e, arith::ShLIOp::create(e, packed, four), four);
                                        Value high = arith::ShRSIOp::create(e, packed, four);
                                        w = vector::ShuffleOp::create(e, low, high, interleave);
                                      }
                                      if (vnni) {
                                        auto pairs = [&](Value codes) -> Value {
                                          return arith::ExtSIOp::create(e, halves, codes);
                                        };
                                        return {LLVM::CallIntrinsicOp::create(
                                                    e, widened,
                                                    e.getStringAttr("llvm.x86.avx512.vpdpwssd.512"),
                                                    ValueRange{acc[0], pairs(a), pairs(w)})
                                                    .getResult(0)};
                                      }
                                      Value product = e.mul(
                                          arith::ExtSIOp::create(e, widened, a),
                                          arith::ExtSIOp::create(e, widened, w));
                                      return {e.add(acc[0], product)};
                                    })
                                 .getResult(0);
                         Value dot = vector::ReductionOp::create(
                             e, vector::CombiningKind::ADD, products);
                         Value actScale = e.load(
                             actScales,
                             {m, arith::DivUIOp::create(e, first, e.index(actGroup))});
                         Value weightScale = e.load(
                             weightScales,
                             {n, arith::DivUIOp::create(e, first, e.index(weightGroup))});
                         return {e.addf(total[0],
                                        e.mulf(e.mulf(e.toF32(dot), actScale),
                                               weightScale))};
                       })
                    .getResult(0);
            byteBase += (end - begin) * bits / 8;
          }
          e.store(e.roundTo(sum, resultType), out, {m, n});
        });
      });
}

func::FuncOp
CPUKernelBuilder::getGPUMatmul(QuantizedTensorType act,
                               ArrayRef<QuantizedTensorType> weights) {
  Builder b(module.getContext());
  Type f32 = b.getF32Type(), i8 = b.getI8Type();
  assert(
      isa == CPUMatmulISA::NVGPU && !weights.empty() &&
      llvm::all_of(weights,
                   [&](QuantizedTensorType weight) {
                     return fitsGPUMatmul(act, weight, b.getF32Type()) &&
                            weight.getLayout().getScaleGroupChannels() ==
                                weights[0].getLayout().getScaleGroupChannels();
                   }) &&
      "the GPU matmul kernels do not take these matmuls");
  BlockLayoutAttr actLayout = act.getLayout(),
                  weightLayout = weights[0].getLayout();
  int64_t channels = weightLayout.getNumChannels();
  std::string outputs;
  for (QuantizedTensorType weight : weights)
    outputs +=
        (outputs.empty() ? "" : "_") + std::to_string(weight.getShape()[0]);
  std::string name = llvm::formatv(
      "lowbit_nvgpu_matmul_{0}x{1}_ga{2}_gw{3}", outputs, channels,
      actLayout.getScaleGroupChannels(), weightLayout.getScaleGroupChannels());
  // Activations of one shape but other block widths take other kernels on
  // chips with s4 tensor cores: the name spells the width of each run of
  // blocks, `_ab128_8x1_4x31`.
  ArrayRef<int64_t> actBlockBits = actLayout.getBlockBits();
  if (llvm::is_contained(actBlockBits, 4)) {
    llvm::raw_string_ostream os(name);
    os << "_ab" << actLayout.getBlockSize();
    forEachRun(actBlockBits, [&](size_t begin, size_t end) {
      os << "_" << actBlockBits[begin] << "x" << end - begin;
    });
  }
  SmallVector<Type> arguments = {rowsOf(channels, i8),
                                 rowsOf(actLayout.getScalesPerRow(), f32)};
  for (QuantizedTensorType weight : weights) {
    int64_t rows = weight.getShape()[0];
    arguments.append(
        {MemRefType::get({rows, weight.getLayout().getPackedRowBytes()}, i8),
         MemRefType::get({rows, weight.getLayout().getScalesPerRow()}, f32),
         rowsOf(rows, f32)});
  }
  return getOrDeclare(
      name, arguments,
      {b.getNamedAttr(kGPUMatmulAttrName, b.getUnitAttr()),
       b.getNamedAttr(kActivationBlockSizeAttrName,
                      b.getI64IntegerAttr(actLayout.getBlockSize())),
       b.getNamedAttr(kActivationBlockBitsAttrName,
                      b.getDenseI64ArrayAttr(actBlockBits))});
}

func::FuncOp CPUKernelBuilder::getGPUWireAllReduce(WireFormatAttr wire,
                                                   int64_t ranks) {
  assert(isa == CPUMatmulISA::NVGPU &&
         "compressed all-reduces are generated for GPU models only");
  std::string name;
  {
    llvm::raw_string_ostream os(name);
    os << "lowbit_nvgpu_wire_all_reduce_"
       << stringifyWireElement(wire.getElement()) << "_b" << wire.getBlockSize()
       << "_" << wire.getScaleType() << "_n" << ranks;
  }
  Builder b(module.getContext());
  auto bytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  return getOrDeclare(
      name, {bytes, bytes, bytes},
      {b.getNamedAttr(kGPUWireAllReduceAttrName, wire),
       b.getNamedAttr(kRanksAttrName, b.getI64IntegerAttr(ranks))});
}

func::FuncOp CPUKernelBuilder::getInterleaveRanks(int64_t ranks,
                                                  int64_t channels) {
  Builder b(module.getContext());
  Type f32 = b.getF32Type();
  return getOrCreate(
      llvm::formatv("lowbit_cpu_interleave_ranks_{0}x{1}", ranks, channels)
          .str(),
      {rowsOf(channels, f32), rowsOf(ranks * channels, f32)},
      [&](OpBuilder &builder, Location loc, ValueRange args) {
        Emitter e(builder, loc);
        Value gathered = args[0], out = args[1];
        Value tokens = e.rows(out);
        e.parallel({tokens, e.index(ranks * channels)}, [&](Emitter &e,
                                                            ValueRange tc) {
          Value rank = arith::DivUIOp::create(e, tc[1], e.index(channels));
          Value channel = arith::RemUIOp::create(e, tc[1], e.index(channels));
          Value row = e.add(e.mul(rank, tokens), tc[0]);
          e.store(e.load(gathered, {row, channel}), out, tc);
        });
      });
}

void lowbit::createCollectiveCall(OpBuilder &builder, Location loc,
                                  StringRef name, Value send, Value receive,
                                  Value count, ArrayRef<int64_t> constants) {
  auto module =
      builder.getInsertionBlock()->getParentOp()->getParentOfType<ModuleOp>();
  Type i64 = builder.getI64Type();
  auto function = module.lookupSymbol<func::FuncOp>(name);
  if (!function) {
    OpBuilder atEnd = OpBuilder::atBlockEnd(module.getBody());
    SmallVector<Type> arguments(3 + constants.size(), i64);
    function = func::FuncOp::create(atEnd, loc, name,
                                    atEnd.getFunctionType(arguments, {}));
    function.setPrivate();
  }
  auto address = [&](Value buffer) -> Value {
    Value pointer =
        memref::ExtractAlignedPointerAsIndexOp::create(builder, loc, buffer);
    return arith::IndexCastOp::create(builder, loc, i64, pointer);
  };
  SmallVector<Value> operands = {
      address(send), address(receive),
      arith::IndexCastOp::create(builder, loc, i64, count)};
  for (int64_t constant : constants)
    operands.push_back(arith::ConstantIntOp::create(builder, loc, constant, 64));
  func::CallOp::create(builder, loc, function, operands);
}

namespace {
/// The cosine and sine of `rotary`'s angle for pair `pair` of a head, at
/// `position` (i32); `factors` when rotary.hasFactors.
std::pair<Value, Value> emitRotation(Emitter &e, const RotaryEmbedding &rotary,
                                     Value position, Value pair,
                                     Value factors) {
  Value pairIndex =
      arith::IndexCastOp::create(e, e.getI32Type(), e.mul(pair, e.index(2)));
  Value exponent =
      e.divf(e.toF32(pairIndex), e.f32(static_cast<float>(rotary.headDim)));
  Value frequency = e.divf(
      e.f32(1.0f), math::PowFOp::create(e, e.f32(rotary.theta), exponent));
  if (rotary.hasFactors)
    frequency = e.divf(frequency, e.load(factors, pair));
  Value angle = e.mulf(e.toF32(position), frequency);
  return {math::CosOp::create(e, angle).getResult(),
          math::SinOp::create(e, angle).getResult()};
}

/// Channels c and c + 1 (c even) of row t of `rows`, turned by the angle of
/// `cosine` and `sine`.
std::pair<Value, Value> rotatePair(Emitter &e, Value rows, Value t, Value c,
                                   Value cosine, Value sine) {
  Value x0 = e.load(rows, {t, c}), x1 = e.load(rows, {t, e.add(c, e.index(1))});
  return {arith::SubFOp::create(e, e.mulf(x0, cosine), e.mulf(x1, sine)),
          e.addf(e.mulf(x0, sine), e.mulf(x1, cosine))};
}
} // namespace

func::FuncOp CPUKernelBuilder::getRotary(int64_t channels, int64_t headDim,
                                         float theta, bool hasFactors) {
  Builder b(module.getContext());
  Type f32 = b.getF32Type();
  SmallVector<Type> types = {rowsOf(channels, f32),
                             MemRefType::get({ShapedType::kDynamic}, b.getI32Type()),
                             rowsOf(channels, f32)};
  if (hasFactors)
    types.push_back(MemRefType::get({headDim / 2}, f32));
  return getOrCreate(
      llvm::formatv("lowbit_cpu_rotary_{0}_h{1}_t{2:x}{3}", channels, headDim,
                    llvm::bit_cast<uint32_t>(theta), hasFactors ? "_f" : "")
          .str(),
      types, [&](OpBuilder &builder, Location loc, ValueRange args) {
        Emitter e(builder, loc);
        Value input = args[0], positions = args[1], out = args[2];
        RotaryEmbedding rotary{headDim, theta, hasFactors};
        // The angle's cosine and sine of pair i of token t.
        auto rotation = [&](Emitter &e, Value t, Value i) {
          return emitRotation(e, rotary, e.load(positions, t), i,
                              hasFactors ? args[3] : Value());
        };
        auto rotate = [&](Emitter &e, Value t, Value i, Value head,
                          Value cosine, Value sine) {
          Value c0 = e.add(e.mul(head, e.index(headDim)), e.mul(i, e.index(2)));
          auto [y0, y1] = rotatePair(e, input, t, c0, cosine, sine);
          e.store(y0, out, {t, c0});
          e.store(y1, out, {t, e.add(c0, e.index(1))});
        };
        int64_t heads = channels / headDim;
        // A GPU gives every (token, head, pair) a thread, each computing its
        // own rotation: a head per thread would leave a decode step few,
        // long threads. A CPU computes a rotation once for all heads.
        if (isa == CPUMatmulISA::NVGPU)
          return e.parallel({e.rows(out), e.index(heads), e.index(headDim / 2)},
                            [&](Emitter &e, ValueRange thi) {
                              auto [cosine, sine] = rotation(e, thi[0], thi[2]);
                              rotate(e, thi[0], thi[2], thi[1], cosine, sine);
                            });
        e.parallel({e.rows(out), e.index(headDim / 2)},
                   [&](Emitter &e, ValueRange ti) {
                     auto [cosine, sine] = rotation(e, ti[0], ti[1]);
                     e.loop(0, heads, 1, [&](Emitter &e, Value head) {
                       rotate(e, ti[0], ti[1], head, cosine, sine);
                     });
                   });
      });
}

func::FuncOp CPUKernelBuilder::getElementwise(
    StringRef name, int64_t channels,
    llvm::function_ref<Value(ImplicitLocOpBuilder &, Value, Value)> combine) {
  Builder b(module.getContext());
  Type f32 = b.getF32Type();
  return getOrCreate(
      llvm::formatv("lowbit_cpu_{0}_{1}", name, channels).str(),
      {rowsOf(channels, f32), rowsOf(channels, f32), rowsOf(channels, f32)},
      [&](OpBuilder &builder, Location loc, ValueRange args) {
        Emitter e(builder, loc);
        e.parallel({e.rows(args[2]), e.index(channels)}, [&](Emitter &e,
                                                             ValueRange tc) {
          e.store(combine(e, e.load(args[0], tc), e.load(args[1], tc)), args[2],
                  tc);
        });
      });
}

func::FuncOp CPUKernelBuilder::getSwiGLU(int64_t channels) {
  return getElementwise("swiglu", channels, emitSwiGLU);
}

func::FuncOp CPUKernelBuilder::getAdd(int64_t channels) {
  return getElementwise("add", channels,
                        [](ImplicitLocOpBuilder &b, Value lhs, Value rhs) {
                          return arith::AddFOp::create(b, lhs, rhs);
                        });
}

namespace {
/// Typed views of one KV cache region (keys or values): `data` holds the
/// stored elements of every position (f32, f16, bytes or packed nibbles),
/// `scales` one f32 scale per position and group for 4 and 8 bits.
struct KVRegion {
  Value data, scales;

  /// Views `region` (1-D bytes) from byte `shift` (null: 0) on as the
  /// storage of `type`.
  static KVRegion view(Emitter &e, Value region, KVCacheType type,
                       Value shift = nullptr) {
    int64_t bits = type.getBits(), channels = type.getChannels();
    int64_t length = type.getMaxLength();
    Type element = bits == 32   ? Type(e.getF32Type())
                   : bits == 16 ? Type(e.getF16Type())
                                : Type(e.getI8Type());
    int64_t columns = bits == 4 ? channels / 2 : channels;
    KVRegion result;
    result.data = memref::ViewOp::create(
        e, MemRefType::get({length, columns}, element), region,
        shift ? shift : e.index(0), ValueRange());
    if (bits <= 8) {
      Value scalesShift = e.index(length * getKVRowBytes(bits, channels));
      result.scales = memref::ViewOp::create(
          e,
          MemRefType::get({length, channels / type.getGroupSize()},
                          e.getF32Type()),
          region, shift ? e.add(shift, scalesShift) : scalesShift,
          ValueRange());
    }
    return result;
  }

  /// The value stored at (`position`, `channel`), as f32.
  Value load(Emitter &e, KVCacheType type, Value position, Value channel) {
    int64_t bits = type.getBits();
    if (bits >= 16)
      return e.toF32(e.load(data, {position, channel}));
    Value code;
    if (bits == 8) {
      code = e.load(data, {position, channel});
    } else {
      Value byte = e.load(
          data, {position, arith::DivUIOp::create(e, channel, e.index(2))});
      Value odd = arith::CmpIOp::create(
          e, arith::CmpIPredicate::ne,
          arith::RemUIOp::create(e, channel, e.index(2)), e.index(0));
      code = e.nibble(byte, odd);
    }
    Value scale = e.load(
        scales, {position, arith::DivUIOp::create(
                               e, channel, e.index(type.getGroupSize()))});
    return e.mulf(e.toF32(code), scale);
  }

  /// Whether loadVector takes `lanes` channels of `type` (whole bytes, one
  /// scale group).
  static bool fitsVector(KVCacheType type, int64_t lanes) {
    return type.getBits() >= 16 || type.getGroupSize() % lanes == 0;
  }

  /// load() of channels channel..channel+lanes-1 (`channel` a multiple of
  /// `lanes`, fitsVector), the same operations per lane.
  Value loadVector(Emitter &e, KVCacheType type, Value position, Value channel,
                   int64_t lanes) {
    int64_t bits = type.getBits();
    auto floats = VectorType::get({lanes}, e.getF32Type());
    if (bits >= 16) {
      Value stored = vector::LoadOp::create(
          e, VectorType::get({lanes}, cast<MemRefType>(data.getType()).getElementType()),
          data, ValueRange{position, channel});
      return bits == 32 ? stored : arith::ExtFOp::create(e, floats, stored);
    }
    auto codesType = VectorType::get({lanes}, e.getI8Type());
    Value codes;
    if (bits == 8) {
      codes = vector::LoadOp::create(e, codesType, data,
                                     ValueRange{position, channel});
    } else {
      // Channel 2i is the low nibble of byte i, channel 2i+1 the high one.
      auto packedType = VectorType::get({lanes / 2}, e.getI8Type());
      Value packed = vector::LoadOp::create(
          e, packedType, data,
          ValueRange{position, arith::DivUIOp::create(e, channel, e.index(2))});
      Value four = arith::ConstantOp::create(
          e, packedType, DenseElementsAttr::get(packedType, int8_t(4)));
      Value low = arith::ShRSIOp::create(
          e, arith::ShLIOp::create(e, packed, four), four);
      Value high = arith::ShRSIOp::create(e, packed, four);
      SmallVector<int64_t> interleave;
      for (int64_t i = 0; i < lanes / 2; ++i)
        interleave.append({i, lanes / 2 + i});
      codes = vector::ShuffleOp::create(e, low, high, interleave);
    }
    Value scale = e.load(
        scales, {position, arith::DivUIOp::create(
                               e, channel, e.index(type.getGroupSize()))});
    return e.mulf(arith::SIToFPOp::create(e, floats, codes),
                  vector::BroadcastOp::create(e, floats, scale));
  }
};
} // namespace

namespace {
/// Positions of one part of a decode step's attention over a long cache
/// (flash-decoding): each part is a warp's work, and the parts' partial
/// softmax sums are combined afterwards.
constexpr int64_t kDecodeAttentionSplit = 64;

/// Parts of the cache of `type` at most, and f32 values each part stores:
/// its running maximum, its sum of weights and its weighted sum of values.
int64_t getDecodeAttentionParts(KVCacheType type) {
  return llvm::divideCeil(type.getMaxLength(), kDecodeAttentionSplit);
}

/// What an online softmax with value sums of type `floats` starts from: no
/// maximum (-inf), no weight and no weighted sums.
SmallVector<Value> getOnlineSoftmaxStart(Emitter &e, VectorType floats) {
  return {e.f32(-std::numeric_limits<float>::infinity()), e.f32(0.0f),
          arith::ConstantOp::create(e, floats,
                                    DenseElementsAttr::get(floats, 0.0f))};
}

/// Positions one step of the GPU attention's online softmax takes together:
/// their keys' and values' loads and their lanes' shuffle reductions are
/// independent, so a warp waits for memory once a step, not once a position.
constexpr int64_t kAttentionPositionsPerStep = 8;

/// The GPU form of causal KV attention of one (token, head) over positions
/// [begin, end): the head's channels are spread over the 32 lanes of a warp
/// (`chunk` channels each, headDim = 32 x chunk), so every position's keys
/// and values are read by the whole warp at once; the lanes' partial dot
/// products combine by shuffles, and one pass over the positions, in steps
/// of kAttentionPositionsPerStep, keeps a running maximum, sum of weights
/// and weighted sum of values (online softmax), with no array of scores.
/// The positions of a step past `end` read the last position and weigh 0.
/// `finish` gets, per lane, its first channel d, the maximum, the sum of
/// weights and the lane's weighted sums. Run as plain loops (on a CPU) it
/// computes the same.
void emitAttentionOverChannelLanes(
    Emitter &e, KVCacheType type, KVRegion &keys, KVRegion &values, Value query,
    Value t, Value begin, Value end, Value queryBase, Value kvBase,
    int64_t headDim, float scoreScale,
    llvm::function_ref<void(Emitter &, Value d, Value maximum, Value total,
                            Value sums)>
        finish) {
  constexpr int64_t step = kAttentionPositionsPerStep;
  int64_t chunk = headDim / 32;
  auto floats = VectorType::get({chunk}, e.getF32Type());
  auto stepFloats = VectorType::get({step}, e.getF32Type());
  auto loadChunk = [&](Emitter &e, KVRegion &region, Value s,
                       Value channel) -> Value {
    if (chunk > 1)
      return region.loadVector(e, type, s, channel, chunk);
    return vector::BroadcastOp::create(e, floats,
                                       region.load(e, type, s, channel));
  };
  // One iteration per lane: the lane's channels d..d+chunk-1.
  Emitter::splitOverLanes(
      e.loop(0, headDim, chunk,
             [&](Emitter &e, Value d) {
               Value last = arith::SubIOp::create(e, end, e.index(1));
               scf::ForOp positions = e.loop(
                   begin, end, step, getOnlineSoftmaxStart(e, floats),
                   [&](Emitter &e, Value s,
                       ValueRange state) -> SmallVector<Value> {
                     Value maximum = state[0], total = state[1], sum = state[2];
                     SmallVector<Value> at, inRange, valueChunks;
                     for (int64_t u = 0; u < step; ++u) {
                       Value position = e.add(s, e.index(u));
                       inRange.push_back(arith::CmpIOp::create(
                           e, arith::CmpIPredicate::ult, position, end));
                       at.push_back(arith::MinUIOp::create(e, position, last));
                       valueChunks.push_back(
                           loadChunk(e, values, at[u], e.add(kvBase, d)));
                     }
                     // The step's whole-head dot products: this lane's
                     // channels, then the other lanes' through the
                     // combination.
                     Value dots =
                         Emitter::splitOverLanes(
                             e.loop(
                                 e.index(0), e.index(headDim), chunk,
                                 {arith::ConstantOp::create(
                                     e, stepFloats,
                                     DenseElementsAttr::get(stepFloats,
                                                            0.0f))},
                                 [&](Emitter &e, Value c,
                                     ValueRange partial) -> SmallVector<Value> {
                                   Value q = vector::LoadOp::create(
                                       e, floats, query,
                                       ValueRange{t, e.add(queryBase, c)});
                                   SmallVector<Value> products;
                                   for (Value position : at)
                                     products.push_back(
                                         vector::ReductionOp::create(
                                             e, vector::CombiningKind::ADD,
                                             e.mulf(q, loadChunk(
                                                           e, keys, position,
                                                           e.add(kvBase, c)))));
                                   return {e.addf(
                                       partial[0],
                                       vector::FromElementsOp::create(
                                           e, stepFloats, products))};
                                 }),
                             "add")
                             .getResult(0);
                     SmallVector<Value> scores;
                     Value next = maximum;
                     for (int64_t u = 0; u < step; ++u) {
                       Value score = arith::SelectOp::create(
                           e, inRange[u],
                           e.mulf(vector::ExtractOp::create(e, dots, u),
                                  e.f32(scoreScale)),
                           e.f32(-std::numeric_limits<float>::infinity()));
                       scores.push_back(score);
                       next = e.maxOf(next, score);
                     }
                     // The step's first position is in range: `next` is
                     // finite, and out-of-range weights are exp(-inf) = 0.
                     Value rescale = math::ExpOp::create(
                         e, arith::SubFOp::create(e, maximum, next));
                     Value nextTotal = e.mulf(total, rescale);
                     Value nextSum = e.mulf(
                         sum, vector::BroadcastOp::create(e, floats, rescale));
                     for (int64_t u = 0; u < step; ++u) {
                       Value weight = math::ExpOp::create(
                           e, arith::SubFOp::create(e, scores[u], next));
                       nextTotal = e.addf(nextTotal, weight);
                       nextSum = e.addf(
                           nextSum,
                           e.mulf(vector::BroadcastOp::create(e, floats,
                                                              weight),
                                  valueChunks[u]));
                     }
                     return {next, nextTotal, nextSum};
                   });
               finish(e, d, positions.getResult(0), positions.getResult(1),
                      positions.getResult(2));
             }),
      "independent");
}
} // namespace

func::FuncOp
CPUKernelBuilder::getKVAppend(KVCacheType type,
                              std::optional<RotaryEmbedding> keyRotary,
                              int64_t queryChannels, KVRows rows) {
  Builder b(module.getContext());
  Type f32 = b.getF32Type();
  int64_t channels = type.getChannels(), bits = type.getBits();
  int64_t group = type.getGroupSize();
  assert((!keyRotary || (bits <= 8 && group % 2 == 0)) &&
         (!queryChannels || (keyRotary && queryChannels % channels == 0)) &&
         "a rotary KV append takes 4- and 8-bit caches of even groups");
  auto bytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  SmallVector<Type> arguments = {rowsOf(channels, f32), rowsOf(channels, f32),
                                 bytes, bytes, b.getIndexType()};
  bool perSequence = rows == KVRows::PerSequence;
  std::string name =
      llvm::formatv("lowbit_cpu_{0}kv_append_{1}_b{2}_g{3}_l{4}{5}",
                    keyRotary ? "rotary_" : "", channels, bits, group,
                    type.getMaxLength(), perSequence ? "_seq" : "")
          .str();
  if (keyRotary || perSequence)
    arguments.push_back(
        MemRefType::get({ShapedType::kDynamic}, b.getI32Type()));
  if (keyRotary) {
    if (keyRotary->hasFactors)
      arguments.push_back(MemRefType::get({keyRotary->headDim / 2}, f32));
    name += llvm::formatv("_h{0}_t{1:x}{2}", keyRotary->headDim,
                          llvm::bit_cast<uint32_t>(keyRotary->theta),
                          keyRotary->hasFactors ? "_f" : "")
                .str();
  }
  if (queryChannels) {
    arguments.append(2, rowsOf(queryChannels, f32));
    name += llvm::formatv("_q{0}", queryChannels).str();
  }
  return getOrCreate(
      name, arguments, [&](OpBuilder &builder, Location loc, ValueRange args) {
        Emitter e(builder, loc);
        // start, or the sequence stride.
        Value startOrStride = args[4];
        Value positions = keyRotary || perSequence ? args[5] : Value();
        std::array<KVRegion, 2> sharedRegions;
        if (!perSequence)
          sharedRegions = {KVRegion::view(e, args[2], type),
                           KVRegion::view(e, args[3], type)};
        // The key and value storage of row t's sequence, and its position.
        auto regionsOf = [&](Emitter &e, Value t) {
          if (!perSequence)
            return sharedRegions;
          Value shift = e.mul(t, startOrStride);
          return std::array<KVRegion, 2>{
              KVRegion::view(e, args[2], type, shift),
              KVRegion::view(e, args[3], type, shift)};
        };
        auto positionOf = [&](Emitter &e, Value t) {
          return perSequence ? e.toIndex(e.load(positions, t))
                             : e.add(startOrStride, t);
        };
        // One nest stores keys and values alike (one GPU launch): each
        // iteration takes its element or group of both sides in turn.
        if (bits >= 16)
          return e.parallel(
              {e.rows(args[0]), e.index(channels)},
              [&](Emitter &e, ValueRange tc) {
                std::array<KVRegion, 2> regions = regionsOf(e, tc[0]);
                Value position = positionOf(e, tc[0]);
                for (int side = 0; side < 2; ++side) {
                  Value x = e.load(args[side], tc);
                  if (bits == 16)
                    x = arith::TruncFOp::create(e, e.getF16Type(), x);
                  e.store(x, regions[side].data, {position, tc[1]});
                }
              });
        Value factors, query, rotatedQuery;
        if (keyRotary) {
          unsigned next = 6;
          if (keyRotary->hasFactors)
            factors = args[next++];
          if (queryChannels) {
            query = args[next];
            rotatedQuery = args[next + 1];
          }
        }
        int32_t limit = largestCode(bits);
        e.parallel(
            {e.rows(args[0]), e.index(channels / group)},
            [&](Emitter &e, ValueRange tg) {
              Value t = tg[0], g = tg[1];
              Value position = positionOf(e, t);
              std::array<KVRegion, 2> regions = regionsOf(e, t);
              Value first = e.mul(g, e.index(group));
              Value last = e.add(first, e.index(group));
              // Channels c and c + 1 (c even) of row t of `rows`, turned by
              // the rotary embedding when `turned`.
              auto pairAt = [&](Emitter &e, Value rows, Value c, bool turned) {
                if (!turned)
                  return std::make_pair(
                      e.load(rows, {t, c}),
                      e.load(rows, {t, e.add(c, e.index(1))}));
                Value pair = arith::DivUIOp::create(
                    e,
                    arith::RemUIOp::create(e, c, e.index(keyRotary->headDim)),
                    e.index(2));
                auto [cosine, sine] = emitRotation(
                    e, *keyRotary, e.load(positions, t), pair, factors);
                return rotatePair(e, rows, t, c, cosine, sine);
              };
              if (queryChannels) {
                // This group's share of the query's channels.
                int64_t share = queryChannels / (channels / group);
                Value queryFirst = e.mul(g, e.index(share));
                Emitter::splitOverLanes(
                    e.loop(
                        queryFirst, e.add(queryFirst, e.index(share)), 2,
                        [&](Emitter &e, Value c) {
                          auto [y0, y1] = pairAt(e, query, c, true);
                          e.store(y0, rotatedQuery, {t, c});
                          e.store(y1, rotatedQuery, {t, e.add(c, e.index(1))});
                        }),
                    "independent");
              }
              for (int side = 0; side < 2; ++side) {
                Value rows = args[side];
                KVRegion &region = regions[side];
                bool turned = side == 0 && keyRotary;
                // A turned pair shares its angle: the scale and the codes of
                // turned keys go by pairs.
                Value scale =
                    turned ? e.groupScaleOfPairs(
                                 first, last,
                                 [&](Emitter &e, Value c) {
                                   return pairAt(e, rows, c, true);
                                 },
                                 limit, e.getF16Type())
                           : e.groupScale(
                                 first, last,
                                 [&](Emitter &e, Value c) {
                                   return e.load(rows, {t, c});
                                 },
                                 limit, e.getF16Type());
                e.store(scale, region.scales, {position, g});
                if (bits == 8) {
                  Emitter::splitOverLanes(
                      e.loop(first, last, turned ? 2 : 1,
                             [&](Emitter &e, Value c) {
                               if (!turned) {
                                 e.store(e.codeOf(e.load(rows, {t, c}), scale,
                                                  limit),
                                         region.data, {position, c});
                                 return;
                               }
                               auto [x0, x1] = pairAt(e, rows, c, true);
                               e.store(e.codeOf(x0, scale, limit), region.data,
                                       {position, c});
                               e.store(e.codeOf(x1, scale, limit), region.data,
                                       {position, e.add(c, e.index(1))});
                             }),
                      "independent");
                  continue;
                }
                // Two codes per byte, the even channel in the low nibble.
                Emitter::splitOverLanes(
                    e.loop(first, last, 2,
                           [&](Emitter &e, Value c) {
                             auto [x0, x1] = pairAt(e, rows, c, turned);
                             Value low = e.codeOf(x0, scale, limit);
                             Value high = e.codeOf(x1, scale, limit);
                             Value packed = arith::OrIOp::create(
                                 e, arith::AndIOp::create(e, low, e.i8(0x0F)),
                                 arith::ShLIOp::create(e, high, e.i8(4)));
                             e.store(packed, region.data,
                                     {position, arith::DivUIOp::create(
                                                    e, c, e.index(2))});
                           }),
                    "independent");
              }
            });
      });
}

namespace {
/// What decode attention reads for one query row: its sequence's keys and
/// values, the positions it sees (0 through its own) and the workspace of
/// its partial sums (bytes, from byte `workspaceShift` on; null: 0).
struct DecodeAttentionRow {
  KVRegion keys, values;
  Value visible, workspace, workspaceShift;
};

/// Decode attention split over the positions: a warp per (row, head, part
/// of kDecodeAttentionSplit positions) writes the part's maximum m, sum of
/// weights l and weighted sums of values to the row's workspace (f32, per
/// head and part: m, l, then headDim sums), then a warp per (row, head)
/// combines the parts that hold visible positions: out = sum_p exp(m_p - M)
/// sums_p / sum_p exp(m_p - M) l_p with M the largest m_p. Parts past the
/// visible positions run no iterations (m = -inf, l = 0). `rows` is null
/// for a single query row (row 0, nests without a row dimension), and
/// `rowOf` gives what row t reads.
void emitSplitDecodeAttention(
    Emitter &e, KVCacheType type, Value query, Value out, Value rows,
    llvm::function_ref<DecodeAttentionRow(Emitter &, Value t)> rowOf,
    int64_t numHeads, int64_t headDim, int64_t headsPerKVHead,
    float scoreScale) {
  int64_t parts = getDecodeAttentionParts(type);
  int64_t stride = headDim + 2;
  int64_t chunk = headDim / 32;
  auto floats = VectorType::get({chunk}, e.getF32Type());
  // What row t reads, its workspace viewed as f32; a single row's once,
  // outside the nests.
  auto read = [&](Emitter &e, Value t) {
    DecodeAttentionRow row = rowOf(e, t);
    row.workspace = memref::ViewOp::create(
        e, MemRefType::get({numHeads * parts * stride}, e.getF32Type()),
        row.workspace, row.workspaceShift ? row.workspaceShift : e.index(0),
        ValueRange());
    return row;
  };
  std::optional<DecodeAttentionRow> single;
  if (!rows)
    single = read(e, e.index(0));
  auto rowAt = [&](Emitter &e, Value t) {
    return single ? *single : read(e, t);
  };
  auto bases = [&](Emitter &e, Value head) {
    return std::make_pair(
        e.mul(head, e.index(headDim)),
        e.mul(arith::DivUIOp::create(e, head, e.index(headsPerKVHead)),
              e.index(headDim)));
  };
  // A parallel nest over `uppers`, preceded by the rows when there are
  // several; `body` gets the row and the other induction variables.
  auto overRows =
      [&](Emitter &e, SmallVector<Value> uppers,
          llvm::function_ref<void(Emitter &, Value t, ValueRange)> body) {
        if (rows)
          uppers.insert(uppers.begin(), rows);
        e.parallel(uppers, [&](Emitter &e, ValueRange ivs) {
          if (!rows)
            return body(e, e.index(0), ivs);
          body(e, ivs.front(), ivs.drop_front());
        });
      };
  // With rows, heads and parts share a dimension: a GPU nest with lanes
  // maps at most two dimensions of iterations.
  SmallVector<Value> headsAndParts = {e.index(numHeads), e.index(parts)};
  if (rows)
    headsAndParts = {e.index(numHeads * parts)};
  overRows(
      e, headsAndParts, [&](Emitter &e, Value t, ValueRange hp) {
        Value head = hp[0], part;
        if (rows) {
          head = arith::DivUIOp::create(e, hp[0], e.index(parts));
          part = arith::RemUIOp::create(e, hp[0], e.index(parts));
        } else {
          part = hp[1];
        }
        DecodeAttentionRow row = rowAt(e, t);
        Value workspace = row.workspace;
        auto [queryBase, kvBase] = bases(e, head);
        Value begin = e.mul(part, e.index(kDecodeAttentionSplit));
        Value end = arith::MinUIOp::create(
            e, e.add(begin, e.index(kDecodeAttentionSplit)), row.visible);
        Value base =
            e.mul(e.add(e.mul(head, e.index(parts)), part), e.index(stride));
        emitAttentionOverChannelLanes(
            e, type, row.keys, row.values, query, t, begin, end, queryBase,
            kvBase, headDim, scoreScale,
            [&](Emitter &e, Value d, Value maximum, Value total, Value sums) {
              e.store(maximum, workspace, {base});
              e.store(total, workspace, {e.add(base, e.index(1))});
              vector::StoreOp::create(
                  e, sums, workspace,
                  ValueRange{e.add(base, e.add(d, e.index(2)))});
            });
      });
  // Only the parts that hold visible positions, in one pass that rescales
  // what it has summed whenever the maximum grows.
  overRows(e, {e.index(numHeads)}, [&](Emitter &e, Value t, ValueRange h) {
    Value head = h[0];
    DecodeAttentionRow row = rowAt(e, t);
    Value workspace = row.workspace;
    Value usedParts = arith::CeilDivUIOp::create(
        e, row.visible, e.index(kDecodeAttentionSplit));
    Value queryBase = bases(e, head).first;
    Value first = e.mul(head, e.index(parts * stride));
    Emitter::splitOverLanes(
        e.loop(0, headDim, chunk,
               [&](Emitter &e, Value d) {
                 scf::ForOp combined = e.loop(
                     e.index(0), usedParts, 1, getOnlineSoftmaxStart(e, floats),
                     [&](Emitter &e, Value part,
                         ValueRange state) -> SmallVector<Value> {
                       Value base = e.add(first, e.mul(part, e.index(stride)));
                       Value maximum = e.load(workspace, {base});
                       Value total =
                           e.load(workspace, {e.add(base, e.index(1))});
                       Value sums = vector::LoadOp::create(
                           e, floats, workspace,
                           ValueRange{e.add(base, e.add(d, e.index(2)))});
                       Value next = e.maxOf(state[0], maximum);
                       Value rescale = math::ExpOp::create(
                           e, arith::SubFOp::create(e, state[0], next));
                       Value factor = math::ExpOp::create(
                           e, arith::SubFOp::create(e, maximum, next));
                       auto splat = [&](Value value) -> Value {
                         return vector::BroadcastOp::create(e, floats, value);
                       };
                       return {next,
                               e.addf(e.mulf(state[1], rescale),
                                      e.mulf(total, factor)),
                               e.addf(e.mulf(state[2], splat(rescale)),
                                      e.mulf(sums, splat(factor)))};
                     });
                 Value result = e.divf(combined.getResult(2),
                                       vector::BroadcastOp::create(
                                           e, floats, combined.getResult(1)));
                 vector::StoreOp::create(e, result, out,
                                         ValueRange{t, e.add(queryBase, d)});
               }),
        "independent");
  });
}
} // namespace

int64_t CPUKernelBuilder::getDecodeAttentionWorkspaceBytes(
    KVCacheType type, int64_t queryChannels, int64_t numHeads) const {
  if (!usesChannelLaneAttention(type, queryChannels / numHeads))
    return 0;
  return numHeads * getDecodeAttentionParts(type) *
         (queryChannels / numHeads + 2) * 4;
}

bool CPUKernelBuilder::usesChannelLaneAttention(KVCacheType type,
                                                int64_t headDim) const {
  int64_t laneChunk = headDim / 32;
  return isa == CPUMatmulISA::NVGPU && headDim % 32 == 0 &&
         (laneChunk == 1 || ((type.getBits() != 4 || laneChunk % 2 == 0) &&
                             KVRegion::fitsVector(type, laneChunk)));
}

func::FuncOp CPUKernelBuilder::getKVAttention(KVCacheType type,
                                              int64_t queryChannels,
                                              int64_t numHeads, KVRows rows) {
  Builder b(module.getContext());
  Type f32 = b.getF32Type();
  int64_t headDim = queryChannels / numHeads;
  int64_t headsPerKVHead = numHeads / type.getNumHeads();
  auto bytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  float scoreScale = 1.0f / std::sqrt(static_cast<float>(headDim));
  // Channels per vector of the value accumulation; 0: scalar.
  int64_t vectorLanes = headDim % 8 == 0 && headDim <= 128 &&
                                KVRegion::fitsVector(type, 8)
                            ? 8
                            : 0;
  // On the GPU a warp spreads each head's channels over its lanes (one
  // chunk of channels per lane, whole bytes of 4-bit caches), reading every
  // position's keys and values together.
  bool overChannelLanes = usesChannelLaneAttention(type, headDim);
  SmallVector<Type> arguments = {rowsOf(queryChannels, f32), bytes, bytes,
                                 b.getIndexType(), rowsOf(queryChannels, f32)};
  // The decode workspace (getDecodeAttentionWorkspaceBytes).
  if (overChannelLanes)
    arguments.push_back(bytes);
  bool perSequence = rows == KVRows::PerSequence;
  if (perSequence)
    arguments.push_back(
        MemRefType::get({ShapedType::kDynamic}, b.getI32Type()));
  return getOrCreate(
      llvm::formatv("lowbit_cpu_kv_attention_{0}_h{1}_kv{2}_b{3}_g{4}_l{5}{6}",
                    queryChannels, numHeads, type.getNumHeads(), type.getBits(),
                    type.getGroupSize(), type.getMaxLength(),
                    perSequence ? "_seq" : "")
          .str(),
      arguments, [&](OpBuilder &builder, Location loc, ValueRange args) {
        Emitter e(builder, loc);
        // start, or the sequence stride.
        Value query = args[0], startOrStride = args[3], out = args[4];
        Value positions = perSequence ? args.back() : Value();
        std::optional<DecodeAttentionRow> shared;
        if (!perSequence)
          shared = DecodeAttentionRow{KVRegion::view(e, args[1], type),
                                      KVRegion::view(e, args[2], type), Value(),
                                      overChannelLanes ? args[5] : Value()};
        // What row t reads: its sequence's cache and workspace, and the
        // positions up to its own.
        auto rowOf = [&](Emitter &e, Value t) {
          if (!perSequence) {
            DecodeAttentionRow row = *shared;
            row.visible = e.add(e.add(startOrStride, t), e.index(1));
            return row;
          }
          Value shift = e.mul(t, startOrStride);
          return DecodeAttentionRow{
              KVRegion::view(e, args[1], type, shift),
              KVRegion::view(e, args[2], type, shift),
              e.add(e.toIndex(e.load(positions, t)), e.index(1)),
              overChannelLanes ? args[5] : Value(), shift};
        };
        Value scores = memref::AllocaOp::create(
            e, MemRefType::get({type.getMaxLength()}, f32));
        auto emitNest = [&](Emitter &outer, bool acrossChannels) {
          outer.parallel(
              {outer.rows(query), outer.index(numHeads)},
              [&](Emitter &e, ValueRange th) {
                Value t = th[0], head = th[1];
                DecodeAttentionRow row = rowOf(e, t);
                KVRegion &keys = row.keys, &values = row.values;
                Value visible = row.visible;
                Value queryBase = e.mul(head, e.index(headDim));
                Value kvBase = e.mul(
                    arith::DivUIOp::create(e, head, e.index(headsPerKVHead)),
                    e.index(headDim));
                if (acrossChannels) {
                  emitAttentionOverChannelLanes(
                      e, type, keys, values, query, t, e.index(0), visible,
                      queryBase, kvBase, headDim, scoreScale,
                      [&](Emitter &e, Value d, Value, Value total, Value sums) {
                        Value result =
                            e.divf(sums, vector::BroadcastOp::create(
                                             e, sums.getType(), total));
                        vector::StoreOp::create(
                            e, result, out, ValueRange{t, e.add(queryBase, d)});
                      });
                  return;
                }
                // With vectors of values, every loop over positions may be
                // spread over the lanes of a GPU warp: a lane keeps the scores
                // of its own positions.
                auto overPositions = [&](scf::ForOp loop, StringRef split) {
                  return vectorLanes ? Emitter::splitOverLanes(loop, split)
                                     : loop;
                };
                Value maximum =
                    overPositions(
                        e.loop(
                            e.index(0), visible, 1,
                            {e.f32(-std::numeric_limits<float>::infinity())},
                            [&](Emitter &e, Value s,
                                ValueRange current) -> SmallVector<Value> {
                              Value dot =
                                  e.loop(
                                       e.index(0), e.index(headDim), 1,
                                       {e.f32(0.0f)},
                                       [&](Emitter &e, Value d, ValueRange sum)
                                           -> SmallVector<Value> {
                                         Value q = e.load(
                                             query, {t, e.add(queryBase, d)});
                                         Value k = keys.load(e, type, s,
                                                             e.add(kvBase, d));
                                         return {e.addf(sum[0], e.mulf(q, k))};
                                       })
                                      .getResult(0);
                              Value score = e.mulf(dot, e.f32(scoreScale));
                              e.store(score, scores, s);
                              return {e.maxOf(current[0], score)};
                            }),
                        "max")
                        .getResult(0);
                Value total =
                    overPositions(
                        e.loop(e.index(0), visible, 1, {e.f32(0.0f)},
                               [&](Emitter &e, Value s,
                                   ValueRange sum) -> SmallVector<Value> {
                                 Value weight = math::ExpOp::create(
                                     e, arith::SubFOp::create(
                                            e, e.load(scores, s), maximum));
                                 e.store(weight, scores, s);
                                 return {e.addf(sum[0], weight)};
                               }),
                        "add")
                        .getResult(0);
                if (vectorLanes) {
                  // out[d] += weight_s * v[s][d] over s in order, the head's
                  // channels in registers, `vectorLanes` per vector.
                  auto floats = VectorType::get({vectorLanes}, f32);
                  SmallVector<Value> zero(
                      headDim / vectorLanes,
                      arith::ConstantOp::create(
                          e, floats, DenseElementsAttr::get(floats, 0.0f)));
                  ValueRange sums =
                      overPositions(
                          e.loop(e.index(0), visible, 1, zero,
                                 [&](Emitter &e, Value s, ValueRange acc) {
                                   Value weight = vector::BroadcastOp::create(
                                       e, floats,
                                       e.divf(e.load(scores, s), total));
                                   SmallVector<Value> next;
                                   for (auto [i, sum] : llvm::enumerate(acc)) {
                                     Value v = values.loadVector(
                                         e, type, s,
                                         e.add(kvBase,
                                               e.index(i * vectorLanes)),
                                         vectorLanes);
                                     next.push_back(
                                         e.addf(sum, e.mulf(weight, v)));
                                   }
                                   return next;
                                 }),
                          "add")
                          .getResults();
                  for (auto [i, sum] : llvm::enumerate(sums))
                    vector::StoreOp::create(
                        e, sum, out,
                        ValueRange{t,
                                   e.add(queryBase, e.index(i * vectorLanes))});
                  return;
                }
                e.loop(0, headDim, 1, [&](Emitter &e, Value d) {
                  e.store(e.f32(0.0f), out, {t, e.add(queryBase, d)});
                });
                e.loop(e.index(0), visible, 1, [&](Emitter &e, Value s) {
                  Value weight = e.divf(e.load(scores, s), total);
                  e.loop(0, headDim, 1, [&](Emitter &e, Value d) {
                    Value channel = e.add(queryBase, d);
                    Value v = values.load(e, type, s, e.add(kvBase, d));
                    e.store(
                        e.addf(e.load(out, {t, channel}), e.mulf(weight, v)),
                        out, {t, channel});
                  });
                });
              });
        };
        // One query row per sequence is decode, however many rows:
        // flash-decoding (below) for each row where the channel lanes apply.
        if (perSequence) {
          if (!overChannelLanes)
            return emitNest(e, false);
          return emitSplitDecodeAttention(e, type, query, out, e.rows(query),
                                          rowOf, numHeads, headDim,
                                          headsPerKVHead, scoreScale);
        }
        // Prompts on the GPU take the tensor-core prefill attention kernel
        // where it takes the cache, whatever the decode form.
        bool prefillKernel = isa == CPUMatmulISA::NVGPU &&
                             fitsGPUPrefillAttention(type, headDim);
        if (!overChannelLanes && !prefillKernel)
          return emitNest(e, false);
        // One query row (decode) gives too few (token, head) pairs to keep
        // the GPU busy: with channel lanes each head's positions are split
        // into parts of kDecodeAttentionSplit, a warp per (head, part)
        // (flash-decoding), whose maximum, sum of weights and weighted sums
        // go to the workspace, and a second nest combines the parts.
        // Prompts the kernel does not take use the channel lanes over all
        // positions.
        Value oneRow = arith::CmpIOp::create(e, arith::CmpIPredicate::eq,
                                             e.rows(query), e.index(1));
        e.ifElse(
            oneRow,
            [&](Emitter &one) {
              if (!overChannelLanes)
                return emitNest(one, false);
              emitSplitDecodeAttention(one, type, query, out, Value(), rowOf,
                                       numHeads, headDim, headsPerKVHead,
                                       scoreScale);
            },
            [&](Emitter &many) {
              if (!prefillKernel)
                return emitNest(many, true);
              func::CallOp::create(
                  many, getGPUPrefillAttention(type, queryChannels),
                  ValueRange{query, args[1], args[2], startOrStride, out});
            });
      });
}

bool lowbit::fitsGPUPrefillAttention(KVCacheType type, int64_t headDim) {
  int64_t bits = type.getBits(), group = type.getGroupSize();
  return (bits == 4 || bits == 8) && headDim % 8 == 0 && headDim <= 128 &&
         group % 8 == 0 && headDim % group == 0;
}

func::FuncOp CPUKernelBuilder::getGPUPrefillAttention(KVCacheType type,
                                                      int64_t queryChannels) {
  assert(isa == CPUMatmulISA::NVGPU &&
         fitsGPUPrefillAttention(type, type.getHeadDim()) &&
         "the GPU prefill attention kernel does not take this cache");
  std::string name =
      llvm::formatv(
          "lowbit_nvgpu_prefill_attention_{0}_kv{1}_d{2}_b{3}_g{4}_l{5}",
          queryChannels, type.getNumHeads(), type.getHeadDim(), type.getBits(),
          type.getGroupSize(), type.getMaxLength())
          .str();
  Builder b(module.getContext());
  Type f32 = b.getF32Type();
  auto bytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  return getOrDeclare(
      name,
      {rowsOf(queryChannels, f32), bytes, bytes, b.getIndexType(),
       rowsOf(queryChannels, f32)},
      {b.getNamedAttr(kGPUPrefillAttentionAttrName, TypeAttr::get(type))});
}
