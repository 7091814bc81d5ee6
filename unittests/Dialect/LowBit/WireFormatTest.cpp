//===- WireFormatTest.cpp - compressed collective wire format tests -------===//
//
// Checks the bits per element and per block of every wire format, which the
// communication cost of compressed collectives is computed from.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/IR/LowBitDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/MLIRContext.h"
#include "gtest/gtest.h"

using namespace mlir;
using namespace lowbit;

namespace {

TEST(WireFormatTest, BitsPerElementAndBlock) {
  MLIRContext context;
  context.loadDialect<LowBitDialect>();
  Builder builder(&context);
  struct Case {
    WireElement element;
    int64_t blockSize;
    Type scaleType;
    int64_t elementBits;
    int64_t blockBits;
  } cases[] = {
      {WireElement::FP4E2M1, 16, builder.getF16Type(), 4, 4 * 16 + 16},
      {WireElement::FP5E2M2, 32, builder.getF16Type(), 5, 5 * 32 + 16},
      {WireElement::FP5E3M1, 8, Float8E8M0FNUType::get(&context), 5, 5 * 8 + 8},
      {WireElement::INT4, 32, builder.getBF16Type(), 4, 4 * 32 + 16},
      {WireElement::INT8, 16, builder.getF32Type(), 8, 8 * 16 + 32},
  };
  for (const Case &c : cases) {
    auto wire = WireFormatAttr::get(&context, c.element, c.blockSize,
                                    c.scaleType);
    EXPECT_EQ(wire.getElementBits(), c.elementBits)
        << stringifyWireElement(c.element).str();
    EXPECT_EQ(wire.getBlockBits(), c.blockBits)
        << stringifyWireElement(c.element).str();
  }
}

} // namespace
