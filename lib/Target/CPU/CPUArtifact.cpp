//===- CPUArtifact.cpp - compile a quantized module for a CPU -------------===//
//
// Lowering, LLVM code generation in process (O3 for the chosen CPU), a link
// step through the system's compiler driver (the shared object the runtime
// loads), and the weight buffer: each entry of `lowbit.cpu.weights` is read
// from the checkpoint and stored the way the generated kernels read it,
// quantized with QuantizedArithmetic.h so that codes and scales equal the
// reference executor's.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Target/CPU/CPUArtifact.h"
#include "lowbit/Conversion/Passes.h"
#include "lowbit/Frontend/Tokenizer.h"
#include "lowbit/Reference/QuantizedArithmetic.h"
#include "lowbit/Runtime/Artifact.h"
#include "lowbit/Runtime/GpuWeightLayout.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVM.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/ArmNeon/ArmNeonToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;
using namespace lowbit;
using llvm::createStringError;
using llvm::inconvertibleErrorCode;

llvm::Expected<std::string>
lowbit::serializeArtifactTokenizer(const Checkpoint &checkpoint,
                                   const std::string &sentencePieceModel) {
  std::string modelFile = sentencePieceModel.empty()
                              ? checkpoint.tokenizerModelPath
                              : sentencePieceModel;
  if (modelFile.empty()) {
    if (!checkpoint.vocabulary)
      return createStringError(inconvertibleErrorCode(),
                               "the checkpoint has no vocabulary; pass a "
                               "SentencePiece model (--tokenizer)");
    return serializeTokenizer(*checkpoint.vocabulary);
  }
  auto contents = llvm::MemoryBuffer::getFile(modelFile);
  if (!contents)
    return createStringError(contents.getError(), "cannot read '%s'",
                             modelFile.c_str());
  std::string error;
  if (!loadSentencePieceModel(modelFile, error))
    return createStringError(inconvertibleErrorCode(), error);
  return serializeSentencePieceTokenizer((*contents)->getBuffer());
}

