//===- Roofline.cpp - roofline cost model of lowbit ops ---------------------===//
//
// Reads hardware models from JSON and counts the operations and bytes of
// lowbit ops, so that `lowbit-roofline` (and later the runtime benchmarks)
// can predict where each op sits on a machine's roofline. The counting rules
// are the ones docs/roofline.md states; change both together.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/Analysis/Roofline.h"

#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"

#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <numeric>

using namespace mlir;
using namespace lowbit;

//===----------------------------------------------------------------------===//
// Precisions and hardware models
//===----------------------------------------------------------------------===//

StringRef lowbit::stringifyPrecision(Precision precision) {
  switch (precision) {
  case Precision::FP32:
    return "fp32";
  case Precision::FP16:
    return "fp16";
  case Precision::BF16:
    return "bf16";
  case Precision::INT8:
    return "int8";
  case Precision::INT4:
    return "int4";
  }
  llvm_unreachable("unknown precision");
}

namespace {
/// Every precision, in `Precision` order.
constexpr std::array<Precision, kNumPrecisions> kAllPrecisions = {
    Precision::FP32, Precision::FP16, Precision::BF16, Precision::INT8,
    Precision::INT4};

/// Fields a hardware file may have; all but `link` and `comment` are
/// required.
constexpr StringLiteral kHardwareFields[] = {
    "name",  "peak_tops", "memory_bandwidth_gbs", "link_bandwidth_gbs",
    "memory_capacity_gb", "link", "comment"};

/// An error about the hardware file `origin`.
llvm::Error hardwareError(StringRef origin, const Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "hardware file '" + origin + "': " + message);
}

/// Reads the positive number `key` of `object`; `path` names it in errors,
/// `meaning` says what it is when it is missing.
llvm::Expected<double> readPositiveNumber(const llvm::json::Object &object,
                                          StringRef key, StringRef path,
                                          StringRef meaning, StringRef origin) {
  const llvm::json::Value *value = object.get(key);
  if (!value)
    return hardwareError(origin, "missing field '" + path + "' (" + meaning +
                                     ")");
  std::optional<double> number = value->getAsNumber();
  if (!number || !(*number > 0))
    return hardwareError(origin,
                         "field '" + path + "' must be a positive number");
  return *number;
}

/// Reads the optional string `key` of `object` into `result`.
llvm::Error readOptionalString(const llvm::json::Object &object, StringRef key,
                               std::string &result, StringRef origin) {
  const llvm::json::Value *value = object.get(key);
  if (!value)
    return llvm::Error::success();
  std::optional<StringRef> text = value->getAsString();
  if (!text)
    return hardwareError(origin, "field '" + key + "' must be a string");
  result = text->str();
  return llvm::Error::success();
}
} // namespace

Precision HardwareModel::getExecutingPrecision(Precision precision) const {
  while (!peakOpsPerSecond[static_cast<unsigned>(precision)]) {
    switch (precision) {
    case Precision::INT4:
      precision = Precision::INT8;
      break;
    case Precision::INT8:
      precision = Precision::FP16;
      break;
    case Precision::FP16:
    case Precision::BF16:
    case Precision::FP32:
      return Precision::FP32;
    }
  }
  return precision;
}

