//===- Passes.h - lowbit conversion passes ----------------------*- C++ -*-===//
//
// Declarations and registration of the passes and pipelines that lower the
// quantized lowbit graph to target code; the passes are declared in
// Passes.td.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_CONVERSION_PASSES_H
#define LOWBIT_CONVERSION_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ArmNeon/ArmNeonDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace lowbit {

/// Marks the matmul declarations of lowbit-convert-to-cpu{isa=nvgpu} that
/// lowbit-define-gpu-matmuls defines with launches of lowbit's GPU matmul
/// kernels.
inline constexpr llvm::StringLiteral kGPUMatmulAttrName = "lowbit.gpu_matmul";
/// On a lowbit.gpu_matmul declaration: channels of each activation block
/// (i64), and the storage bits of each block (array<i64>), for the kernels
/// that multiply 4-bit blocks on s4 tensor cores.
inline constexpr llvm::StringLiteral kActivationBlockSizeAttrName =
    "lowbit.activation_block_size";
inline constexpr llvm::StringLiteral kActivationBlockBitsAttrName =
    "lowbit.activation_block_bits";

/// The entry point lowbit-convert-to-cpu adds for batched decode
/// (@lowbit_decode_batch): the `prefill` graph run with one row per
/// sequence, row t the next token of sequence t at position positions[t],
/// over a state that holds every sequence's state (`state_bytes` each) one
/// after another.
inline constexpr llvm::StringLiteral kBatchedDecodeEntryName = "decode_batch";

/// Marks the prompt attention declarations of
/// lowbit-convert-to-cpu{isa=nvgpu} (query rows, key region, value region,
/// start position, output rows); the value is the `!lowbit.kv_cache` type.
/// lowbit-define-gpu-prefill-attention defines them with launches of the
/// tensor-core prefill attention kernel.
inline constexpr llvm::StringLiteral kGPUPrefillAttentionAttrName =
    "lowbit.gpu_prefill_attention";

/// Marks the f32 linear declarations of lowbit-convert-to-cpu{isa=nvgpu}
/// for steps of many token rows (input rows, transposed weight, output
/// rows). lowbit-define-gpu-linears defines them with launches of the tiled
/// linear kernel.
inline constexpr llvm::StringLiteral kGPULinearAttrName = "lowbit.gpu_linear";

/// The stored form (in `lowbit.cpu.weights`) of the weights of those
/// matmuls: per row, 16-byte steps of 32 channels, byte b holding channel b
/// in its low and 16 + b in its high nibble (runtime::packInt4Interleaved),
/// then f32 scales as in the form `packed`.
inline constexpr llvm::StringLiteral kGPUInterleavedWeightForm = "interleaved";

/// Marks an `scf.for` of a kernel of lowbit-convert-to-cpu whose iterations
/// lowbit-offload-kernels-to-gpu may spread over the 32 lanes of a warp:
/// "independent" (each iteration writes only its own elements), "add" or
/// "max" (the loop folds its carried values with addf or a maximum, starting
/// at the fold's identity for the values it sees; the lanes' partial results
/// are combined across the warp). Data a split loop writes is read only by
/// loops split the same way.
inline constexpr llvm::StringLiteral kLaneSplitAttrName = "lowbit.lane_split";

/// The functions the host code of a tensor-parallel model calls to move
/// data between ranks. The runtime implements them (NCCL between GPUs,
/// shared memory between threads of one process); the compiled code reaches
/// them through pointer slots, each named kCollectiveSlotPrefix + the
/// function's name. Pointers are addresses (i64) of the calling rank's
/// buffers, in device memory for a GPU model.
///
/// `lowbit_collective_all_reduce_f32(send, receive, count)`: `count` f32 at
/// `receive` become the sum over ranks of theirs at `send`.
inline constexpr llvm::StringLiteral kAllReduceFunction =
    "lowbit_collective_all_reduce_f32";
/// `lowbit_collective_all_gather(send, receive, bytes)`: every rank's
/// `bytes` bytes at `send`, in rank order at `receive`.
inline constexpr llvm::StringLiteral kAllGatherFunction =
    "lowbit_collective_all_gather";