void lowbit::registerCPUArtifactDependencies(DialectRegistry &registry) {
  registerNVGPUKernelLoweringDependencies(registry);
  registerArmNeonDialectTranslation(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
}

namespace {
/// The CPU features the runtime checks before loading code, in LLVM's names.
constexpr const char *kCheckedX86Features[] = {
    "sse4.1", "sse4.2",   "avx",      "avx2",       "fma",    "f16c",
    "bmi2",   "avx512f",  "avx512bw", "avx512vl",   "avx512vnni", "avxvnni"};
constexpr const char *kCheckedAArch64Features[] = {"dotprod", "i8mm"};

/// A target machine for `options`, and the features it enables that the
/// runtime checks.
llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
createTargetMachine(const CPUTargetOptions &options, std::string &cpu,
                    std::string &checkedFeatures) {
  llvm::InitializeAllTargetInfos();
  llvm::InitializeAllTargets();
  llvm::InitializeAllTargetMCs();
  llvm::InitializeAllAsmPrinters();
  if (options.architecture != "x86_64" && options.architecture != "aarch64")
    return createStringError(inconvertibleErrorCode(),
                             "unknown CPU target '%s' (known: x86_64, aarch64)",
                             options.architecture.c_str());
  llvm::Triple triple(options.architecture + "-unknown-linux-gnu");
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return createStringError(inconvertibleErrorCode(), error);
  cpu = options.cpu;
  std::string features;
  if (cpu.empty())
    cpu = options.architecture == "x86_64" ? "x86-64-v3" : "neoverse-n2";
  if (cpu == "native") {
    if (options.architecture != llvm::Triple(llvm::sys::getProcessTriple())
                                    .getArchName())
      return createStringError(inconvertibleErrorCode(),
                               "--cpu=native needs the host architecture");
    cpu = llvm::sys::getHostCPUName().str();
    for (auto &feature : llvm::sys::getHostCPUFeatures())
      features += (features.empty() ? "" : ",") +
                  std::string(feature.second ? "+" : "-") +
                  feature.first().str();
  }
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, cpu, features, llvm::TargetOptions(), llvm::Reloc::PIC_,
      std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    return createStringError(inconvertibleErrorCode(),
                             "LLVM cannot generate code for cpu '%s'",
                             cpu.c_str());
  const llvm::MCSubtargetInfo *subtarget = machine->getMCSubtargetInfo();
  if (!subtarget->isCPUStringValid(cpu))
    return createStringError(inconvertibleErrorCode(),
                             "'%s' is not a %s CPU LLVM knows", cpu.c_str(),
                             options.architecture.c_str());
  llvm::ArrayRef<const char *> checked = options.architecture == "x86_64"
                                             ? llvm::ArrayRef(kCheckedX86Features)
                                             : llvm::ArrayRef(kCheckedAArch64Features);
  for (const char *feature : checked)
    if (subtarget->checkFeatures(std::string("+") + feature))
      checkedFeatures += (checkedFeatures.empty() ? "" : ",") +
                         std::string(feature);
  return machine;
}

/// The matmul instructions of lowbit-convert-to-cpu for code with
/// `checkedFeatures` on `architecture`.
std::string getMatmulISA(const std::string &architecture,
                         llvm::StringRef checkedFeatures) {
  llvm::SmallVector<llvm::StringRef> features;
  checkedFeatures.split(features, ',');
  if (architecture != "aarch64")
    return llvm::is_contained(features, "avx512vnni") &&
                   llvm::is_contained(features, "avx512bw")
               ? "x86-avx512vnni"
               : "generic";
  if (llvm::is_contained(features, "i8mm") &&
      llvm::is_contained(features, "dotprod"))
    return "neon-i8mm";
  if (llvm::is_contained(features, "dotprod"))
    return "neon-dotprod";
  return "generic";
}

/// Optimizes `module` at O3 for `machine` and returns the object file or
/// the assembly.
std::string emitCode(llvm::Module &module, llvm::TargetMachine &machine,
                     llvm::CodeGenFileType fileType) {
  module.setDataLayout(machine.createDataLayout());
  module.setTargetTriple(machine.getTargetTriple());

  llvm::LoopAnalysisManager loops;
  llvm::FunctionAnalysisManager functions;
  llvm::CGSCCAnalysisManager cgscc;
  llvm::ModuleAnalysisManager modules;
  llvm::PassBuilder builder(&machine);
  builder.registerModuleAnalyses(modules);
  builder.registerCGSCCAnalyses(cgscc);
  builder.registerFunctionAnalyses(functions);
  builder.registerLoopAnalyses(loops);
  builder.crossRegisterProxies(loops, functions, cgscc, modules);
  builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3)
      .run(module, modules);

  llvm::SmallString<0> object;
  llvm::raw_svector_ostream stream(object);
  llvm::legacy::PassManager codegen;
  machine.addPassesToEmitFile(codegen, stream, nullptr, fileType);
  codegen.run(module);
  return std::string(object.str());
}

/// Links `object` into a shared object with the system's compiler driver.
llvm::Expected<std::string> linkSharedObject(const std::string &object,
                                             const CPUTargetOptions &options) {
  std::string driver = options.linker;
  if (driver.empty())
    driver = options.architecture ==
                     llvm::Triple(llvm::sys::getProcessTriple()).getArchName()
                 ? "cc"
                 : options.architecture + "-linux-gnu-gcc";
  llvm::ErrorOr<std::string> program = llvm::sys::findProgramByName(driver);
  if (!program)
    return createStringError(inconvertibleErrorCode(),
                             "cannot find the linker driver '%s' (install "
                             "gcc, or gcc-aarch64-linux-gnu to cross-compile; "
                             "or pass --linker)",
                             driver.c_str());
  llvm::SmallString<128> objectPath, libraryPath, logPath;
  if (std::error_code error = llvm::sys::fs::createTemporaryFile(
          "lowbit-model", "o", objectPath))
    return llvm::errorCodeToError(error);
  if (std::error_code error = llvm::sys::fs::createTemporaryFile(
          "lowbit-model", "so", libraryPath))
    return llvm::errorCodeToError(error);
  if (std::error_code error = llvm::sys::fs::createTemporaryFile(
          "lowbit-link", "log", logPath))
    return llvm::errorCodeToError(error);
  auto removeFiles = llvm::make_scope_exit([&] {
    llvm::sys::fs::remove(objectPath);
    llvm::sys::fs::remove(libraryPath);
    llvm::sys::fs::remove(logPath);
  });
  {
    std::error_code error;
    llvm::raw_fd_ostream file(objectPath, error);
    if (error)
      return llvm::errorCodeToError(error);
    file << object;
  }
  llvm::SmallVector<llvm::StringRef> arguments = {
      *program, "-shared", "-o", libraryPath, objectPath, "-lm"};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, logPath.str(),
                                                logPath.str()};
  std::string message;
  int status = llvm::sys::ExecuteAndWait(*program, arguments, std::nullopt,
                                         redirects, 0, 0, &message);
  if (status != 0) {
    auto log = llvm::MemoryBuffer::getFile(logPath);
    return createStringError(
        inconvertibleErrorCode(), "linking the model with '%s' failed: %s%s",
        program->c_str(), message.c_str(),
        log ? (*log)->getBuffer().str().c_str() : "");
  }
  auto library = llvm::MemoryBuffer::getFile(libraryPath);
  if (!library)
    return llvm::errorCodeToError(library.getError());
  return (*library)->getBuffer().str();
}

