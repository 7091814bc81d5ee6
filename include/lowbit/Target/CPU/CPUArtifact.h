//===- CPUArtifact.h - compile a quantized module for a CPU -----*- C++ -*-===//
//
// The last steps of `lowbit-compile --target=x86_64|aarch64`: lower the
// quantized graph to LLVM, generate an object for the target CPU, link it
// into a shared object, pack the weights as the generated code reads them,
// and write the model artifact (docs/artifact.md).
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_TARGET_CPU_CPUARTIFACT_H
#define LOWBIT_TARGET_CPU_CPUARTIFACT_H

#include "lowbit/Frontend/Checkpoint.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <map>
#include <string>

namespace lowbit {

/// What to generate code for.
struct CPUTargetOptions {
  /// "x86_64" or "aarch64".
  std::string architecture = "x86_64";
  /// LLVM CPU name; empty: x86-64-v3 (AVX2, FMA) on x86_64, neoverse-n2
  /// (dotprod, i8mm) on aarch64. "native" is this machine's CPU.
  std::string cpu;
  /// The compiler driver that links the shared object; empty: `cc` for the
  /// host architecture, `aarch64-linux-gnu-gcc` when cross-compiling.
  std::string linker;
  /// Time every kernel call (the x86-64 TSC or the AArch64 virtual
  /// counter); the artifact lists the kernels as `profile_<entry>`.
  bool profile = false;
};

/// A model whose kernels run on an NVIDIA GPU, launched by code for an
/// x86-64 host.
struct GPUTargetOptions {
  /// "sm_80", "sm_89" or "sm_90".
  std::string chip = "sm_90";
  /// As CPUTargetOptions::linker, for the host code.
  std::string linker;
  /// Multiprocessors of the GPU the model will run on, which sets up to how
  /// many tokens the tensor-core matmuls take short tiles; 0: the chip's
  /// usual GPU (lowbit-define-gpu-matmuls).
  int64_t multiprocessors = 0;
};

/// The artifact's tokenizer section for `checkpoint`: the SentencePiece
/// model `sentencePieceModel` (a path) when given, else the checkpoint's own
/// SentencePiece model or vocabulary.
llvm::Expected<std::string>
serializeArtifactTokenizer(const Checkpoint &checkpoint,
                           const std::string &sentencePieceModel = "");

/// Registers what compileCPUArtifact needs in `registry`: the lowerings to
/// the LLVM dialect and the translation to LLVM IR.
void registerCPUArtifactDependencies(mlir::DialectRegistry &registry);

/// Compiles `module`, a quantized (or floating-point) lowbit graph whose
/// weights come from `checkpoint`, into the bytes of a model artifact.
/// `tokenizer` is the artifact's tokenizer section
/// (serializeArtifactTokenizer); `metadata` adds entries (e.g. the scheme). The
/// module is lowered in place.
llvm::Expected<std::string>
compileCPUArtifact(mlir::ModuleOp module, const Checkpoint &checkpoint,
                   const std::string &tokenizer,
                   const CPUTargetOptions &options,
                   std::map<std::string, std::string> metadata);

/// Compiles `module` like compileCPUArtifact into a GPU model artifact
/// (format `lowbit-gpu`): the kernels of lowbit-convert-to-cpu run on the
/// GPU (lowbit-offload-kernels-to-gpu, PTX embedded in the host code) and
/// the host code, an x86-64 shared object, launches them through the
/// runtime (docs/artifact.md).
llvm::Expected<std::string>
compileGPUArtifact(mlir::ModuleOp module, const Checkpoint &checkpoint,
                   const std::string &tokenizer,
                   const GPUTargetOptions &options,
                   std::map<std::string, std::string> metadata);

/// Compiles `module` like compileCPUArtifact but returns the target
/// assembly of its code (no weights are needed).
llvm::Expected<std::string> compileCPUAssembly(mlir::ModuleOp module,
                                               const CPUTargetOptions &options);

} // namespace lowbit

#endif // LOWBIT_TARGET_CPU_CPUARTIFACT_H
