//===- KernelEmitter.h - shared helpers of the GPU kernel builders -*- C++ -*-===//
//
// The decode and tensor-core kernel builders emit the same small pieces:
// constants, index arithmetic, scale conversions and the unpacking of
// interleaved INT4 weight words, and accept the same scale groups and types.
// KernelEmitter and the checks below hold them; each builder uses them.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_LIB_CONVERSION_LOWBITTONVGPU_KERNELEMITTER_H
#define LOWBIT_LIB_CONVERSION_LOWBITTONVGPU_KERNELEMITTER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <string>
#include <utility>

namespace lowbit {

/// Whether lowbit generates GPU code for `chip`: sm_80, sm_89 or sm_90.
inline bool isKnownGPUChip(llvm::StringRef chip) {
  return chip == "sm_80" || chip == "sm_89" || chip == "sm_90";
}

/// Checks that `chip` is a known GPU chip; reports it on `op` if not.
inline mlir::LogicalResult checkKnownGPUChip(mlir::Operation *op,
                                             llvm::StringRef chip) {
  if (isKnownGPUChip(chip))
    return mlir::success();
  return op->emitError() << "unknown GPU chip '" << chip
                         << "'; expected sm_80, sm_89 or sm_90";
}

/// The function declarations of `module` marked `attrName`, which the
/// lowbit-define-gpu-* passes give bodies.
inline llvm::SmallVector<mlir::func::FuncOp>
getMarkedDeclarations(mlir::ModuleOp module, llvm::StringRef attrName) {
  llvm::SmallVector<mlir::func::FuncOp> declarations;
  for (auto function : module.getOps<mlir::func::FuncOp>())
    if (function.isDeclaration() && function->hasAttr(attrName))
      declarations.push_back(function);
  return declarations;
}

/// Checks the options the matmul kernel passes share: a known `chip`, a
/// positive power of two for the decode token bound (option
/// `decodeOptionName`) and 2 to 4 pipeline stages; reports the first
/// wrong one on `op`.
inline mlir::LogicalResult
checkMatmulKernelOptions(mlir::Operation *op, llvm::StringRef chip,
                         llvm::StringRef decodeOptionName,
                         int64_t maxDecodeTokens, int64_t pipelineStages) {
  if (mlir::failed(checkKnownGPUChip(op, chip)))
    return mlir::failure();
  if (maxDecodeTokens <= 0 || !llvm::isPowerOf2_64(maxDecodeTokens))
    return op->emitError() << decodeOptionName
                           << " must be a positive power of two, got "
                           << maxDecodeTokens;
  if (pipelineStages < 2 || pipelineStages > 4)
    return op->emitError() << "pipeline-stages must be 2, 3 or 4, got "
                           << pipelineStages;
  return mlir::success();
}

/// The `#nvvm.target` of lowbit's kernel modules for `chip`: PTX 8.0, the
/// first ISA version that knows sm_90.
inline mlir::NVVM::NVVMTargetAttr getKernelTarget(mlir::MLIRContext *context,
                                                  llvm::StringRef chip) {
  return mlir::NVVM::NVVMTargetAttr::get(context, /*optLevel=*/3,
                                         "nvptx64-nvidia-cuda", chip, "+ptx80");
}

/// The kernel `name` in the gpu.module `moduleName` of `module`, built by
/// `build` at the end of that gpu.module when missing; the gpu.module
/// (with getKernelTarget for `chip`) is created when missing too.
inline mlir::gpu::GPUFuncOp getOrBuildKernel(
    mlir::ModuleOp module, llvm::StringRef moduleName, llvm::StringRef chip,
    llvm::StringRef name,
    llvm::function_ref<mlir::gpu::GPUFuncOp(mlir::OpBuilder &)> build) {
  auto kernelModule = module.lookupSymbol<mlir::gpu::GPUModuleOp>(moduleName);
  if (!kernelModule) {
    module->setAttr(mlir::gpu::GPUDialect::getContainerModuleAttrName(),
                    mlir::UnitAttr::get(module.getContext()));
    mlir::OpBuilder builder = mlir::OpBuilder::atBlockEnd(module.getBody());
    kernelModule = mlir::gpu::GPUModuleOp::create(
        builder, module.getLoc(), moduleName,
        builder.getArrayAttr({getKernelTarget(module.getContext(), chip)}));
  }
  if (auto existing = kernelModule.lookupSymbol<mlir::gpu::GPUFuncOp>(name))
    return existing;
  mlir::OpBuilder builder = mlir::OpBuilder::atBlockEnd(kernelModule.getBody());
  return build(builder);
}

/// The kernels' dynamic shared memory: an external, unsized workgroup
/// global, which NVPTX emits as `.extern .shared .b8 name[]`. (The
/// internal global that gpu.dynamic_shared_memory lowers to is demoted to a
/// one-byte static variable instead.)
inline constexpr llvm::StringLiteral kDynamicSharedMemoryName =
    "lowbit_dynamic_shared";
/// Alignment in bytes of the dynamic shared memory.
inline constexpr int64_t kDynamicSharedMemoryAlignment = 16;

/// Declares kDynamicSharedMemoryName at the start of the gpu.module that
/// `builder` inserts into, unless it is there.
inline void declareDynamicSharedMemory(mlir::OpBuilder &builder,
                                       mlir::Location loc) {
  mlir::Operation *module = builder.getBlock()->getParentOp();
  if (mlir::SymbolTable::lookupSymbolIn(module, kDynamicSharedMemoryName))
    return;
  mlir::OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(builder.getBlock());
  mlir::memref::GlobalOp::create(
      builder, loc, builder.getStringAttr(kDynamicSharedMemoryName),
      builder.getStringAttr("public"),
      mlir::TypeAttr::get(mlir::MemRefType::get(
          {0}, builder.getI8Type(), mlir::AffineMap(),
          mlir::gpu::AddressSpaceAttr::get(
              builder.getContext(), mlir::gpu::AddressSpace::Workgroup))),
      /*initial_value=*/mlir::Attribute(), /*constant=*/mlir::UnitAttr(),
      builder.getI64IntegerAttr(kDynamicSharedMemoryAlignment));
}

/// The 2-D `buffer` flattened to one dimension of run-time size, as the
/// kernels take their buffers (host code of a launch).
inline mlir::Value flattenRows(mlir::OpBuilder &b, mlir::Location loc,
                               mlir::Value buffer) {
  auto type = mlir::cast<mlir::MemRefType>(buffer.getType());
  mlir::Value flat = mlir::memref::CollapseShapeOp::create(
      b, loc, buffer, llvm::ArrayRef<mlir::ReassociationIndices>{{0, 1}});
  if (type.hasStaticShape())
    flat = mlir::memref::CastOp::create(
        b, loc,
        mlir::MemRefType::get({mlir::ShapedType::kDynamic},
                              type.getElementType()),
        flat);
  return flat;
}

/// The type's name as MLIR prints it (`f16`, `bf16`, `f32`), for kernel
/// symbol names.
inline std::string getTypeName(mlir::FloatType type) {
  std::string name;
  llvm::raw_string_ostream os(name);
  type.print(os);
  return name;
}

/// Why activation and weight scale groups of these sizes do not suit a
/// kernel that walks `inChannels` in steps of `stepChannels`, or empty.
inline std::string checkScaleGroups(int64_t actScaleGroup,
                                    int64_t weightScaleGroup,
                                    int64_t inChannels, int64_t stepChannels) {
  for (auto [what, group] : {std::pair<const char *, int64_t>{
                                 "activation", actScaleGroup},
                             {"weight", weightScaleGroup}}) {
    if (group <= 0 || group % stepChannels != 0 || inChannels % group != 0)
      return llvm::formatv("{0} scale group of {1} channels is not a multiple "
                           "of {2} that divides {3} input channels",
                           what, group, stepChannels, inChannels)
          .str();
  }
  return "";
}

/// Why the kernels cannot take scales of `scaleType` or write a result of
/// `resultType`, or empty.
inline std::string checkScaleAndResultTypes(mlir::FloatType scaleType,
                                            mlir::FloatType resultType) {
  if (!scaleType.isF16() && !scaleType.isBF16() && !scaleType.isF32())
    return "scales must be f16, bf16 or f32";
  if (!resultType.isF16() && !resultType.isF32())
    return "the result must be f16 or f32";
  return "";
}

/// The bits of 1.5 * 2^23: an mma that accumulates an i32 sum of magnitude
/// below 2^22 onto them leaves the bits of 1.5 * 2^23 plus that sum,
/// exactly, as an f32 (KernelEmitter::getMagicSums and sumFromMagicBits).
inline constexpr int32_t kMagicBits = 0x4B400000;
/// 1.5 * 2^23 as an f32.
inline constexpr float kMagic = 12582912.0f;

/// A builder and location with the constants and arithmetic every kernel
/// body needs.
class KernelEmitter {
protected:
  KernelEmitter(mlir::OpBuilder &builder, mlir::Location loc)
      : b(builder), loc(loc) {}