/// Appends `values` as raw bytes.
template <typename T>
void appendBytes(std::string &out, llvm::ArrayRef<T> values) {
  out.append(reinterpret_cast<const char *>(values.data()),
             values.size() * sizeof(T));
}

/// The codes of `input` in the NEON layout of tiles of `tileRows` rows
/// (getWeightTileRows in lib/Conversion/LowBitToCPU/CPUKernels.h): per tile
/// and 32-channel chunk, 2T sub-tiles of 16 codes, S_j holding channels
/// j*W..j*W+W-1 (W = 16/T) of each row in turn; bytes for 8-bit blocks,
/// S_2i|S_2i+1 as low|high nibbles for 4-bit blocks.
std::vector<uint8_t> packRowTiles(const QuantizedTensor &input,
                                  int64_t tileRows) {
  BlockLayoutAttr layout = input.layout;
  int64_t tileBytes = tileRows * layout.getPackedRowBytes();
  int64_t tiles = (input.rows + tileRows - 1) / tileRows;
  int64_t width = 16 / tileRows, channels = input.channels;
  std::vector<uint8_t> packed(tiles * tileBytes, 0);
  auto codeAt = [&](int64_t row, int64_t channel) -> uint8_t {
    return row < input.rows
               ? static_cast<uint8_t>(input.codes[row * channels + channel])
               : 0;
  };
  for (int64_t tile = 0; tile < tiles; ++tile) {
    int64_t blockByte = 0;
    for (auto [block, bits] : llvm::enumerate(layout.getBlockBits())) {
      int64_t begin = static_cast<int64_t>(block) * layout.getBlockSize();
      for (int64_t chunk = begin; chunk < begin + layout.getBlockSize();
           chunk += 32) {
        uint8_t *out = packed.data() + tile * tileBytes +
                       tileRows * blockByte +
                       (chunk - begin) * tileRows * bits / 8;
        for (int64_t row = 0; row < tileRows; ++row)
          for (int64_t i = 0; i < width; ++i) {
            int64_t code = tile * tileRows + row;
            int64_t byte = row * width + i;
            for (int64_t sub = 0; sub < 2 * tileRows; ++sub) {
              uint8_t value = codeAt(code, chunk + sub * width + i);
              if (bits == 8)
                out[16 * sub + byte] = value;
              else
                out[16 * (sub / 2) + byte] |=
                    sub % 2 ? static_cast<uint8_t>(value << 4) : (value & 0xF);
            }
          }
      }
      blockByte += layout.getBlockSize() * bits / 8;
    }
  }
  return packed;
}