llvm::Expected<HardwareModel> HardwareModel::parse(StringRef text,
                                                   StringRef origin) {
  llvm::Expected<llvm::json::Value> document = llvm::json::parse(text);
  if (!document)
    return hardwareError(origin, "not valid JSON: " +
                                     llvm::toString(document.takeError()));
  const llvm::json::Object *root = document->getAsObject();
  if (!root)
    return hardwareError(origin, "expected a JSON object at the top level");
  for (const auto &field : *root)
    if (!llvm::is_contained(kHardwareFields, field.first.str()))
      return hardwareError(origin, "unknown field '" + field.first.str() +
                                       "' (expected name, peak_tops, "
                                       "memory_bandwidth_gbs, "
                                       "link_bandwidth_gbs, "
                                       "memory_capacity_gb, link, comment)");

  HardwareModel model;
  std::optional<StringRef> name = root->getString("name");
  if (!name)
    return hardwareError(origin, root->get("name")
                                     ? "field 'name' must be a string"
                                     : "missing field 'name' (the machine's "
                                       "name)");
  model.name = name->str();
  if (llvm::Error error = readOptionalString(*root, "link", model.link, origin))
    return std::move(error);
  std::string comment;
  if (llvm::Error error = readOptionalString(*root, "comment", comment, origin))
    return std::move(error);

  const llvm::json::Value *peaks = root->get("peak_tops");
  if (!peaks)
    return hardwareError(origin, "missing field 'peak_tops' (dense peak "
                                 "tera-operations per second by precision)");
  const llvm::json::Object *peakObject = peaks->getAsObject();
  if (!peakObject)
    return hardwareError(origin, "field 'peak_tops' must be an object of "
                                 "precision names to numbers");
  for (const auto &peak : *peakObject)
    if (llvm::none_of(kAllPrecisions, [&](Precision precision) {
          return stringifyPrecision(precision) == peak.first.str();
        }))
      return hardwareError(origin, "unknown precision 'peak_tops." +
                                       peak.first.str() +
                                       "' (expected fp32, fp16, bf16, int8, "
                                       "int4)");
  for (Precision precision : kAllPrecisions) {
    StringRef key = stringifyPrecision(precision);
    if (precision != Precision::FP32 && !peakObject->get(key))
      continue;
    llvm::Expected<double> tops = readPositiveNumber(
        *peakObject, key, ("peak_tops." + key).str(),
        "the fp32 peak is required; other precisions fall back to it", origin);
    if (!tops)
      return tops.takeError();
    model.peakOpsPerSecond[static_cast<unsigned>(precision)] = *tops * 1e12;
  }

  llvm::Expected<double> memoryBandwidth =
      readPositiveNumber(*root, "memory_bandwidth_gbs", "memory_bandwidth_gbs",
                         "memory bandwidth in GB/s", origin);
  if (!memoryBandwidth)
    return memoryBandwidth.takeError();
  llvm::Expected<double> linkBandwidth = readPositiveNumber(
      *root, "link_bandwidth_gbs", "link_bandwidth_gbs",
      "bandwidth of one link direction in GB/s", origin);
  if (!linkBandwidth)
    return linkBandwidth.takeError();
  llvm::Expected<double> capacity =
      readPositiveNumber(*root, "memory_capacity_gb", "memory_capacity_gb",
                         "memory capacity in GB", origin);
  if (!capacity)
    return capacity.takeError();
  model.memoryBytesPerSecond = *memoryBandwidth * 1e9;
  model.linkBytesPerSecond = *linkBandwidth * 1e9;
  model.memoryCapacityBytes = *capacity * 1e9;
  return model;
}

llvm::Expected<HardwareModel> HardwareModel::load(StringRef nameOrPath,
                                                  StringRef directory) {
  bool isPath = nameOrPath.contains('/') || nameOrPath.ends_with(".json");
  SmallString<256> path;
  if (isPath) {
    path = nameOrPath;
  } else {
    path = directory;
    llvm::sys::path::append(path, nameOrPath + ".json");
    if (!llvm::sys::fs::exists(path)) {
      SmallVector<std::string> known;
      std::error_code error;
      for (llvm::sys::fs::directory_iterator entry(directory, error), end;
           entry != end && !error; entry.increment(error))
        if (llvm::sys::path::extension(entry->path()) == ".json")
          known.push_back(llvm::sys::path::stem(entry->path()).str());
      llvm::sort(known);
      std::string knownList =
          known.empty() ? std::string("none") : llvm::join(known, ", ");
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "unknown hardware '" + nameOrPath + "': no " + nameOrPath +
              ".json in '" + directory + "' (known: " + knownList + ")");
    }
  }
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return llvm::createStringError(buffer.getError(),
                                   "cannot read hardware file '" + path +
                                       "': " + buffer.getError().message());
  return parse((*buffer)->getBuffer(), path);
}

//===----------------------------------------------------------------------===//
// Roofline evaluation
//===----------------------------------------------------------------------===//

int64_t OpCost::getTotalOps() const {
  return std::accumulate(ops.begin(), ops.end(), int64_t(0));
}

double RooflinePoint::getSeconds() const {
  return std::max({computeSeconds, memorySeconds, linkSeconds});
}

