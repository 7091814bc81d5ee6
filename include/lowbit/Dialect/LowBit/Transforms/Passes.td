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
    output by default) as a text table, CSV or JSON, or as an SVG roofline
    plot (`format=svg`): log-log axes of operations per byte and operations
    per second, the memory roof and one labelled roof per native compute
    peak, and one point per op at (its operations / its bytes, its operations
    / its predicted time), coloured by phase, with the op's name, location
    and shape as hover title. Ops without operations or without memory
    traffic are not drawn; a note in the plot counts them.

    ```
    lowbit-opt model.mlir -o /dev/null \
        --lowbit-roofline="hw=h100-sxm phase=decode batch=1 context=2048"
    lowbit-opt model.mlir -o /dev/null \
        --lowbit-roofline="hw=h100-sxm seq=2048 context=2048 format=svg output=roofline.svg"
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
           "report format: table, csv, json or svg (a roofline plot)">,
    Option<"output", "output", "std::string", "\"-\"",
           "file the report is written to ('-': standard output)">
  ];
}

def ImportCalibration : Pass<"lowbit-import-calibration",
                             "::mlir::ModuleOp"> {
  let summary = "Attach calibration statistics to the linear layers";
  let description = [{
    Reads a calibration file written by `lowbit-run calibrate` (format in
    docs/quantization.md) and attaches to every `lowbit.linear` whose weight
    is a `lowbit.weight` the statistics of that weight's layer as a
    `lowbit.calibration = #lowbit.channel_stats<...>` attribute. A layer the
    file does not describe, or describes with another number of channels,
    is an error.

    In a tensor-parallel module the weight may be a rank's `lowbit.shard`.
    A row-parallel layer sees only its rank's slice of the input channels,
    and every rank runs the same module, so local channel i gets the
    largest absmax and percentile and the mean of the mean squares of
    channel i of all ranks' slices: FMPQ then picks one permutation and one
    block layout that serve every rank.
  }];
  let options = [
    Option<"file", "file", "std::string", "\"\"",
           "calibration file (JSON) to read">
  ];
}

