//===- KernelEmitter.h - shared helpers of the GPU kernel builders -*- C++ -*-===//
//
// The decode and tensor-core kernel builders emit the same small pieces:
// constants, index arithmetic and scale conversions at one builder and
// location. KernelEmitter holds them; each builder derives from it.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_LIB_CONVERSION_LOWBITTONVGPU_KERNELEMITTER_H
#define LOWBIT_LIB_CONVERSION_LOWBITTONVGPU_KERNELEMITTER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

#include <string>

namespace lowbit {

/// The type's name as MLIR prints it (`f16`, `bf16`, `f32`), for kernel
/// symbol names.
inline std::string getTypeName(mlir::FloatType type) {
  std::string name;
  llvm::raw_string_ostream os(name);
  type.print(os);
  return name;
}

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
  /// `value` as f32 (scales may be f16, bf16 or f32).
  mlir::Value toF32(mlir::Value value) {
    if (value.getType().isF32())
      return value;
    return mlir::arith::ExtFOp::create(b, loc, b.getF32Type(), value);
  }

  mlir::OpBuilder &b;
  mlir::Location loc;
};

} // namespace lowbit

#endif // LOWBIT_LIB_CONVERSION_LOWBITTONVGPU_KERNELEMITTER_H