RooflinePoint lowbit::evaluateRoofline(const OpCost &cost,
                                       const HardwareModel &hardware) {
  RooflinePoint point;
  std::array<double, kNumPrecisions> secondsByPeak{};
  for (Precision precision : kAllPrecisions) {
    int64_t ops = cost.ops[static_cast<unsigned>(precision)];
    if (ops == 0)
      continue;
    unsigned peak =
        static_cast<unsigned>(hardware.getExecutingPrecision(precision));
    secondsByPeak[peak] += ops / *hardware.peakOpsPerSecond[peak];
  }
  for (Precision precision : kAllPrecisions) {
    double seconds = secondsByPeak[static_cast<unsigned>(precision)];
    point.computeSeconds += seconds;
    if (seconds >
        secondsByPeak[static_cast<unsigned>(point.computePrecision)])
      point.computePrecision = precision;
  }
  point.memorySeconds = cost.memoryBytes / hardware.memoryBytesPerSecond;
  point.linkSeconds = cost.linkBytes / hardware.linkBytesPerSecond;
  if (cost.linkBytes > 0 && point.linkSeconds >= point.computeSeconds &&
      point.linkSeconds >= point.memorySeconds)
    point.bound = Bound::Link;
  else if (point.computeSeconds > point.memorySeconds)
    point.bound = Bound::Compute;
  else
    point.bound = Bound::Memory;
  return point;
}

std::string lowbit::describeBound(const RooflinePoint &point) {
  switch (point.bound) {
  case Bound::Memory:
    return "memory";
  case Bound::Link:
    return "link";
  case Bound::Compute:
    return ("compute(" + stringifyPrecision(point.computePrecision) + ")")
        .str();
  }
  llvm_unreachable("unknown bound");
}

StringRef lowbit::stringifyPhase(Phase phase) {
  return phase == Phase::Prefill ? "prefill" : "decode";
}

//===----------------------------------------------------------------------===//
// Cost model helpers
//===----------------------------------------------------------------------===//

namespace {
/// Bytes of one element of `type`, rounded up to whole bytes.
int64_t getElementBytes(Type type) {
  return llvm::divideCeil(type.getIntOrFloatBitWidth(), 8);
}

/// The precision a floating-point element type computes in.
Precision getFloatPrecision(Type type) {
  if (type.isF16())
    return Precision::FP16;
  if (type.isBF16())
    return Precision::BF16;
  return Precision::FP32;
}

/// Bytes of `rows` rows of a quantized tensor of `type`: packed blocks plus
/// the scales of every row.
int64_t getQuantizedBytes(QuantizedTensorType type, int64_t rows) {
  BlockLayoutAttr layout = type.getLayout();
  return rows *
         (layout.getPackedRowBytes() + layout.getZeroPointRowBytes() +
          layout.getScalesPerRow() * getElementBytes(type.getScaleType()));
}

/// Bytes of one position (keys and values of all KV heads) of a KV cache.
int64_t getKVPositionBytes(KVCacheType type) {
  int64_t elements = 2 * type.getChannels();
  int64_t bytes = llvm::divideCeil(elements * type.getBits(), 8);
  if (type.getBits() <= 8)
    bytes += elements / type.getGroupSize() * 2;
  // An asymmetric cache's zero points are as wide as its codes.
  if (type.getAsymmetric())
    bytes +=
        llvm::divideCeil(elements / type.getGroupSize() * type.getBits(), 8);
  return bytes;
}

/// A short name of a KV cache's storage, e.g. `KV4 g32`.
std::string describeKVCache(KVCacheType type) {
  std::string text = "KV" + std::to_string(type.getBits());
  if (type.getBits() <= 8)
    text += " g" + std::to_string(type.getGroupSize());
  if (type.getAsymmetric())
    text += " asym";
  return text;
}

/// A short name of the bit widths of a block layout: `4` or `8` when every
/// block has that width, `4/8(k of n)` for k 8-bit blocks out of n.
std::string describeBlockBits(BlockLayoutAttr layout) {
  int64_t int8Blocks = layout.getNumInt8Blocks();
  if (int8Blocks == 0)
    return "4";
  if (int8Blocks == layout.getNumBlocks())
    return "8";
  return "4/8(" + std::to_string(int8Blocks) + " of " +
         std::to_string(layout.getNumBlocks()) + ")";
}

/// A short name of the scale granularity of a block layout.
std::string describeScales(BlockLayoutAttr layout) {
  std::string text =
      layout.getGranularity() == ScaleGranularity::PerGroup
          ? "g" + std::to_string(layout.getGroupSize())
          : stringifyScaleGranularity(layout.getGranularity()).str();
  return layout.getAsymmetric() ? text + " asym" : text;
}

/// Whether `value` holds weights rather than activations: a checkpoint
/// weight, a weight quantized at compile time, or a static-shaped function
/// argument.
bool isWeightValue(Value value) {
  if (Operation *definingOp = value.getDefiningOp())
    return isa<WeightOp>(definingOp) ||
           RooflineCostModel::isCompileTime(definingOp);
  if (auto quantized = dyn_cast<QuantizedTensorType>(value.getType()))
    return !ShapedType::isDynamic(quantized.getNumRows());
  auto shaped = dyn_cast<ShapedType>(value.getType());
  return shaped && shaped.hasStaticShape();
}

/// Whether the roofline counts values of `type` as data: tensors, quantized
/// tensors and KV caches.
bool isDataType(Type type) {
  return isa<RankedTensorType, QuantizedTensorType, KVCacheType>(type);
}

/// Counts one op at a shape binding; each `count` method fills `cost` or
/// reports on the op why it cannot.
class OpCounter {
public:
  OpCounter(const ShapeBinding &binding, OpCost &cost)
      : binding(binding), cost(cost) {}