  mlir::Value index(int64_t value) {
    return mlir::arith::ConstantIndexOp::create(b, loc, value);
  }
  mlir::Value i32(int64_t value) {
    return mlir::arith::ConstantIntOp::create(b, loc, b.getI32Type(), value);
  }
  mlir::Value f32(float value) {
    return mlir::arith::ConstantFloatOp::create(b, loc, b.getF32Type(),
                                                llvm::APFloat(value));
  }
  mlir::Value add(mlir::Value lhs, mlir::Value rhs) {
    return mlir::arith::AddIOp::create(b, loc, lhs, rhs);
  }
  mlir::Value mul(mlir::Value lhs, mlir::Value rhs) {
    return mlir::arith::MulIOp::create(b, loc, lhs, rhs);
  }
  mlir::Value div(mlir::Value lhs, int64_t rhs) {
    return mlir::arith::DivUIOp::create(b, loc, lhs, index(rhs));
  }
  mlir::Value rem(mlir::Value lhs, int64_t rhs) {
    return mlir::arith::RemUIOp::create(b, loc, lhs, index(rhs));
  }
  mlir::Value min(mlir::Value lhs, mlir::Value rhs) {
    return mlir::arith::MinUIOp::create(b, loc, lhs, rhs);
  }
  mlir::Value less(mlir::Value lhs, mlir::Value rhs) {
    return mlir::arith::CmpIOp::create(b, loc, mlir::arith::CmpIPredicate::ult,
                                       lhs, rhs);
  }
  /// `value` as f32 (scales may be f16, bf16 or f32).
  mlir::Value toF32(mlir::Value value) {
    if (value.getType().isF32())
      return value;
    return mlir::arith::ExtFOp::create(b, loc, b.getF32Type(), value);
  }