/// `lowbit_collective_all_reduce_wire_f32(send, receive, count, element,
/// block, scale)`: as kAllReduceFunction, but every rank sends its partial
/// results as a message of the wire format (element, block size, scale:
/// runtime::WireElement and runtime::WireScale numbers), and the sum is of
/// the decoded messages. CPU models compress all-reduces this way; GPU
/// models with generated kernels around kAllGatherFunction.
inline constexpr llvm::StringLiteral kAllReduceWireFunction =
    "lowbit_collective_all_reduce_wire_f32";
/// The prefix every collective function's name starts with.
inline constexpr llvm::StringLiteral kCollectiveFunctionPrefix =
    "lowbit_collective_";

/// Emits at `builder`'s insertion point, in a module's host code, a call of
/// the collective function `name` (kAllReduceFunction, kAllGatherFunction,
/// kAllReduceWireFunction) with the addresses of the memrefs `send` and
/// `receive`, `count` (an index) and the i64 `constants`, declaring the
/// function in the module when it is not yet.
void createCollectiveCall(mlir::OpBuilder &builder, mlir::Location loc,
                          llvm::StringRef name, mlir::Value send,
                          mlir::Value receive, mlir::Value count,
                          llvm::ArrayRef<int64_t> constants = {});

/// Marks the declarations of lowbit-convert-to-cpu{isa=nvgpu} that stand
/// for a compressed all-reduce, (partial results as bytes, workspace bytes,
/// sum as bytes); the attribute is the `#lowbit.wire` format and the
/// declaration's kRanksAttrName the group's size.
/// lowbit-define-gpu-wire-all-reduces defines them.
inline constexpr llvm::StringLiteral kGPUWireAllReduceAttrName =
    "lowbit.gpu_wire_all_reduce";
/// The group size of a kGPUWireAllReduceAttrName declaration.
inline constexpr llvm::StringLiteral kRanksAttrName = "lowbit.ranks";

/// Whether kernels for `chip` (sm_XY) can begin with `griddepcontrol`, so
/// that lowbit-enable-dependent-launch rewrites them: sm_90 and newer.
bool supportsDependentLaunch(llvm::StringRef chip);

#define GEN_PASS_DECL
#include "lowbit/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "lowbit/Conversion/Passes.h.inc"

/// Adds to `pm` the passes that lower every `gpu.module` of a module to
/// NVVM and serialise it to PTX (`gpu.binary` with an assembly object),
/// leaving the host code alone.
/// The chip is the one in each module's `#nvvm.target`.
void buildNVGPUKernelLoweringPipeline(mlir::OpPassManager &pm);

/// Generates the GPU kernels of `module` (lowbit-generate-nvgpu-kernels
/// with `options`), lowers them to PTX and returns it; the module keeps the
/// kernels as a `gpu.binary`. On failure, `error` says why (details go to
/// the context's diagnostics).
llvm::FailureOr<std::string>
compileKernelsToPTX(mlir::ModuleOp module,
                    const GenerateNVGPUKernelsOptions &options,
                    std::string &error);

/// Registers in `registry` what buildNVGPUKernelLoweringPipeline needs
/// besides its passes: the conversions of arith, cf, memref, vector and nvvm
/// to LLVM, the NVVM target and the translations to LLVM IR.
void registerNVGPUKernelLoweringDependencies(mlir::DialectRegistry &registry);

/// Adds to `pm` the passes that lower the output of lowbit-convert-to-cpu
/// (func, scf, arith, math, memref, vector) to the LLVM dialect; with
/// `launchesGPUKernels`, also the gpu.launch_func ops that
/// lowbit-offload-kernels-to-gpu left on the host (their gpu.modules must
/// already be gpu.binary ops, see buildNVGPUKernelLoweringPipeline).
void buildCPULoweringPipeline(mlir::OpPassManager &pm,
                              bool launchesGPUKernels = false);

/// Registers `lowbit-lower-cpu-to-llvm`.
void registerCPULoweringPipeline();

/// Registers `lowbit-lower-nvgpu-kernels` and
/// `lowbit-lower-gpu-model-to-llvm` (buildNVGPUKernelLoweringPipeline, then
/// buildCPULoweringPipeline for the host side).
void registerNVGPUKernelLoweringPipeline();

} // namespace lowbit

#endif // LOWBIT_CONVERSION_PASSES_H