  /// Tokens one sequence contributes to a row axis of size `rows`.
  int64_t getTokensPerSequence(int64_t rows) const {
    if (!ShapedType::isDynamic(rows))
      return rows;
    return binding.phase == Phase::Prefill ? binding.promptTokens : 1;
  }

  /// Token rows of an activation over the whole batch.
  int64_t getTokenRows(int64_t rows) const {
    return binding.batch * getTokensPerSequence(rows);
  }

  /// KV positions a sequence attends to when `queryRows` rows are its last
  /// ones: the prompt at prefill, the context at decode.
  int64_t getKVLength(int64_t queryRows) const {
    return binding.phase == Phase::Prefill ? queryRows : binding.contextLength;
  }

  /// The static size of dimension `dim` of `type`; fails on `op` when it is
  /// dynamic, naming `operand`.
  FailureOr<int64_t> getStaticDim(Operation *op, ShapedType type, unsigned dim,
                                  StringRef operand) const {
    int64_t size = type.getDimSize(dim);
    if (!ShapedType::isDynamic(size))
      return size;
    return op->emitError() << "lowbit-roofline needs a static dimension "
                           << dim << " of " << operand << ", found " << type;
  }

  /// Activation bytes of `value`, a 2-D tensor or a 1-D token vector whose
  /// leading axis holds token rows.
  FailureOr<int64_t> getActivationBytes(Operation *op, Value value,
                                        StringRef operand) const {
    auto type = cast<RankedTensorType>(value.getType());
    int64_t elements = getTokenRows(type.getDimSize(0));
    for (unsigned dim = 1; dim < type.getRank(); ++dim) {
      FailureOr<int64_t> size = getStaticDim(op, type, dim, operand);
      if (failed(size))
        return failure();
      elements *= *size;
    }
    return elements * getElementBytes(type.getElementType());
  }

  /// Bytes of a weight tensor, read once whole.
  FailureOr<int64_t> getWeightTensorBytes(Operation *op, Value value,
                                          StringRef operand) const {
    auto type = cast<RankedTensorType>(value.getType());
    if (!type.hasStaticShape())
      return op->emitError() << "lowbit-roofline needs a static shape of "
                             << operand << ", found " << type;
    return type.getNumElements() * getElementBytes(type.getElementType());
  }

  /// Fails on `op` when `kvLength` positions do not fit a cache of `type`.
  LogicalResult checkKVLength(Operation *op, KVCacheType type,
                              int64_t kvLength) const {
    if (kvLength <= type.getMaxLength())
      return success();
    return op->emitError() << (binding.phase == Phase::Prefill
                                   ? "prefill of "
                                   : "decode context of ")
                           << kvLength << " positions exceeds max_len "
                           << type.getMaxLength() << " of the KV cache";
  }

  /// Adds the scores of causal attention of `queryRows` rows that end a
  /// sequence of `kvLength` positions, over `heads` heads of `headDim`:
  /// QK^T and PV multiply-adds in `precision` and the softmax in fp32.
  LogicalResult addAttentionWork(Operation *op, Precision precision,
                                 int64_t queryRows, int64_t kvLength,
                                 int64_t heads, int64_t headDim, bool causal) {
    if (causal && kvLength < queryRows)
      return op->emitError() << queryRows << " query rows attend causally to "
                             << "only " << kvLength << " KV positions";
    int64_t pairs = causal ? queryRows * (kvLength - queryRows + 1) +
                                 queryRows * (queryRows - 1) / 2
                           : queryRows * kvLength;
    int64_t scores = binding.batch * heads * pairs;
    addOps(precision, 4 * headDim * scores);
    addOps(Precision::FP32, 5 * scores);
    return success();
  }