  /// The first `bytes` bytes of the dynamic shared memory
  /// (declareDynamicSharedMemory), as a workgroup memref of i8.
  mlir::Value getDynamicSharedMemory(int64_t bytes) {
    auto workgroup = mlir::gpu::AddressSpaceAttr::get(
        b.getContext(), mlir::gpu::AddressSpace::Workgroup);
    mlir::Value base = mlir::memref::GetGlobalOp::create(
        b, loc,
        mlir::MemRefType::get({0}, b.getI8Type(), mlir::AffineMap(), workgroup),
        kDynamicSharedMemoryName);
    return mlir::memref::ReinterpretCastOp::create(
        b, loc,
        mlir::MemRefType::get({bytes}, b.getI8Type(), mlir::AffineMap(),
                              workgroup),
        base, /*offset=*/0, llvm::ArrayRef<int64_t>{bytes},
        llvm::ArrayRef<int64_t>{1});
  }

  /// A view of the 1-D i8 `buffer` from byte `offset` as `elements` of
  /// `element`, in the buffer's memory space.
  mlir::Value viewAs(mlir::Value buffer, int64_t offset, int64_t elements,
                     mlir::Type element) {
    auto type = mlir::cast<mlir::MemRefType>(buffer.getType());
    return mlir::memref::ViewOp::create(
        b, loc,
        mlir::MemRefType::get({elements}, element, mlir::AffineMap(),
                              type.getMemorySpace()),
        buffer, index(offset), mlir::ValueRange());
  }