/// Slice `slice` of `slices` equal slices of `values` (of `shape`) along
/// `axis`; `shape` becomes the slice's.
std::vector<float> takeSlice(const std::vector<float> &values,
                             SmallVector<int64_t, 2> &shape, int64_t axis,
                             int64_t slices, int64_t slice) {
  int64_t rows = shape[0], columns = shape.size() == 2 ? shape[1] : 1;
  std::vector<float> result;
  if (axis == 0) {
    int64_t sliceRows = rows / slices;
    result.assign(values.begin() + slice * sliceRows * columns,
                  values.begin() + (slice + 1) * sliceRows * columns);
    shape[0] = sliceRows;
    return result;
  }
  int64_t sliceColumns = columns / slices;
  result.reserve(rows * sliceColumns);
  for (int64_t row = 0; row < rows; ++row)
    result.insert(result.end(),
                  values.begin() + row * columns + slice * sliceColumns,
                  values.begin() + row * columns + (slice + 1) * sliceColumns);
  shape[1] = sliceColumns;
  return result;
}

/// The weight buffers `lowbit.cpu.weights` describes, from `checkpoint`, one
/// per tensor-parallel rank (one for an unsharded model). Each checkpoint
/// tensor is read once; each distinct slice of it is packed once.
llvm::Expected<std::vector<std::string>>
packWeights(ModuleOp module, const Checkpoint &checkpoint, int64_t ranks) {
  auto entries = module->getAttrOfType<ArrayAttr>("lowbit.cpu.weights");
  auto total = module->getAttrOfType<IntegerAttr>("lowbit.cpu.weight_bytes");
  if (!entries || !total)
    return createStringError(inconvertibleErrorCode(),
                             "the module has no weight plan (run "
                             "lowbit-convert-to-cpu)");
  std::vector<std::string> buffers(
      static_cast<size_t>(ranks),
      std::string(static_cast<size_t>(total.getInt()), '\0'));
  for (auto entry : entries.getAsRange<DictionaryAttr>()) {
    StringRef name = entry.getAs<StringAttr>("name").getValue();
    int64_t offset = entry.getAs<IntegerAttr>("offset").getInt();
    StringRef form = entry.getAs<StringAttr>("form").getValue();
    Type type = entry.getAs<TypeAttr>("type").getValue();
    auto permutations = entry.getAs<ArrayAttr>("permutations");
    auto axes = entry.getAs<DenseI64ArrayAttr>("axes");
    // Rank r holds slice r / replicas of `slices` along the axis; an
    // unsharded weight is one slice that every rank holds.
    auto shard = entry.getAs<DenseI64ArrayAttr>("shard");
    int64_t slices = shard ? shard[1] : 1;
    int64_t replicas = shard ? shard[2] : ranks;
    auto quantized = dyn_cast<QuantizedTensorType>(type);
    SmallVector<int64_t, 2> wholeShape(
        shard ? entry.getAs<DenseI64ArrayAttr>("source_shape").asArrayRef()
        : quantized ? quantized.getShape()
                    : cast<RankedTensorType>(type).getShape());
    llvm::Expected<std::vector<float>> whole =
        checkpoint.readFloat(name, wholeShape);
    if (!whole)
      return whole.takeError();
    for (int64_t slice = 0; slice < slices; ++slice) {
      SmallVector<int64_t, 2> shape(wholeShape);
      // An unsharded weight has one slice: the whole tensor.
      std::vector<float> values =
          shard ? takeSlice(*whole, shape, shard[0], slices, slice)
                : std::move(*whole);
      if (permutations)
        for (auto [permutation, axis] :
             llvm::zip(permutations.getAsRange<DenseI64ArrayAttr>(),
                       axes.asArrayRef()))
          values = permuteAlong(Tensor{shape, std::move(values)},
                                permutation.asArrayRef(), axis)
                       .data;
      std::string bytes;
      if (quantized) {
        ScaleChoice choice;
        choice.clipSearch = static_cast<bool>(entry.get("clip_search"));
        if (auto importance =
                entry.getAs<DenseF32ArrayAttr>("channel_importance"))
          choice.channelImportance = importance.asArrayRef();
        QuantizedTensor packed =
            quantize(Tensor{shape, std::move(values)}, quantized, choice);
        int64_t tileRows = form == "packed-row-quads"   ? 4
                           : form == "packed-row-pairs" ? 2
                                                        : 1;
        if (form == kGPUInterleavedWeightForm)
          appendBytes(bytes,
                      llvm::ArrayRef<uint32_t>(runtime::packInt4Interleaved(
                          packed.codes.data(), packed.rows, packed.channels)));
        else
          appendBytes(bytes,
                      llvm::ArrayRef<uint8_t>(
                          tileRows == 1 ? packCodes(packed)
                                        : packRowTiles(packed, tileRows)));
        bytes.resize((bytes.size() + 63) / 64 * 64, '\0');
        if (entry.get("prescaled")) {
          // The NEON kernels' 4-bit sums are 16 x the dot product.
          BlockLayoutAttr layout = packed.layout;
          int64_t groups = layout.getScalesPerRow();
          for (int64_t row = 0; row < packed.rows; ++row)
            for (int64_t group = 0; group < groups; ++group)
              if (layout.getBlockBits()[group * layout.getScaleGroupChannels() /
                                        layout.getBlockSize()] == 4)
                packed.scales[row * groups + group] /= 16.0f;
        }
        if (tileRows == 1) {
          appendBytes(bytes, llvm::ArrayRef<float>(packed.scales));
        } else {
          // Per tile and group, the scales of the tile's rows side by side.
          int64_t groups = packed.layout.getScalesPerRow();
          int64_t tiles = (packed.rows + tileRows - 1) / tileRows;
          std::vector<float> tiled(tiles * tileRows * groups, 0.0f);
          for (int64_t row = 0; row < packed.rows; ++row)
            for (int64_t group = 0; group < groups; ++group)
              tiled[((row / tileRows) * groups + group) * tileRows +
                    row % tileRows] = packed.scales[row * groups + group];
          appendBytes(bytes, llvm::ArrayRef<float>(tiled));
        }
      } else {
        auto tensor = cast<RankedTensorType>(type);
        if (form == "transposed") {
          int64_t rows = tensor.getDimSize(0), columns = tensor.getDimSize(1);
          std::vector<float> transposed(values.size());
          for (int64_t row = 0; row < rows; ++row)
            for (int64_t column = 0; column < columns; ++column)
              transposed[column * rows + row] = values[row * columns + column];
          values = std::move(transposed);
        }
        appendBytes(bytes, llvm::ArrayRef<float>(values));
      }
      if (offset + static_cast<int64_t>(bytes.size()) > total.getInt())
        return createStringError(inconvertibleErrorCode(),
                                 "weight '%s' does not fit the weight plan",
                                 name.str().c_str());
      for (int64_t rank = slice * replicas;
           rank < std::min((slice + 1) * replicas, ranks); ++rank)
        std::copy(bytes.begin(), bytes.end(), buffers[rank].begin() + offset);
    }
  }
  return buffers;
}
} // namespace