  /// Adds `ops` operations of `precision`.
  void addOps(Precision precision, int64_t ops) {
    cost.ops[static_cast<unsigned>(precision)] += ops;
  }

  LogicalResult count(EmbeddingOp op) {
    auto tableType = cast<RankedTensorType>(op.getTable().getType());
    int64_t rows = getTokenRows(op.getTokens().getType().getDimSize(0));
    FailureOr<int64_t> dim = getStaticDim(op, tableType, 1, "the table");
    FailureOr<int64_t> tokenBytes =
        getActivationBytes(op, op.getTokens(), "the tokens");
    FailureOr<int64_t> resultBytes =
        getActivationBytes(op, op.getResult(), "the result");
    if (failed(dim) || failed(tokenBytes) || failed(resultBytes))
      return failure();
    cost.memoryBytes = rows * *dim * getElementBytes(tableType.getElementType()) +
                       *tokenBytes + *resultBytes;
    cost.shape = std::to_string(rows) + " rows of " +
                 std::to_string(tableType.getDimSize(0)) + "x" +
                 std::to_string(*dim);
    return success();
  }

  /// Elementwise work over the elements of `shapeValue`: `opsPerElement`
  /// fp32 operations per element, `activations` and `weights` read and the
  /// result written.
  LogicalResult countElementwise(Operation *op, Value shapeValue,
                                 ValueRange activations, ValueRange weights,
                                 int64_t opsPerElement) {
    auto type = cast<RankedTensorType>(shapeValue.getType());
    FailureOr<int64_t> resultBytes =
        getActivationBytes(op, shapeValue, "the result");
    if (failed(resultBytes))
      return failure();
    int64_t elements = *resultBytes / getElementBytes(type.getElementType());
    addOps(Precision::FP32, opsPerElement * elements);
    cost.memoryBytes = *resultBytes;
    for (Value activation : activations) {
      FailureOr<int64_t> bytes =
          getActivationBytes(op, activation, "an activation operand");
      if (failed(bytes))
        return failure();
      cost.memoryBytes += *bytes;
    }
    for (Value weight : weights) {
      FailureOr<int64_t> bytes =
          getWeightTensorBytes(op, weight, "the weight");
      if (failed(bytes))
        return failure();
      cost.memoryBytes += *bytes;
    }
    cost.shape = std::to_string(getTokenRows(type.getDimSize(0)));
    for (unsigned dim = 1; dim < type.getRank(); ++dim)
      cost.shape += "x" + std::to_string(type.getDimSize(dim));
    llvm::raw_string_ostream(cost.shape) << " " << type.getElementType();
    return success();
  }

  LogicalResult count(LinearOp op) {
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    int64_t rows = getTokenRows(inputType.getDimSize(0));
    FailureOr<int64_t> inputBytes =
        getActivationBytes(op, op.getInput(), "the input");
    FailureOr<int64_t> weightBytes =
        getWeightTensorBytes(op, op.getWeight(), "the weight");
    FailureOr<int64_t> resultBytes =
        getActivationBytes(op, op.getResult(), "the result");
    if (failed(inputBytes) || failed(weightBytes) || failed(resultBytes))
      return failure();
    auto weightType = cast<RankedTensorType>(op.getWeight().getType());
    int64_t outChannels = weightType.getDimSize(0);
    int64_t inChannels = weightType.getDimSize(1);
    addOps(getFloatPrecision(inputType.getElementType()),
           2 * rows * outChannels * inChannels);
    cost.memoryBytes = *inputBytes + *weightBytes + *resultBytes;
    llvm::raw_string_ostream(cost.shape)
        << "M=" << rows << " N=" << outChannels << " K=" << inChannels << " "
        << inputType.getElementType();
    return success();
  }

