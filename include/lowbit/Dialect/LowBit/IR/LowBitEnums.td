//===- LowBitEnums.td - lowbit enumerations ----------------*- tablegen -*-===//
//
// Enumerations shared by lowbit attributes: how scales are laid out over a
// quantized tensor and which element formats a compressed collective may put
// on the wire.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_LOWBIT_IR_LOWBITENUMS_TD
#define LOWBIT_DIALECT_LOWBIT_IR_LOWBITENUMS_TD

include "mlir/IR/EnumAttr.td"

def LowBit_ScalePerToken : I32EnumAttrCase<"PerToken", 0, "per_token">;
def LowBit_ScalePerChannel : I32EnumAttrCase<"PerChannel", 1, "per_channel">;
def LowBit_ScalePerGroup : I32EnumAttrCase<"PerGroup", 2, "per_group">;

/// Where the scales of a quantized [rows, channels] tensor live.
def LowBit_ScaleGranularity : I32EnumAttr<"ScaleGranularity",
    "granularity of the scales of a quantized tensor",
    [LowBit_ScalePerToken, LowBit_ScalePerChannel, LowBit_ScalePerGroup]> {
  let cppNamespace = "::lowbit";
  let genSpecializedAttr = 0;
}

def LowBit_WireFP4E2M1 : I32EnumAttrCase<"FP4E2M1", 0, "fp4_e2m1">;
def LowBit_WireFP5E2M2 : I32EnumAttrCase<"FP5E2M2", 1, "fp5_e2m2">;
def LowBit_WireFP5E3M1 : I32EnumAttrCase<"FP5E3M1", 2, "fp5_e3m1">;
def LowBit_WireINT4 : I32EnumAttrCase<"INT4", 3, "int4">;
def LowBit_WireINT8 : I32EnumAttrCase<"INT8", 4, "int8">;

/// Element formats of block-quantized data sent by a compressed collective.
def LowBit_WireElement : I32EnumAttr<"WireElement",
    "element format of block-quantized collective data",
    [LowBit_WireFP4E2M1, LowBit_WireFP5E2M2, LowBit_WireFP5E3M1,
     LowBit_WireINT4, LowBit_WireINT8]> {
  let cppNamespace = "::lowbit";
  let genSpecializedAttr = 0;
}

#endif // LOWBIT_DIALECT_LOWBIT_IR_LOWBITENUMS_TD