namespace {
/// A module lowered for the CPU: its LLVM IR and the target machine.
struct LoweredModule {
  std::unique_ptr<llvm::TargetMachine> machine;
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;
  std::string cpu, checkedFeatures;
  /// The matmul instructions the kernels use (getMatmulISA).
  std::string matmulISA;
  /// For a GPU model: the mgpu functions the host code calls.
  std::string gpuRuntimeFunctions;
  /// For a tensor-parallel model: the collective functions it calls.
  std::string collectiveFunctions;
};

/// Sends every call of a function declared in `module` whose name starts
/// with `functionPrefix` through a pointer slot that the runtime fills,
/// named `slotPrefix` + the function's name. Returns the names of those
/// functions, comma-separated.
std::string routeCallsThroughSlots(llvm::Module &module,
                                   llvm::StringRef functionPrefix,
                                   std::string_view slotPrefix) {
  llvm::LLVMContext &context = module.getContext();
  std::string names;
  for (llvm::Function &function : module.functions()) {
    if (!function.isDeclaration() ||
        !function.getName().starts_with(functionPrefix))
      continue;
    names += (names.empty() ? "" : ",") + function.getName().str();
    auto *pointerType = llvm::PointerType::get(context, 0);
    auto *slot = new llvm::GlobalVariable(
        module, pointerType, /*isConstant=*/false,
        llvm::GlobalValue::ExternalLinkage,
        llvm::ConstantPointerNull::get(pointerType),
        std::string(slotPrefix) + function.getName().str());
    function.setLinkage(llvm::GlobalValue::InternalLinkage);
    llvm::IRBuilder<> builder(
        llvm::BasicBlock::Create(context, "forward", &function));
    llvm::Value *target = builder.CreateLoad(pointerType, slot);
    llvm::SmallVector<llvm::Value *> arguments;
    for (llvm::Argument &argument : function.args())
      arguments.push_back(&argument);
    llvm::CallInst *call =
        builder.CreateCall(function.getFunctionType(), target, arguments);
    if (function.getReturnType()->isVoidTy())
      builder.CreateRetVoid();
    else
      builder.CreateRet(call);
  }
  return names;
}

/// Makes the host code of a GPU model self-contained: every call of an
/// `mgpu*` function goes through a pointer slot the runtime fills
/// (runtime::kGPURuntimeSlotPrefix + name), and the constructors and
/// destructors that load and unload the kernel modules become the exported
/// functions runtime::kGPULoadModulesSymbol and kGPUUnloadModulesSymbol,
/// which the runtime calls once its device is ready. Returns the names of the
/// mgpu functions used, comma-separated.
std::string routeGPURuntimeCalls(llvm::Module &module) {
  llvm::LLVMContext &context = module.getContext();
  std::string names =
      routeCallsThroughSlots(module, "mgpu", runtime::kGPURuntimeSlotPrefix);
  for (auto [list, exported] :
       {std::pair<llvm::StringRef, llvm::StringRef>{
            "llvm.global_ctors", runtime::kGPULoadModulesSymbol},
        {"llvm.global_dtors", runtime::kGPUUnloadModulesSymbol}}) {
    auto *function = llvm::Function::Create(
        llvm::FunctionType::get(llvm::Type::getVoidTy(context), false),
        llvm::GlobalValue::ExternalLinkage, exported, module);
    llvm::IRBuilder<> builder(
        llvm::BasicBlock::Create(context, "entry", function));
    if (llvm::GlobalVariable *table = module.getGlobalVariable(list)) {
      if (auto *entries =
              llvm::dyn_cast_or_null<llvm::ConstantArray>(table->getInitializer()))
        for (llvm::Value *entry : entries->operands())
          builder.CreateCall(llvm::cast<llvm::Function>(
              llvm::cast<llvm::ConstantStruct>(entry)->getOperand(1)));
      table->eraseFromParent();
    }
    builder.CreateRetVoid();
  }
  return names;
}

/// Lowers `module` in place for `options` and translates it to LLVM IR.
/// With `gpu`, the kernels run on that NVIDIA GPU
/// (lowbit-offload-kernels-to-gpu) and the code for the CPU only launches
/// them.
llvm::Expected<LoweredModule>
lowerForCPU(ModuleOp module, const CPUTargetOptions &options,
            const GPUTargetOptions *gpu = nullptr) {
  LoweredModule lowered;
  llvm::Expected<std::unique_ptr<llvm::TargetMachine>> machine =
      createTargetMachine(options, lowered.cpu, lowered.checkedFeatures);
  if (!machine)
    return machine.takeError();
  lowered.machine = std::move(*machine);

  PassManager pm(module.getContext());
  ConvertLowBitToCPUOptions conversion;
  lowered.matmulISA =
      gpu ? "nvgpu"
          : getMatmulISA(options.architecture, lowered.checkedFeatures);
  conversion.isa = lowered.matmulISA;
  if (options.profile)
    conversion.profileCounter =
        options.architecture == "x86_64" ? "cycle" : "steady";
  pm.addPass(createConvertLowBitToCPU(conversion));
  if (gpu) {
    DefineGPUMatmulsOptions matmuls;
    matmuls.chip = gpu->chip;
    matmuls.multiprocessors = gpu->multiprocessors;
    pm.addPass(createDefineGPUMatmuls(matmuls));
    DefineGPUPrefillAttentionOptions attention;
    attention.chip = gpu->chip;
    pm.addPass(createDefineGPUPrefillAttention(attention));
    DefineGPULinearsOptions linears;
    linears.chip = gpu->chip;
    pm.addPass(createDefineGPULinears(linears));
    DefineGPUWireAllReducesOptions wireAllReduces;
    wireAllReduces.chip = gpu->chip;
    pm.addPass(createDefineGPUWireAllReduces(wireAllReduces));
    OffloadKernelsToGPUOptions offload;
    offload.chip = gpu->chip;
    pm.addPass(createOffloadKernelsToGPU(offload));
    pm.addPass(createEnableDependentLaunch());
    buildNVGPUKernelLoweringPipeline(pm);
  }
  buildCPULoweringPipeline(pm, /*launchesGPUKernels=*/gpu != nullptr);
  if (failed(pm.run(module)))
    return createStringError(inconvertibleErrorCode(),
                             "lowering the model for the CPU failed");
  // Without CUDA's libdevice the math functions of the kernels (expf, powf,
  // sinf, cosf) stay unresolved and the driver would reject the PTX.
  WalkResult unresolved = module.walk([](gpu::BinaryOp binary) {
    for (auto object : binary.getObjects().getAsRange<gpu::ObjectAttr>())
      if (object.getObject().getValue().contains(".extern .func") &&
          object.getObject().getValue().contains("__nv_"))
        return WalkResult::interrupt();
    return WalkResult::advance();
  });
  if (unresolved.wasInterrupted())
    return createStringError(
        inconvertibleErrorCode(),
        "the GPU kernels call CUDA's libdevice math functions, but libdevice "
        "was not found: install the CUDA toolkit or point CUDA_HOME at it");
  lowered.context = std::make_unique<llvm::LLVMContext>();
  lowered.module =
      translateModuleToLLVMIR(module, *lowered.context, "lowbit_model");
  if (!lowered.module)
    return createStringError(inconvertibleErrorCode(),
                             "translating the model to LLVM IR failed");
  if (gpu)
    lowered.gpuRuntimeFunctions = routeGPURuntimeCalls(*lowered.module);
  lowered.collectiveFunctions =
      routeCallsThroughSlots(*lowered.module, kCollectiveFunctionPrefix,
                             runtime::kCollectiveSlotPrefix);
  return lowered;
}
} // namespace

