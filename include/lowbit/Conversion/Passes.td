//===- Passes.td - lowbit conversion passes ----------------*- tablegen -*-===//
//
// Passes that turn the quantized lowbit graph into code for a target.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_CONVERSION_PASSES_TD
#define LOWBIT_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def GenerateNVGPUKernels : Pass<"lowbit-generate-nvgpu-kernels",
                                "::mlir::ModuleOp"> {
  let summary = "Generate NVIDIA GPU kernels for quantized matmuls, "
                "compressed collectives, prompt attention over KV caches "
                "and f32 linears";
  let description = [{
    For every `lowbit.matmul` of INT4 weights, the pass generates GPU kernels
    specialised to its shape and scale groups into the `gpu.module
    @lowbit_kernels` (created with an `#nvvm.target` for `chip`) and records
    them on the matmul as `lowbit.gpu_kernels`, an array of symbol
    references. Matmuls of one shape share their kernels.

    Two kinds of kernel are generated (docs/gpu.md gives their arguments,
    launch geometry and the interleaved 4-bit weight layout both read):

    - Decode kernels, for few tokens (`max-decode-rows` at most per thread
      block; more tokens take more thread blocks), every weight byte read
      once per thread block: products on `dp4a` up to 4 tokens, and from 8
      on tensor cores (`mma.sync` s8, the weights as the 16-row operand)
      where both scale groups are multiples of 128 channels, else on `dp4a`
      up to 16. One kernel is generated for each power of two up to
      `max-decode-rows`; the runtime picks the smallest that holds the
      step's tokens.
    - Two tensor-core kernels, for prefill and for larger decode batches,
      with result tiles of 64 or 128 tokens by 128 output channels (the
      first for steps whose thread blocks fit one wave, where the walk over
      the input channels bounds the time), `cp.async` copies
      `pipeline-stages` steps
      ahead into swizzled shared memory, `ldmatrix` and `mma.sync` m16n8k32
      on INT8 tensor cores with the 4-bit weights unpacked in registers, and
      a dequantizing f32 epilogue per scale group. On sm_80 and sm_89,
      which have s4 tensor cores, the steps of INT4 activation blocks run
      on `mma.sync` m16n8k64 s4 instead, the activations packed into
      nibbles in registers and the weights taken as they are stored.

    Activation blocks are read as one byte per code whatever their width
    (INT4 blocks hold codes in [-7, 7]); the permutation has been applied
    by activation quantization. Unsupported operands (INT8 weight blocks, scale groups that
    are not a multiple of 32 channels) are errors that name the matmul.

    Every compressed `lowbit.all_reduce` (a `#lowbit.wire` format) gets two
    kernels for its format, data type and number of ranks: one packs the
    rank's partial result into a wire message, one decodes the gathered
    messages of all ranks and sums them in rank order
    (runtime/include/lowbit/Runtime/WireFormat.h defines the bytes; the
    gather between them is NCCL's). Compressed `reduce_scatter` and
    `all_gather` and wire formats with f32 scales have no kernels yet and
    are errors.

    Every `lowbit.kv_attention` over a 4- or 8-bit cache whose heads and
    scale groups the tensor-core prefill attention kernel takes gets that
    kernel (lowbit-define-gpu-prefill-attention launches it in compiled
    models); other attentions get none.

    Every f32 `lowbit.linear` (an LM head left unquantized) whose output
    channels are a multiple of 128 and input channels of 16 gets the tiled
    linear kernel of its steps of many rows (lowbit-define-gpu-linears
    launches it in compiled models).
  }];
  let options = [
    Option<"chip", "chip", "std::string", "\"sm_90\"",
           "target GPU: sm_80, sm_89 or sm_90">,
    Option<"maxDecodeRows", "max-decode-rows", "int64_t", "32",
           "most tokens one decode thread block computes (a power of two)">,
    Option<"pipelineStages", "pipeline-stages", "int64_t", "3",
           "steps of the tensor-core kernel in flight at once (2 to 4)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::math::MathDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def DefineGPUWireAllReduces
    : Pass<"lowbit-define-gpu-wire-all-reduces", "::mlir::ModuleOp"> {
  let summary = "Define the compressed all-reduce declarations of "
                "lowbit-convert-to-cpu{isa=nvgpu} with the wire kernels and "
                "an all-gather of their messages";
  let description = [{
    lowbit-convert-to-cpu{isa=nvgpu} leaves every `lowbit.all_reduce` with a
    `#lowbit.wire` format as a call of a private declaration marked
    `lowbit.gpu_wire_all_reduce` (the format) and `lowbit.ranks` (the
    group's size) that takes the partial results, a workspace and the sum,
    each as bytes. This pass gives it a host body that

    1. launches the pack kernel of the format (lowbit-generate-nvgpu-kernels'
       `wire_pack_*`, one thread per wire block) on this rank's partial
       results, writing its message at the start of the workspace;
    2. calls `lowbit_collective_all_gather` on the message, which puts every
       rank's message, in rank order, after it;
    3. launches the decode-and-sum kernel (`wire_sum_*`), which writes the
       sum of the dequantized messages in rank order: the same bits on every
       rank.

    The kernels go into `gpu.module @lowbit_wire_kernels` with an
    `#nvvm.target` for `chip`. Formats with f32 scales have no kernels and
    are refused.
  }];
  let options = [
    Option<"chip", "chip", "std::string", "\"sm_90\"",
           "target GPU: sm_80, sm_89 or sm_90">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def DefineGPUMatmuls : Pass<"lowbit-define-gpu-matmuls", "::mlir::ModuleOp"> {
  let summary = "Define the GPU matmul declarations of "
                "lowbit-convert-to-cpu{isa=nvgpu} with launches of lowbit's "
                "decode and tensor-core matmul kernels";
  let description = [{
    lowbit-convert-to-cpu{isa=nvgpu} leaves the matmuls that lowbit's GPU
    matmul kernels take as calls of private declarations marked
    `lowbit.gpu_matmul`: activation codes and scales, then, for each weight
    that multiplies those activations (one, or a layer's q, k and v, or its
    gate and up), the interleaved INT4 weight codes, their scales and the
    f32 result. This pass generates the kernels of its shapes and scale
    groups (those of lowbit-generate-nvgpu-kernels, docs/gpu.md) into
    `gpu.module @lowbit_matmul_kernels` with an `#nvvm.target` for `chip`,
    and gives the declaration a host body that views its buffers the way
    the kernels read them and launches, by the step's token count:

    - at most `max-decode-tokens`: one launch of the decode kernel for the
      smallest power of two of tokens that holds them, over all the weights
      (every weight byte read once per thread block; `dp4a` up to 4 tokens,
      `mma.sync` s8 from 8 where both scale groups are multiples of 128
      channels, else `dp4a` up to 16);
    - more, while the largest decode kernel runs on tensor cores and its
      weight rows times blocks of tokens stay within 16384 per weight: that
      kernel over up to `decode-token-blocks` blocks of tokens (the grid's
      y), which reads each weight once per block but outruns the
      tensor-core kernel's launches on few output channels (4096 rows: two
      blocks in 18 us against 30 on an H100);
    - more: the tensor-core kernel for each weight (`mma.sync` on INT8
      tensor cores, `cp.async` pipelined `pipeline-stages` deep; on sm_80
      and sm_89 the steps of INT4 activation blocks, per the declaration's
      `lowbit.activation_block_bits`, on s4 tensor cores), with tiles of
      64 tokens while their thread blocks fit one wave (`multiprocessors`
      blocks, one a multiprocessor; 0 takes the chip's usual GPU: 108 for
      sm_80, an A100; 142 for sm_89, an L40S; 132 for sm_90, an H100 or
      H200) and of 128 above, or, for shapes it does not take, the largest
      decode kernel over blocks of tokens.

    The kernels sum in f32 per 32 channels, not per scale segment as the
    CPU kernels do, so results match the reference executor to rounding,
    not bit for bit.
  }];
  let options = [
    Option<"chip", "chip", "std::string", "\"sm_90\"",
           "target GPU: sm_80, sm_89 or sm_90">,
    Option<"maxDecodeTokens", "max-decode-tokens", "int64_t", "32",
           "most tokens one decode thread block computes (a power of two)">,
    Option<"decodeTokenBlocks", "decode-token-blocks", "int64_t", "4",
           "most blocks of tokens (the grid's y) the largest decode kernel "
           "takes, where it runs on tensor cores, before the tensor-core "
           "kernel does (1: one block)">,
    Option<"pipelineStages", "pipeline-stages", "int64_t", "3",
           "steps of the tensor-core kernel in flight at once (2 to 4)">,
    Option<"multiprocessors", "multiprocessors", "int64_t", "0",
           "multiprocessors of the GPU the model will run on, for the "
           "choice of tile heights (0: the chip's usual GPU)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def DefineGPUPrefillAttention : Pass<"lowbit-define-gpu-prefill-attention",
                                      "::mlir::ModuleOp"> {
  let summary = "Define the prompt attention declarations of "
                "lowbit-convert-to-cpu{isa=nvgpu} with launches of lowbit's "
                "tensor-core prefill attention kernel";
  let description = [{
    The attention kernel of lowbit-convert-to-cpu{isa=nvgpu} over a 4- or
    8-bit KV cache calls, for a step of more than one query row, a private
    declaration marked `lowbit.gpu_prefill_attention` (its value: the
    `!lowbit.kv_cache` type) with the query rows, the key and value regions
    of the cache, the position of the first row and the output rows. This
    pass generates the prefill attention kernel of its shape into
    `gpu.module @lowbit_attention_kernels` with an `#nvvm.target` for
    `chip` and gives the declaration a host body that launches it over
    blocks of 64 query rows by heads.

    The kernel is flash attention on TF32 tensor cores (`mma.sync.m16n8k8`):
    each thread block reads every key and value tile once for 64 query rows
    of a head, where the CUDA-core kernel read the whole cache once per row.
    Operands that are not codes go in as two TF32 parts, so the result
    matches the reference executor to rounding, not bit for bit.
  }];
  let options = [
    Option<"chip", "chip", "std::string", "\"sm_90\"",
           "target GPU: sm_80, sm_89 or sm_90">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def DefineGPULinears : Pass<"lowbit-define-gpu-linears", "::mlir::ModuleOp"> {
  let summary = "Define the f32 linear declarations of "
                "lowbit-convert-to-cpu{isa=nvgpu} with launches of lowbit's "
                "tiled linear kernel";
  let description = [{
    The f32 linear kernel of lowbit-convert-to-cpu{isa=nvgpu} (an LM head
    left unquantized) calls, for a step of more than 16 token rows, a
    private declaration marked `lowbit.gpu_linear` with the input rows, the
    transposed weight and the output rows, where the shape suits the tiled
    kernel (output channels a multiple of 128, input channels of 16). This
    pass generates that kernel into `gpu.module @lowbit_linear_kernels` with
    an `#nvvm.target` for `chip` and gives the declaration a host body that
    launches it over tiles of 128 outputs by 64 rows.

    The kernel is a matrix product on CUDA cores in f32: each thread block
    reads every input and weight tile of its output tile once into shared
    memory (two buffers, the next step's read while this one's sum) and
    each thread sums 4 rows by 8 outputs, where the per-thread form of the
    linear read the weights once per 4 rows. Each output sums its input
    channels in order with fused multiply-adds, so results match the
    reference executor to rounding.
  }];
  let options = [
    Option<"chip", "chip", "std::string", "\"sm_90\"",
           "target GPU: sm_80, sm_89 or sm_90">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def OffloadKernelsToGPU : Pass<"lowbit-offload-kernels-to-gpu",
                                "::mlir::ModuleOp"> {
  let summary = "Run the kernels of lowbit-convert-to-cpu on an NVIDIA GPU, "
                "one thread per independent iteration";
  let description = [{
    The kernels lowbit-convert-to-cpu generates mark their independent
    iterations (tokens, output channels, heads, scale groups) as
    `scf.parallel`. This pass turns every outermost parallel nest into a GPU
    kernel launch:

    - the nest is tiled: its dimension with the most constant iterations
      (channels, outputs) spreads over up to `threads-per-block` threads of
      a block (a multiple of 32), the other dimensions over blocks; a nest
      whose extent is known only at run time (tokens) takes one warp per
      block;
    - a nest of at most two dimensions whose iterations contain loops marked
      `lowbit.lane_split` (reductions over channels, positions or a scale
      group) gives each iteration a warp, 4 iterations per block, or, when
      those loops have at least 512 iterations, a block of 2 to 16 warps
      (8 or more steps per thread): the lanes take every 32nd (or 32 x
      warps-th) step, and folded results are combined by `gpu.shuffle xor`
      within a warp, then across warps through workgroup memory in warp
      order;
    - outer tiles map to block ids, iterations within a tile to thread ids
      (`convert-parallel-loops-to-gpu`), and the body is outlined into a
      `gpu.func` (`gpu-kernel-outlining`) in a `gpu.module` with an
      `#nvvm.target` for `chip`;
    - permutation tables (`memref.get_global`) and stack buffers
      (`memref.alloca`, e.g. attention scores) used inside are copied into
      the body, so each thread reads the table from the kernel module and
      gets its own buffer.

    The kernel functions stay on the host: they compute buffer views and
    launch grids and call `gpu.launch_func`; the buffers of the entry points
    are device memory. A memory access left outside every parallel loop
    would run on the host against device memory, and is an error. Each
    thread runs the CPU kernel's body, so integer arithmetic is the CPU
    kernel's; floating-point sums split over lanes add in another order, and
    library math (exp, pow, sin, cos) comes from CUDA's libdevice instead of
    libm.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90\"",
           "GPU to compile for: sm_80, sm_89 or sm_90">,
    Option<"threadsPerBlock", "threads-per-block", "int64_t",
           /*default=*/"128",
           "Most threads of one block (a multiple of 32)">,
  ];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect",
  ];
}

def EnableDependentLaunch : Pass<"lowbit-enable-dependent-launch",
                                  "::mlir::ModuleOp"> {
  let summary = "Let each GPU kernel start while the kernel before it ends "
                "(programmatic dependent launch, sm_90 and newer)";
  let description = [{
    A decode step is hundreds of short kernels, each waiting for the one
    before it; on an H100 the gap between two kernels of a CUDA graph is
    comparable to a small kernel's whole run. On sm_90 and newer a kernel
    can be launched before its predecessor has finished, as long as it
    touches no memory before `griddepcontrol.wait`, which returns once the
    predecessor has completed and its writes are visible.

    This pass begins every `gpu.func` kernel of every `gpu.module` whose
    `#nvvm.target` is sm_90 or newer with

    ```mlir
    nvvm.griddepcontrol wait
    nvvm.griddepcontrol launch_dependents
    ```

    so a kernel reads and writes nothing before its predecessor is done,
    and lets its own successor launch as soon as all of its blocks run. A
    kernel launched the ordinary way waits for nothing (the instructions
    return at once), so the kernels stay correct in every launch mode; the
    runtime links the kernel nodes of a decode step's CUDA graph by
    programmatic edges when the artifact says its kernels begin this way.
    Kernels of older chips (which lack `griddepcontrol`) are left alone.
  }];
  let dependentDialects = [
    "::mlir::gpu::GPUDialect",
    "::mlir::NVVM::NVVMDialect",
  ];
}

def ConvertLowBitToCPU : Pass<"lowbit-convert-to-cpu", "::mlir::ModuleOp"> {
  let summary = "Lower the graph entry points to CPU kernels over flat weight, "
                "state and scratch buffers";
  let description = [{
    Replaces every graph entry point `@name` (`@prefill`, `@decode`: tokens,
    positions, start position and KV caches in; logits and caches out) with
    `@lowbit_name`, which takes only flat buffers and calls one generated
    kernel (`@lowbit_cpu_*`, scf/arith/math/vector over memrefs) per graph
    op:

    ```mlir
    func.func @lowbit_prefill(%weights: memref<?xi8>, %state: memref<?xi8>,
        %scratch: memref<?xi8>, %tokens: memref<?xi32>,
        %positions: memref<?xi32>, %start: index, %logits: memref<?xi8>)
        attributes {llvm.emit_c_interface}
    ```

    - Weights live in one read-only buffer: f32 tensors as they are, the
      weights of `lowbit.linear` transposed (in x out), quantized weights as
      packed codes (docs/quantization.md) followed by f32 scales. Where each
      lies is recorded on the module as `lowbit.cpu.weights` (name, byte
      offset, stored form, the quantized type and its scale choice), so that
      an artifact writer can fill the buffer from the checkpoint.
    - The KV caches live in `state`, one region per cache and side:
      4-bit caches as packed nibbles, 8-bit as bytes, each followed by one
      f32 scale per position and group; 16-bit as f16 and 32-bit as f32.
      With `isa=nvgpu`, a workspace for the partial sums of decode
      attention split over positions (flash-decoding) follows them.
    - Activations live in `scratch` at offsets that are multiples of the
      token count, planned once with buffer reuse after last use.
    - The module records `lowbit.cpu.weight_bytes`, `lowbit.cpu.state_bytes`
      and `lowbit.cpu.scratch_bytes_per_token`.
    - Batched decode: the `@prefill` graph is lowered a second time as
      `@lowbit_decode_batch`, where row t of a step is the next token of
      sequence t at position `positions[t]`. Its `state` holds the states
      of all sequences, `state_bytes` each, one after another; its KV
      kernels (`..._seq`) read and write row t's sequence's caches, one
      state further per row, and attend up to the row's own position.
      Every other kernel treats rows alike, so the matmuls of B sequences
      read each weight once per step.

    The `isa` option picks the instructions of the quantized matmul:
    `generic` (vector dialect ops that every target lowers; AVX2 on
    x86-64-v3), `neon-dotprod` (AArch64 indexed `arm_neon.intr.sdot` on
    weights stored in row quads, form `packed-row-quads`) or `neon-i8mm`
    (`arm_neon.intr.smmla` on weights stored in row pairs, form
    `packed-row-pairs`, with token rows interleaved in pairs by the
    activation quantize kernels). The NEON kernels need blocks and scale
    groups of multiples of 32 channels; a module with other layouts is
    lowered with `generic`, and the pass warns. `x86-avx512vnni` is the
    generic kernel with its products and sums on AVX-512 VNNI `vpdpwssd`.
    See docs/cpu.md. `nvgpu` is for models whose kernels run on an NVIDIA
    GPU: every matmul that lowbit's GPU matmul kernels take (INT4 weights,
    input channels and scale groups in multiples of 32, an f32 result)
    becomes a call of a private declaration marked `lowbit.gpu_matmul`,
    which lowbit-define-gpu-matmuls defines (the declaration also records
    the activations' block size and block widths,
    `lowbit.activation_block_size` and `lowbit.activation_block_bits`, for
    the s4 tensor cores of sm_80/sm_89), and its weights are stored in
    the form `interleaved` that those kernels read (docs/gpu.md); the other
    matmuls use the generic kernel. Such matmuls of the same activations
    whose weights have the same scale group (a layer's q, k and v; its gate
    and up) are one call, placed where the first of them was: the later
    ones move up to it.

    With `profile-counter`, each entry point takes one more argument,
    `%ticks: memref<?xi64>`, and stores the counter before its first kernel
    call and after every call; `lowbit.cpu.profile` on the module names the
    kernels each entry point calls, in order.

    The kernels repeat the reference executor's arithmetic, floating-point
    summation order included, so the compiled model gives its numbers.
    Tensor-parallel modules, `lowbit.dequantize` (W4A16),
    `lowbit.permute_channels` and activation clip search are not lowered
    yet; they are errors naming the op.
  }];
  let options = [
    Option<"isa", "isa", "std::string", /*default=*/"\"generic\"",
           "Instructions of the quantized matmul: generic, neon-dotprod, "
           "neon-i8mm, x86-avx512vnni or nvgpu">,
    Option<"profileCounter", "profile-counter", "std::string",
           /*default=*/"\"none\"",
           "Time every kernel call with this counter: none, cycle "
           "(llvm.readcyclecounter, the x86-64 TSC) or steady "
           "(llvm.readsteadycounter, the AArch64 virtual counter)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::arm_neon::ArmNeonDialect",
    "::mlir::func::FuncDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

#endif // LOWBIT_CONVERSION_PASSES_TD
