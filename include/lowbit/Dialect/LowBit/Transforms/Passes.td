//===- Passes.td - lowbit transformation passes ------------*- tablegen -*-===//
//
// Declares the passes that transform lowbit IR. Every pass is declared here
// with its options and implemented in one file of lib/Dialect/LowBit/Transforms.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_TD
#define LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def Roofline : Pass<"lowbit-roofline", "::mlir::ModuleOp"> {
  let summary = "Predict the time of every op from a hardware roofline";
  let description = [{
    Counts, for every op of every function, the arithmetic by precision
    (fp32, fp16, bf16, int8, int4; dequantization and scale epilogues
    included), the bytes moved through device memory (weights once at their
    packed size with their scales, the KV cache at its bit width with its
    group scales, activations in and out) and, for collectives, the bytes
    each rank sends over the link (a ring all-reduce sends 2(N-1)/N of the
    data, all-gather and reduce-scatter (N-1)/N; compressed wire formats
    count their blocks and scales). With the peak rates of a hardware model
    it reports the arithmetic intensity, the roof that binds (memory, the
    compute peak of a precision, or the link) and the predicted time
    `max(ops / peak, bytes / bandwidth)`, then per function the totals and
    the memory footprint of the weights and of the KV cache.

    A precision without a native peak on the machine runs at the next wider
    one: int4 -> int8 -> fp16 -> fp32, bf16 -> fp32. Hopper (sm_90) has no
    INT4 tensor-core rate, so W4/A4 work is predicted at the INT8 rate.

    Hardware models are JSON files (docs/roofline.md gives the format):
    `hw` names one of `share/lowbit/hardware` (or of `hw-dir`) or is a path
    to a file. Dynamic token rows are bound by the options: at prefill a
    sequence has `seq` tokens and attends causally from position 0; at
    decode it has one new token that attends to `context` positions. Every
    activation's rows are multiplied by `batch`.

    The pass leaves the IR unchanged; the report goes to `output` (standard
    output by default) as a text table, CSV or JSON.

    ```
    lowbit-opt model.mlir -o /dev/null \
        --lowbit-roofline="hw=h100-sxm phase=decode batch=1 context=2048"
    ```
  }];
  let options = [
    Option<"hardware", "hw", "std::string", "\"\"",
           "hardware model: a name in the hardware directory (h100-sxm, "
           "h200-sxm, a100-sxm-80gb, l4, rtx-4090, neoverse-n1, cortex-a76) "
           "or a path to a JSON file">,
    Option<"hardwareDir", "hw-dir", "std::string", "\"\"",
           "directory of named hardware models (default: "
           "share/lowbit/hardware next to the tool's bin directory)">,
    Option<"phase", "phase", "std::string", "\"auto\"",
           "prefill, decode, or auto: @prefill at prefill, @decode at "
           "decode, any other function at both">,
    Option<"batch", "batch", "int64_t", "1",
           "independent sequences processed together">,
    Option<"promptTokens", "seq", "int64_t", "512",
           "prompt tokens per sequence at prefill">,
    Option<"contextLength", "context", "int64_t", "512",
           "KV positions each sequence attends to at decode (the new token "
           "included)">,
    Option<"format", "format", "std::string", "\"table\"",
           "report format: table, csv or json">,
    Option<"output", "output", "std::string", "\"-\"",
           "file the report is written to ('-': standard output)">
  ];
}

def QuantizeWeights : Pass<"lowbit-quantize-weights", "::mlir::ModuleOp"> {
  let summary = "Store the weights of linear layers in 4 or 8 bits";
  let description = [{
    Rewrites `lowbit.linear %x, %w` with `%w` a `lowbit.weight` of the
    decoder layers (`blk.*`; the LM head too with `include-lm-head`) into a
    linear over `lowbit.dequantize(lowbit.quantize(%w))`: the weight is
    stored as a `!lowbit.qtensor` of `bits`-bit codes with symmetric
    round-to-nearest absmax scales, one per output channel and block
    (`group-size=0`) or per group of `group-size` input channels. This is
    the W4A16/W8A16 form; `lowbit-quantize-activations` turns it into an
    integer matmul. Channels are cut into blocks of `block-size`, which must
    divide every quantized layer's input channels.
  }];
  let options = [
    Option<"bits", "bits", "int64_t", "4", "weight bits: 4 or 8">,
    Option<"groupSize", "group-size", "int64_t", "128",
           "input channels per scale; 0 gives one scale per output channel "
           "and block">,
    Option<"blockSize", "block-size", "int64_t", "128",
           "channels per mixed-precision block">,
    Option<"includeLMHead", "include-lm-head", "bool", "false",
           "also quantize the output projection (output.weight)">
  ];
}

def QuantizeActivations : Pass<"lowbit-quantize-activations",
                               "::mlir::ModuleOp"> {
  let summary = "Quantize the inputs of weight-quantized linear layers";
  let description = [{
    Rewrites every `lowbit.linear %x, lowbit.dequantize(%qw)` into
    `lowbit.matmul(lowbit.quantize(%x), %qw)`: activations are quantized at
    run time per token, one scale per block, in the weight's block size and
    channel permutation, and the product accumulates in INT32 with a scale
    epilogue. Blocks are `bits` wide unless the linear carries a
    `lowbit.activation_bits` array (one width per block, set by FMPQ).
  }];
  let options = [
    Option<"bits", "bits", "int64_t", "8", "activation bits: 4 or 8">
  ];
}

def QuantizeKV : Pass<"lowbit-quantize-kv", "::mlir::ModuleOp"> {
  let summary = "Store the KV caches in 4, 8 or 16 bits";
  let description = [{
    Changes every `!lowbit.kv_cache` of the module (function signatures and
    operations) to `bits` bits; for 4 and 8 bits every `group-size`
    consecutive elements of a head vector share one f16 scale, so keys and
    values are quantized per token, per head and per group.
  }];
  let options = [
    Option<"bits", "bits", "int64_t", "4", "KV cache bits: 4, 8 or 16">,
    Option<"groupSize", "group-size", "int64_t", "32",
           "elements of a head vector per scale (divides head_dim)">
  ];
}

#endif // LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_TD