llvm::Expected<std::string>
lowbit::compileCPUAssembly(ModuleOp module, const CPUTargetOptions &options) {
  llvm::Expected<LoweredModule> lowered = lowerForCPU(module, options);
  if (!lowered)
    return lowered.takeError();
  return emitCode(*lowered->module, *lowered->machine,
                  llvm::CodeGenFileType::AssemblyFile);
}

namespace {
/// The artifact of `module` lowered for `options` (and, for a GPU model,
/// `gpu`).
llvm::Expected<std::string>
writeArtifact(ModuleOp module, const Checkpoint &checkpoint,
              const std::string &tokenizer, const CPUTargetOptions &options,
              const GPUTargetOptions *gpu,
              std::map<std::string, std::string> metadata) {
  llvm::Expected<LoweredModule> lowered = lowerForCPU(module, options, gpu);
  if (!lowered)
    return lowered.takeError();
  int64_t ranks = 1;
  if (auto tensorParallel =
          module->getAttrOfType<IntegerAttr>("lowbit.cpu.tensor_parallel"))
    ranks = tensorParallel.getInt();
  llvm::Expected<std::vector<std::string>> weights =
      packWeights(module, checkpoint, ranks);
  if (!weights)
    return weights.takeError();
  auto integerAttr = [&](StringRef name) {
    return std::to_string(module->getAttrOfType<IntegerAttr>(name).getInt());
  };
  metadata["format"] = gpu ? "lowbit-gpu" : "lowbit-cpu";
  metadata["target"] = options.architecture;
  if (gpu) {
    metadata["gpu"] = gpu->chip;
    metadata["gpu_runtime_functions"] = lowered->gpuRuntimeFunctions;
    // lowbit-enable-dependent-launch began every kernel with
    // griddepcontrol.wait, so the runtime may overlap their launches.
    metadata["gpu_dependent_launch"] =
        supportsDependentLaunch(gpu->chip) ? "true" : "false";
  }
  if (ranks > 1) {
    metadata["tensor_parallel"] = std::to_string(ranks);
    metadata["collective_functions"] = lowered->collectiveFunctions;
  }
  metadata["cpu"] = lowered->cpu;
  metadata["cpu_features"] = lowered->checkedFeatures;
  metadata["matmul_isa"] = lowered->matmulISA;
  metadata["weight_bytes"] = integerAttr("lowbit.cpu.weight_bytes");
  metadata["state_bytes"] = integerAttr("lowbit.cpu.state_bytes");
  metadata["scratch_bytes_per_token"] =
      integerAttr("lowbit.cpu.scratch_bytes_per_token");
  if (auto profile = module->getAttrOfType<DictionaryAttr>("lowbit.cpu.profile"))
    for (NamedAttribute entry : profile) {
      std::string kernels;
      for (auto kernel : cast<ArrayAttr>(entry.getValue()).getAsRange<StringAttr>())
        kernels += (kernels.empty() ? "" : ",") + kernel.str();
      metadata["profile_" + entry.getName().str()] = kernels;
    }
  metadata["vocab_size"] = std::to_string(checkpoint.config.vocabSize);
  metadata["context_length"] = std::to_string(checkpoint.config.contextLength);

  std::string object = emitCode(*lowered->module, *lowered->machine,
                                llvm::CodeGenFileType::ObjectFile);
  llvm::Expected<std::string> library = linkSharedObject(object, options);
  if (!library)
    return library.takeError();

  runtime::ArtifactWriter writer;
  writer.addMetadata(metadata);
  writer.addSection(runtime::kCodeSection, *library);
  for (int64_t rank = 0; rank < ranks; ++rank)
    writer.addSection(runtime::getWeightsSectionName(rank, ranks),
                      (*weights)[rank]);
  writer.addSection(runtime::kTokenizerSection, tokenizer);
  return writer.finish();
}
} // namespace