  LogicalResult count(MatmulOp op) {
    QuantizedTensorType actType = op.getAct().getType();
    QuantizedTensorType weightType = op.getWeight().getType();
    BlockLayoutAttr actLayout = actType.getLayout();
    BlockLayoutAttr weightLayout = weightType.getLayout();
    int64_t rows = getTokenRows(actType.getNumRows());
    int64_t outChannels = weightType.getNumRows();
    int64_t blockSize = actLayout.getBlockSize();
    for (auto [actBits, weightBits] :
         llvm::zip_equal(actLayout.getBlockBits(), weightLayout.getBlockBits()))
      addOps(std::max(actBits, weightBits) == 8 ? Precision::INT8
                                                : Precision::INT4,
             2 * rows * outChannels * blockSize);
    // Every INT32 partial sum of a run of channels that shares both an
    // activation and a weight scale is scaled by both and accumulated.
    int64_t scaleRun = std::gcd(actLayout.getScaleGroupChannels(),
                                weightLayout.getScaleGroupChannels());
    int64_t scaleRuns = actType.getNumChannels() / scaleRun;
    addOps(Precision::FP32, 3 * rows * outChannels * scaleRuns);
    FailureOr<int64_t> resultBytes =
        getActivationBytes(op, op.getResult(), "the result");
    if (failed(resultBytes))
      return failure();
    cost.memoryBytes = getQuantizedBytes(actType, rows) +
                       getQuantizedBytes(weightType, outChannels) +
                       *resultBytes;
    cost.shape = "M=" + std::to_string(rows) + " N=" +
                 std::to_string(outChannels) + " K=" +
                 std::to_string(actType.getNumChannels()) + " A" +
                 describeBlockBits(actLayout) + " W" +
                 describeBlockBits(weightLayout) + " " +
                 describeScales(weightLayout);
    return success();
  }

  LogicalResult count(QuantizeOp op) {
    QuantizedTensorType resultType = op.getResult().getType();
    int64_t rows = getTokenRows(resultType.getNumRows());
    FailureOr<int64_t> inputBytes =
        getActivationBytes(op, op.getInput(), "the input");
    if (failed(inputBytes))
      return failure();
    // Absolute maximum, scaling and rounding of every element.
    addOps(Precision::FP32, 3 * rows * resultType.getNumChannels());
    cost.memoryBytes = *inputBytes + getQuantizedBytes(resultType, rows);
    cost.shape = std::to_string(rows) + "x" +
                 std::to_string(resultType.getNumChannels()) + " -> " +
                 describeBlockBits(resultType.getLayout()) + "-bit " +
                 describeScales(resultType.getLayout());
    return success();
  }

  LogicalResult count(DequantizeOp op) {
    QuantizedTensorType inputType = op.getInput().getType();
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    int64_t rows = isWeightValue(op.getInput())
                       ? inputType.getNumRows()
                       : getTokenRows(inputType.getNumRows());
    int64_t elements = rows * inputType.getNumChannels();
    addOps(Precision::FP32, elements);
    cost.memoryBytes = getQuantizedBytes(inputType, rows) +
                       elements * getElementBytes(resultType.getElementType());
    cost.shape = describeBlockBits(inputType.getLayout()) + "-bit " +
                 describeScales(inputType.getLayout()) + " -> " +
                 std::to_string(rows) + "x" +
                 std::to_string(inputType.getNumChannels());
    return success();
  }

  LogicalResult count(AttentionOp op) {
    auto queryType = cast<RankedTensorType>(op.getQuery().getType());
    auto keysType = cast<RankedTensorType>(op.getKeys().getType());
    int64_t heads = op.getNumHeads();
    int64_t kvHeads = op.getNumKvHeads();
    int64_t headDim = queryType.getDimSize(1) / heads;
    int64_t queryRows = getTokensPerSequence(queryType.getDimSize(0));
    int64_t kvLength = ShapedType::isDynamic(keysType.getDimSize(0))
                           ? getKVLength(queryRows)
                           : keysType.getDimSize(0);
    if (failed(addAttentionWork(op, getFloatPrecision(queryType.getElementType()),
                                queryRows, kvLength, heads, headDim,
                                op.getCausal())))
      return failure();
    int64_t elementBytes = getElementBytes(queryType.getElementType());
    cost.memoryBytes =
        binding.batch * elementBytes *
        (2 * queryRows * heads * headDim + 2 * kvLength * kvHeads * headDim);
    cost.shape = "q=" + std::to_string(queryRows) + " L=" +
                 std::to_string(kvLength) + " H=" + std::to_string(heads) +
                 "/" + std::to_string(kvHeads) + " d=" +
                 std::to_string(headDim);
    return success();
  }