  /// The i32 `word` as the vector<4xi8> that dp4a and mma.sync take.
  mlir::Value asBytes(mlir::Value word) {
    return mlir::LLVM::BitcastOp::create(
        b, loc, mlir::VectorType::get({4}, b.getI8Type()), word);
  }
  /// Builds the constants of splitNibbles and packNibbles; once per kernel,
  /// before them.
  void emitNibbleConstants() {
    highNibbles = i32(0xF0F0F0F0);
    nibbleShift = i32(4);
    lowNibbles = i32(0x0F0F0F0F);
  }
  /// The low and high nibbles of an interleaved INT4 weight word
  /// (runtime::packInt4Interleaved) as four signed bytes each, sixteen times
  /// the codes: `(word << 4) & 0xF0F0F0F0` and `word & 0xF0F0F0F0`.
  std::pair<mlir::Value, mlir::Value> splitNibbles(mlir::Value word) {
    mlir::Value low = mlir::arith::AndIOp::create(
        b, loc, mlir::arith::ShLIOp::create(b, loc, word, nibbleShift),
        highNibbles);
    mlir::Value high = mlir::arith::AndIOp::create(b, loc, word, highNibbles);
    return {asBytes(low), asBytes(high)};
  }

  /// The i32 words `low` and `high` of four signed byte codes each, in
  /// [-8, 7], as one word of eight nibbles in runtime::packInt4Interleaved's
  /// order (the order splitNibbles reads), byte i holding `low`'s byte i in
  /// its low and `high`'s in its high nibble:
  /// `(low & 0x0F0F0F0F) | ((high << 4) & 0xF0F0F0F0)`.
  mlir::Value packNibbles(mlir::Value low, mlir::Value high) {
    mlir::Value lowCodes = mlir::arith::AndIOp::create(b, loc, low, lowNibbles);
    mlir::Value highCodes = mlir::arith::AndIOp::create(
        b, loc, mlir::arith::ShLIOp::create(b, loc, high, nibbleShift),
        highNibbles);
    return mlir::arith::OrIOp::create(b, loc, lowCodes, highCodes);
  }

  /// Builds the constants of getMagicSums and sumFromMagicBits; before
  /// them, where they dominate their uses.
  void emitMagicConstants() {
    auto type = mlir::VectorType::get({2, 2}, b.getI32Type());
    magicSums = mlir::arith::ConstantOp::create(
        b, loc,
        mlir::DenseElementsAttr::get(type, b.getI32IntegerAttr(kMagicBits)));
    magic = f32(kMagic);
  }
  /// An m16n8 mma accumulator (vector<2x2xi32>) of kMagicBits, for sums
  /// that sumFromMagicBits reads back.
  mlir::Value getMagicSums() const { return magicSums; }
  /// The i32 sum accumulated onto kMagicBits whose bits are `bits`, as an
  /// f32: exact for sums below 2^22 in magnitude.
  mlir::Value sumFromMagicBits(mlir::Value bits) {
    return mlir::arith::SubFOp::create(
        b, loc, mlir::arith::BitcastOp::create(b, loc, b.getF32Type(), bits),
        magic);
  }

  mlir::OpBuilder &b;
  mlir::Location loc;

private:
  /// The constants of splitNibbles and packNibbles: 0xF0F0F0F0, 0x0F0F0F0F
  /// and 4.
  mlir::Value highNibbles, lowNibbles, nibbleShift;
  /// The constants of getMagicSums and sumFromMagicBits.
  mlir::Value magicSums, magic;
};

} // namespace lowbit

#endif // LOWBIT_LIB_CONVERSION_LOWBITTONVGPU_KERNELEMITTER_H