llvm::Expected<std::string>
lowbit::compileCPUArtifact(ModuleOp module, const Checkpoint &checkpoint,
                           const std::string &tokenizer,
                           const CPUTargetOptions &options,
                           std::map<std::string, std::string> metadata) {
  return writeArtifact(module, checkpoint, tokenizer, options, nullptr,
                       std::move(metadata));
}

llvm::Expected<std::string>
lowbit::compileGPUArtifact(ModuleOp module, const Checkpoint &checkpoint,
                           const std::string &tokenizer,
                           const GPUTargetOptions &options,
                           std::map<std::string, std::string> metadata) {
  if (options.chip != "sm_80" && options.chip != "sm_89" &&
      options.chip != "sm_90")
    return createStringError(inconvertibleErrorCode(),
                             "unknown GPU '%s' (known: sm_80, sm_89, sm_90)",
                             options.chip.c_str());
  CPUTargetOptions host;
  // The host code only computes views and launches kernels: any x86-64.
  host.architecture = "x86_64";
  host.cpu = "x86-64";
  host.linker = options.linker;
  if (options.multiprocessors < 0)
    return createStringError(inconvertibleErrorCode(),
                             "%lld multiprocessors; give a positive count, or "
                             "0 for the chip's usual GPU",
                             (long long)options.multiprocessors);
  return writeArtifact(module, checkpoint, tokenizer, host, &options,
                       std::move(metadata));
}