  LogicalResult count(KVAttentionOp op) {
    auto queryType = cast<RankedTensorType>(op.getQuery().getType());
    KVCacheType cacheType = op.getCache().getType();
    int64_t heads = op.getNumHeads();
    int64_t headDim = cacheType.getHeadDim();
    int64_t queryRows = getTokensPerSequence(queryType.getDimSize(0));
    int64_t kvLength = getKVLength(queryRows);
    if (failed(checkKVLength(op, cacheType, kvLength)) ||
        failed(addAttentionWork(op,
                                getFloatPrecision(queryType.getElementType()),
                                queryRows, kvLength, heads, headDim,
                                /*causal=*/true)))
      return failure();
    // Every cached element read is scaled back once.
    if (cacheType.getBits() <= 8)
      addOps(Precision::FP32,
             binding.batch * kvLength * 2 * cacheType.getChannels());
    int64_t elementBytes = getElementBytes(queryType.getElementType());
    cost.memoryBytes =
        binding.batch * (2 * queryRows * heads * headDim * elementBytes +
                         kvLength * getKVPositionBytes(cacheType));
    cost.shape = "q=" + std::to_string(queryRows) + " L=" +
                 std::to_string(kvLength) + " H=" + std::to_string(heads) +
                 "/" + std::to_string(cacheType.getNumHeads()) + " d=" +
                 std::to_string(headDim) + " " + describeKVCache(cacheType);
    return success();
  }

  LogicalResult count(KVAppendOp op) {
    auto keysType = cast<RankedTensorType>(op.getKeys().getType());
    KVCacheType cacheType = op.getCache().getType();
    int64_t newRows = getTokensPerSequence(keysType.getDimSize(0));
    if (failed(checkKVLength(op, cacheType, getKVLength(newRows))))
      return failure();
    int64_t rows = binding.batch * newRows;
    // Absolute maximum, scaling and rounding of every stored element.
    if (cacheType.getBits() <= 8)
      addOps(Precision::FP32, 3 * rows * 2 * cacheType.getChannels());
    cost.memoryBytes =
        rows * (2 * cacheType.getChannels() *
                    getElementBytes(keysType.getElementType()) +
                getKVPositionBytes(cacheType));
    cost.shape = std::to_string(rows) + " rows into " +
                 describeKVCache(cacheType) + " H=" +
                 std::to_string(cacheType.getNumHeads()) + " d=" +
                 std::to_string(cacheType.getHeadDim());
    return success();
  }

  LogicalResult count(PermuteChannelsOp op) {
    FailureOr<int64_t> bytes =
        getActivationBytes(op, op.getInput(), "the input");
    if (failed(bytes))
      return failure();
    cost.memoryBytes = 2 * *bytes;
    cost.shape = std::to_string(op.getPermutation().size()) + " channels";
    return success();
  }

  /// Counts a collective that sends `sentValue`'s data (compressed to `wire`
  /// when present) and moves `numerator/N` of it per rank over the link;
  /// a numerator of 0 stands for N (every rank receives every other rank's
  /// data whole, as a quantized all-gather of partial results does).
  LogicalResult countCollective(Operation *op, StringRef kind, Value sentValue,
                                FlatSymbolRefAttr group,
                                WireFormatAttr wire,
                                int64_t numerator) {
    auto rankGroup =
        SymbolTable::lookupNearestSymbolFrom<RankGroupOp>(op, group);
    if (!rankGroup)
      return op->emitError() << "rank group " << group << " not found";
    int64_t ranks = rankGroup.getRanks().size();
    if (numerator == 0)
      numerator = ranks;
    auto type = cast<RankedTensorType>(sentValue.getType());
    FailureOr<int64_t> channels = getStaticDim(op, type, 1, "the data");
    if (failed(channels))
      return failure();
    int64_t rows = getTokenRows(type.getDimSize(0));
    int64_t dataBytes;
    std::string format;
    if (wire) {
      int64_t blocksPerRow = llvm::divideCeil(*channels, wire.getBlockSize());
      dataBytes =
          llvm::divideCeil(rows * blocksPerRow * wire.getBlockBits(), 8);
      llvm::raw_string_ostream(format)
          << stringifyWireElement(wire.getElement()) << "/"
          << wire.getBlockSize() << " " << wire.getScaleType();
    } else {
      dataBytes = rows * *channels * getElementBytes(type.getElementType());
      llvm::raw_string_ostream(format) << type.getElementType();
    }
    cost.linkBytes = llvm::divideCeil(dataBytes * numerator * (ranks - 1),
                                      ranks);
    cost.shape = kind.str() + " " + std::to_string(rows) + "x" +
                 std::to_string(*channels) + " " + format + " N=" +
                 std::to_string(ranks);
    return success();
  }

private:
  const ShapeBinding &binding;
  OpCost &cost;
};
} // namespace

