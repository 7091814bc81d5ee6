//===- LowBitDialect.td - lowbit dialect definition --------*- tablegen -*-===//
//
// The lowbit dialect describes a Llama-family model at graph level together
// with the quantization decisions made for it: mixed INT4/INT8 channel blocks,
// channel permutations, 4-bit KV caches and compressed collectives.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_LOWBIT_IR_LOWBITDIALECT_TD
#define LOWBIT_DIALECT_LOWBIT_IR_LOWBITDIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def LowBit_Dialect : Dialect {
  let name = "lowbit";
  let cppNamespace = "::lowbit";
  let summary = "Low-bit quantized Llama inference";
  let description = [{
    The `lowbit` dialect captures a Llama-family model at graph level
    (RMSNorm, rotary embedding, SwiGLU, grouped-query attention, linear layers)
    and the decisions of a quantizing compiler for it:

    * fine-grained mixed-precision blocks (FMPQ): a tensor's channel axis is cut
      into blocks of `block size` channels, each stored in 4 or 8 bits, after a
      channel permutation has gathered the outlier channels into the 8-bit
      blocks;
    * dynamic per-token, per-block activation quantization and a mixed-precision
      matmul with INT32 accumulation and a scale epilogue;
    * a KV cache stored in 4, 8 or 16 bits with group scales;
    * compressed collectives for tensor parallelism whose wire format is a
      block-quantized element type (FP4, FP5, INT4, INT8).
  }];
  let useDefaultAttributePrinterParser = 1;
  let useDefaultTypePrinterParser = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let extraClassDeclaration = [{
    /// Registers the attributes of LowBitAttrs.td.
    void registerAttributes();
    /// Registers the types of LowBitTypes.td.
    void registerTypes();
  }];
}

/// Base class of every lowbit operation.
class LowBit_Op<string mnemonic, list<Trait> traits = []>
    : Op<LowBit_Dialect, mnemonic, traits>;

/// Base class of every lowbit attribute.
class LowBit_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<LowBit_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

/// Base class of every lowbit type.
class LowBit_Type<string name, string typeMnemonic, list<Trait> traits = []>
    : TypeDef<LowBit_Dialect, name, traits> {
  let mnemonic = typeMnemonic;
}

#endif // LOWBIT_DIALECT_LOWBIT_IR_LOWBITDIALECT_TD