def FMPQ : Pass<"lowbit-fmpq", "::mlir::ModuleOp"> {
  let summary = "Group outlier channels into INT8 blocks by channel permutation";
  let description = [{
    Fine-grained mixed-precision quantization (COMET's FMPQ) of activations.
    For every activation that feeds linear layers of the decoder blocks
    (weights `blk.*`, which must be calibrated), a channel is
    an outlier when its calibration statistic (`statistic`: absmax or the
    percentile) exceeds `threshold` times the median over the channels.
    The pass computes a permutation that puts the outlier channels first,
    largest first, so that they fill as few blocks of `block-size` channels
    as possible; those blocks are INT8, the rest INT4, and at most
    `max-int8-fraction` of the blocks may be INT8 (the largest outliers win
    when there are more; a warning says when outliers are left in INT4
    blocks). With `sort-channels` the INT4 channels follow in
    decreasing order of the statistic, so each block's per-token scale fits
    channels of similar range.

    The permutation becomes explicit IR that is exactly equivalent to the
    input: a `lowbit.permute_channels` of the activation and the same
    permutation of the input columns of each consuming weight. Each linear
    records the chosen blocks as `lowbit.activation_layout =
    #lowbit.blocks<block-size, [8, 4, ...], per_token>` (in permuted order),
    which weight and activation quantization follow. Linears sharing an
    input share one permutation. `lowbit-fold-permutations` then moves the
    permutations into their producers where that is free.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", "128",
           "channels per mixed-precision block">,
    Option<"statistic", "statistic", "std::string", "\"absmax\"",
           "calibration statistic that finds outliers: absmax or percentile">,
    Option<"threshold", "threshold", "double", "8.0",
           "a channel is an outlier above this multiple of the median">,
    Option<"maxInt8Fraction", "max-int8-fraction", "double", "0.25",
           "largest fraction of blocks that may be INT8">,
    Option<"sortChannels", "sort-channels", "bool", "false",
           "order the INT4 channels by decreasing statistic">
  ];
}

def FoldPermutations : Pass<"lowbit-fold-permutations", "::mlir::ModuleOp"> {
  let summary = "Fold channel permutations of activations into their producers";
  let description = [{
    Moves every `lowbit.permute_channels` of an activation into the op that
    produces the activation, where that is exactly equivalent and free at
    run time:

    * `rms_norm`: the norm writes its output in permuted order
      (`output_permutation`) with its weight permuted at compile time;
    * `swiglu`: the permutation moves to both operands;
    * a floating-point `linear`: the rows (output channels) of its weight
      are permuted at compile time.

    A permutation is moved only when its operand has no other user. What
    cannot move (e.g. the output of attention, whose channels are heads)
    stays as a runtime permutation, which activation quantization fuses
    into its gather.
  }];
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
    divide every quantized layer's input channels; a linear that FMPQ gave a
    `lowbit.activation_layout` uses that layout's blocks instead, and with
    `int8-outlier-blocks` the weight blocks facing INT8 activation blocks are
    stored in 8 bits.

    The weight may be a `lowbit.weight` or a permutation of one (FMPQ).
    `clip-search` replaces plain absmax scales by the clipped scale that
    minimises each scale group's rounding error, weighted by the calibrated
    mean square of each input channel when the linear carries
    `lowbit.calibration` (activation-aware clipping, as AWQ's clipping step
    and llama.cpp's importance matrix do).

    `asymmetric` (4-bit weights only) stores a zero point per scale group
    beside its scale: the group's range [min(w, 0), max(w, 0)] is spread
    over the 16 unsigned codes, which fits weights whose groups are not
    centred on zero better than symmetric codes in [-7, 7].
  }];
  let options = [
    Option<"bits", "bits", "int64_t", "4", "weight bits: 4 or 8">,
    Option<"groupSize", "group-size", "int64_t", "128",
           "input channels per scale; 0 gives one scale per output channel "
           "and block">,
    Option<"blockSize", "block-size", "int64_t", "128",
           "channels per mixed-precision block">,
    Option<"includeLMHead", "include-lm-head", "bool", "false",
           "also quantize the output projection (output.weight)">,
    Option<"int8OutlierBlocks", "int8-outlier-blocks", "bool", "false",
           "store weight blocks that face INT8 activation blocks in 8 bits">,
    Option<"clipSearch", "clip-search", "bool", "false",
           "search clipped scales that minimise the (activation-weighted) "
           "rounding error">,
    Option<"asymmetric", "asymmetric", "bool", "false",
           "store a zero point per scale group (4-bit weights only)">
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
    `lowbit.activation_layout` (set by FMPQ), whose block widths it takes.

    A runtime `lowbit.permute_channels` of the input is fused into the
    quantization: the activation and weight layouts both carry the
    permutation (`perm = [...]`) and the matmul reads the quantized blocks
    in permuted order, so no separate permutation kernel runs.
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
    values are quantized per token, per head and per group. With
    `asymmetric` each group also keeps a zero point (codes spread over the
    group's range rather than symmetric around zero).
  }];
  let options = [
    Option<"bits", "bits", "int64_t", "4", "KV cache bits: 4, 8 or 16">,
    Option<"groupSize", "group-size", "int64_t", "32",
           "elements of a head vector per scale (divides head_dim)">,
    Option<"asymmetric", "asymmetric", "bool", "false",
           "give every 4- or 8-bit group a zero point">
  ];
}

def TensorParallel : Pass<"lowbit-tensor-parallel", "::mlir::ModuleOp"> {
  let summary = "Shard a Llama module across tensor-parallel ranks";
  let description = [{
    Rewrites a floating-point Llama module (as `lowbit-import` writes it)
    into the module every one of `tp` ranks runs (SPMD), in the Megatron
    layout, and adds the rank group `@tp`:

    - attention: the q, k and v projections are column-parallel (each rank
      takes whole heads: `lowbit.shard ... along 0` of their weights), the
      rotary embedding, the KV cache (`heads` divided by `tp`) and attention
      stay local, and the output projection is row-parallel (`along 1`)
      followed by a `lowbit.all_reduce` of the partial results;
    - the MLP: gate and up column-parallel, SwiGLU local, down row-parallel
      and an all-reduce;
    - the token embedding is split along the model dimension and gathered
      (`lowbit.all_gather ... along 1`), the LM head along the vocabulary
      and its logits gathered, so every rank returns the whole logits;
    - norms and residual additions run replicated on every rank.

    Query heads must divide by `tp`. KV heads are split when they divide by
    `tp` and replicated when `tp` is a multiple of them (each rank keeps the
    one KV head its query heads read; `lowbit.shard ... replicas R`); other
    counts are refused. The pass runs before quantization; calibration,
    FMPQ and the quantization passes then work on each rank's shapes.
  }];
  let options = [
    Option<"tp", "tp", "int64_t", "2", "number of tensor-parallel ranks">
  ];
}

def CompressCollectives : Pass<"lowbit-compress-collectives",
                               "::mlir::ModuleOp"> {
  let summary = "Block-quantize the partial results tensor parallelism sends";
  let description = [{
    Gives every `lowbit.all_reduce` of the module a wire format
    (`#lowbit.wire`): each rank block-quantizes its partial result to
    `format` with blocks of `block-size` elements and one `scale` per block
    before it crosses the link, as in "Communication Compression for Tensor
    Parallel LLM Inference". With `algorithm=all-gather` the all-reduce
    stays one op (a quantized all-gather followed by a local sum); with
    `algorithm=reduce-scatter` it becomes a quantized `reduce_scatter` and
    a quantized `all_gather` of the reduced slices, which sends
    2 (N - 1) / N instead of N - 1 partial results per rank but rounds twice.

    By default `@decode` is left alone: one token's partial results are a
    few kilobytes, latency rather than bandwidth bound, so compression does
    not pay there on fast links (`compress-decode` turns it on).
    `exclude-layers` keeps the all-reduces of the listed decoder layers
    (numbered from 0, two all-reduces per layer in program order) exact;
    `layer-formats` gives listed layers a format of their own, each entry
    `LAYER:ELEMENT[-BLOCK[-SCALE]]` with the block size and scale of the
    other options where left out or empty (`layer-formats=0:int8-32,31:fp5_e2m2`
    keeps the first and last layers' partial results finer;
    `3:int4--e8m0` changes element and scale).
  }];
  let options = [
    Option<"format", "format", "std::string", "\"fp4_e2m1\"",
           "wire element: fp4_e2m1, fp5_e2m2, fp5_e3m1, int4 or int8">,
    Option<"blockSize", "block-size", "int64_t", "16",
           "elements per wire block: 8, 16 or 32">,
    Option<"scale", "scale", "std::string", "\"f16\"",
           "scale type: f16, bf16, f32 or e8m0">,
    Option<"algorithm", "algorithm", "std::string", "\"all-gather\"",
           "all-gather (quantized all-gather, local sum) or reduce-scatter "
           "(quantized reduce-scatter, then quantized all-gather)">,
    Option<"compressDecode", "compress-decode", "bool", "false",
           "also compress the collectives of @decode">,
    ListOption<"excludeLayers", "exclude-layers", "int64_t",
               "decoder layers whose all-reduces stay uncompressed">,
    ListOption<"layerFormats", "layer-formats", "std::string",
               "decoder layers with a wire format of their own: "
               "LAYER:ELEMENT[-BLOCK[-SCALE]]">
  ];
}

#endif // LOWBIT_DIALECT_LOWBIT_TRANSFORMS_PASSES_TD