//===----------------------------------------------------------------------===//
// RooflineCostModel
//===----------------------------------------------------------------------===//

bool RooflineCostModel::isCompileTime(Operation *op) {
  // getSourceWeight looks through shards and channel permutations, which
  // the compiler folds into the stored weight.
  if (isa<ShardOp, PermuteChannelsOp, QuantizeOp>(op))
    return getSourceWeight(op->getOperand(0)) != nullptr;
  return false;
}

int64_t RooflineCostModel::getWeightBytes(Type type) {
  if (auto quantized = dyn_cast<QuantizedTensorType>(type))
    return getQuantizedBytes(quantized, quantized.getNumRows());
  auto tensor = cast<RankedTensorType>(type);
  return tensor.getNumElements() * getElementBytes(tensor.getElementType());
}

int64_t RooflineCostModel::getKVCacheBytes(Type type) const {
  int64_t positions = binding.phase == Phase::Prefill ? binding.promptTokens
                                                      : binding.contextLength;
  return binding.batch * positions *
         getKVPositionBytes(cast<KVCacheType>(type));
}

FailureOr<std::optional<OpCost>>
RooflineCostModel::getCost(Operation *op) const {
  OpCost cost;
  if (isa<WeightOp, RankGroupOp>(op) || isCompileTime(op) ||
      op->hasTrait<OpTrait::ReturnLike>() ||
      op->hasTrait<OpTrait::ConstantLike>() ||
      llvm::none_of(op->getResultTypes(), isDataType))
    return std::optional<OpCost>(cost);

  OpCounter counter(binding, cost);
  std::optional<LogicalResult> counted =
      llvm::TypeSwitch<Operation *, std::optional<LogicalResult>>(op)
          .Case<EmbeddingOp, LinearOp, MatmulOp, QuantizeOp, DequantizeOp,
                AttentionOp, KVAttentionOp, KVAppendOp, PermuteChannelsOp>(
              [&](auto typedOp) { return counter.count(typedOp); })
          .Case([&](RMSNormOp norm) {
            // Square and sum, scale by the reciprocal root, scale by weight.
            return counter.countElementwise(
                norm, norm.getResult(), norm.getInput(), norm.getWeight(), 4);
          })
          .Case([&](RotaryOp rotary) {
            // Two products and one sum per rotated element.
            return counter.countElementwise(
                rotary, rotary.getResult(),
                {rotary.getInput(), rotary.getPositions()}, {}, 3);
          })
          .Case([&](SwiGLUOp swiglu) {
            // Exponential, sum, division and product per element.
            return counter.countElementwise(
                swiglu, swiglu.getResult(),
                {swiglu.getGate(), swiglu.getUp()}, {}, 4);
          })
          .Case([&](AllReduceOp reduce) {
            // Uncompressed: a ring, 2 (N - 1) / N of the data per rank.
            // Compressed: a quantized all-gather of the partial results
            // and a local sum, N - 1 of them per rank.
            return counter.countCollective(reduce, "all_reduce",
                                           reduce.getInput(),
                                           reduce.getGroupAttr(),
                                           reduce.getWireAttr(),
                                           reduce.getWire() ? 0 : 2);
          })
          .Case([&](AllGatherOp gather) {
            return counter.countCollective(gather, "all_gather",
                                           gather.getResult(),
                                           gather.getGroupAttr(),
                                           gather.getWireAttr(), 1);
          })
          .Case([&](ReduceScatterOp scatter) {
            return counter.countCollective(scatter, "reduce_scatter",
                                           scatter.getInput(),
                                           scatter.getGroupAttr(),
                                           scatter.getWireAttr(), 1);
          })
          .Default([&](Operation *other) -> std::optional<LogicalResult> {
            bool isTensorElementwise =
                other->hasTrait<OpTrait::Elementwise>() &&
                other->getNumResults() == 1 &&
                isa<RankedTensorType>(other->getResult(0).getType());
            if (!isTensorElementwise)
              return std::nullopt;
            return counter.countElementwise(other, other->getResult(0),
                                            other->getOperands(), {}, 1);
          });
  if (!counted)
    return std::optional<OpCost>();
  if (failed(*counted))
    return failure();
  return std::optional<OpCost>(cost);
}
