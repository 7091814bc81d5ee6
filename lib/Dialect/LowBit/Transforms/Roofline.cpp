//===- Roofline.cpp - per-op roofline report of a lowbit model -------------===//
//
// Users choose a quantization scheme and a GPU from numbers: this pass puts
// every op of every function on the roofline of a hardware model and writes
// the operations by precision, bytes, intensity, binding roof and predicted
// time of each, with totals and the memory footprint per function, as a
// table, CSV or JSON, or draws them as an SVG roofline plot. The counting and
// the plot live in the Analysis library so that the benchmarks can reuse
// them; this file binds shapes, walks functions and formats the report.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/Analysis/Roofline.h"
#include "lowbit/Dialect/LowBit/Analysis/RooflinePlot.h"
#include "lowbit/Dialect/LowBit/IR/LowBitOps.h"
#include "lowbit/Dialect/LowBit/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"

namespace lowbit {
#define GEN_PASS_DEF_ROOFLINE
#include "lowbit/Dialect/LowBit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {

/// Every precision, in `Precision` order, for report columns.
constexpr std::array<Precision, kNumPrecisions> kReportPrecisions = {
    Precision::FP32, Precision::FP16, Precision::BF16, Precision::INT8,
    Precision::INT4};

/// The roof that takes most of a function's time.
StringRef describeDominantBound(const FunctionReport &report) {
  static constexpr StringLiteral kNames[] = {"memory", "compute", "link"};
  const double *largest = llvm::max_element(report.secondsByBound);
  return kNames[largest - report.secondsByBound.begin()];
}

/// Where `loc` points, short enough for a table cell.
std::string describeLocation(Location loc) {
  if (auto fileLoc = dyn_cast<FileLineColLoc>(loc))
    return (llvm::sys::path::filename(fileLoc.getFilename().getValue()) +
            ":" + Twine(fileLoc.getLine()) + ":" + Twine(fileLoc.getColumn()))
        .str();
  if (auto nameLoc = dyn_cast<NameLoc>(loc))
    return nameLoc.getName().str();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location inner : fused.getLocations())
      if (std::string text = describeLocation(inner); text != "-")
        return text;
  return "-";
}

/// Whether `value` is a weight as stored in memory: its operand role says so
/// and it is not the float form of a weight quantized at compile time.
bool isStoredWeight(Value value) {
  return !llvm::all_of(value.getUsers(), RooflineCostModel::isCompileTime);
}

/// Adds the distinct weights and KV caches `function` reads to `report`.
void collectFootprint(func::FuncOp function, const RooflineCostModel &model,
                      FunctionReport &report) {
  llvm::SetVector<Value> weights;
  llvm::SetVector<Value> caches;
  auto addCache = [&](Value cache) {
    while (auto append = cache.getDefiningOp<KVAppendOp>())
      cache = append.getCache();
    caches.insert(cache);
  };
  function.walk([&](Operation *op) {
    if (auto linear = dyn_cast<LinearOp>(op))
      weights.insert(linear.getWeight());
    else if (auto matmul = dyn_cast<MatmulOp>(op))
      weights.insert(matmul.getWeight());
    else if (auto norm = dyn_cast<RMSNormOp>(op))
      weights.insert(norm.getWeight());
    else if (auto embedding = dyn_cast<EmbeddingOp>(op))
      weights.insert(embedding.getTable());
    else if (auto append = dyn_cast<KVAppendOp>(op))
      addCache(append.getCache());
    else if (auto attention = dyn_cast<KVAttentionOp>(op))
      addCache(attention.getCache());
  });
  // The float input of a weight dequantized at run time is what is stored.
  for (Value weight : llvm::to_vector(weights))
    if (auto dequantize = weight.getDefiningOp<DequantizeOp>()) {
      weights.remove(weight);
      weights.insert(dequantize.getInput());
    }
  for (Value weight : weights)
    if (isStoredWeight(weight))
      report.weightBytes += RooflineCostModel::getWeightBytes(weight.getType());
  for (Value cache : caches)
    report.kvCacheBytes += model.getKVCacheBytes(cache.getType());
}

/// A count as printed in tables: `-` for zero.
std::string formatCount(int64_t count) {
  return count == 0 ? "-" : std::to_string(count);
}

/// A floating-point value with `decimals` decimals.
std::string formatFixed(double value, unsigned decimals) {
  std::string text;
  llvm::raw_string_ostream(text) << llvm::format("%.*f", decimals, value);
  return text;
}

/// Operations per byte of memory traffic, `-` when nothing moves.
std::string formatIntensity(const OpCost &cost) {
  if (cost.memoryBytes == 0)
    return "-";
  return formatFixed(double(cost.getTotalOps()) / cost.memoryBytes, 2);
}

/// The tokens a function processes at its phase, over the whole batch.
int64_t getProcessedTokens(const ShapeBinding &binding) {
  return binding.batch *
         (binding.phase == Phase::Prefill ? binding.promptTokens : 1);
}

/// Columns of the text table and of the CSV file after the op's identity.
SmallVector<std::string> formatCostCells(const OpCost &cost, double seconds,
                                         StringRef bound) {
  SmallVector<std::string> cells;
  for (Precision precision : kReportPrecisions)
    cells.push_back(formatCount(cost.ops[static_cast<unsigned>(precision)]));
  cells.push_back(std::to_string(cost.memoryBytes));
  cells.push_back(formatCount(cost.linkBytes));
  cells.push_back(formatIntensity(cost));
  cells.push_back(bound.str());
  cells.push_back(formatFixed(seconds * 1e6, 3));
  return cells;
}

/// Writes `reports` as one aligned text table per function.
void writeTable(raw_ostream &os, ArrayRef<FunctionReport> reports,
                const HardwareModel &hardware) {
  SmallVector<std::string> header = {"#",    "op",    "loc",   "shape",
                                     "fp32", "fp16",  "bf16",  "int8",
                                     "int4", "bytes", "link_bytes",
                                     "ops/B", "bound", "time_us"};
  // Text columns are left-aligned, counts right-aligned.
  constexpr unsigned kFirstNumericColumn = 4;
  for (const FunctionReport &report : reports) {
    const ShapeBinding &binding = report.binding;
    os << "== @" << report.function << " | " << stringifyPhase(binding.phase)
       << " | batch " << binding.batch << ", ";
    if (binding.phase == Phase::Prefill)
      os << binding.promptTokens << " prompt tokens per sequence";
    else
      os << "1 new token per sequence, context " << binding.contextLength;
    os << " | " << hardware.name << " ==\n";

    std::vector<SmallVector<std::string>> lines = {header};
    for (const OpReport &row : report.rows) {
      SmallVector<std::string> line = {"#" + std::to_string(row.index),
                                       row.opName, row.location,
                                       row.cost.shape};
      llvm::append_range(line,
                         formatCostCells(row.cost, row.point.getSeconds(),
                                         describeBound(row.point)));
      lines.push_back(std::move(line));
    }
    SmallVector<std::string> totalLine = {"", "total", "", ""};
    llvm::append_range(totalLine,
                       formatCostCells(report.total, report.seconds,
                                       describeDominantBound(report)));
    lines.push_back(std::move(totalLine));

    SmallVector<size_t> widths(header.size(), 0);
    for (const SmallVector<std::string> &line : lines)
      for (auto [column, cell] : llvm::enumerate(line))
        widths[column] = std::max(widths[column], cell.size());
    for (const SmallVector<std::string> &line : lines) {
      for (auto [column, cell] : llvm::enumerate(line)) {
        if (column != 0)
          os << "  ";
        if (column < kFirstNumericColumn)
          os << llvm::left_justify(cell, widths[column]);
        else
          os << llvm::right_justify(cell, widths[column]);
      }
      os << "\n";
    }

    double capacityShare = 100.0 *
                           (report.weightBytes + report.kvCacheBytes) /
                           hardware.memoryCapacityBytes;
    os << "footprint: weights " << report.weightBytes << " B, KV cache "
       << report.kvCacheBytes << " B, "
       << formatFixed(capacityShare, 2) << "% of "
       << formatFixed(hardware.memoryCapacityBytes / 1e9, 0) << " GB\n";
    os << "time: " << formatFixed(report.seconds * 1e6, 3) << " us";
    if (report.seconds > 0) {
      os << " (memory-bound "
         << formatFixed(100 * report.secondsByBound[0] / report.seconds, 1)
         << "%, compute-bound "
         << formatFixed(100 * report.secondsByBound[1] / report.seconds, 1)
         << "%, link-bound "
         << formatFixed(100 * report.secondsByBound[2] / report.seconds, 1)
         << "%), "
         << formatFixed(getProcessedTokens(binding) / report.seconds, 1)
         << " tokens/s";
    }
    os << "\n\n";
  }
}

/// A CSV field, quoted when it holds a comma or a quote.
std::string quoteCSV(StringRef field) {
  if (!field.contains(',') && !field.contains('"'))
    return field.str();
  std::string quoted = "\"";
  for (char c : field) {
    if (c == '"')
      quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

/// Writes `reports` as CSV: one line per op and one `total` line per
/// function, which alone fills the footprint columns.
void writeCSV(raw_ostream &os, ArrayRef<FunctionReport> reports) {
  os << "function,phase,index,op,location,shape,fp32_ops,fp16_ops,bf16_ops,"
        "int8_ops,int4_ops,bytes,link_bytes,intensity,bound,time_us,"
        "weight_bytes,kv_cache_bytes\n";
  auto writeCells = [&](ArrayRef<std::string> cells) {
    for (const std::string &cell : cells)
      os << "," << (cell == "-" ? "0" : quoteCSV(cell));
  };
  for (const FunctionReport &report : reports) {
    StringRef phase = stringifyPhase(report.binding.phase);
    for (const OpReport &row : report.rows) {
      os << report.function << "," << phase << "," << row.index << ","
         << row.opName << "," << quoteCSV(row.location) << ","
         << quoteCSV(row.cost.shape);
      writeCells(formatCostCells(row.cost, row.point.getSeconds(),
                                 describeBound(row.point)));
      os << ",,\n";
    }
    os << report.function << "," << phase << ",,total,,";
    writeCells(formatCostCells(report.total, report.seconds,
                               describeDominantBound(report)));
    os << "," << report.weightBytes << "," << report.kvCacheBytes << "\n";
  }
}

/// Writes the operations by precision of `cost` as a JSON object.
void writeJSONOps(llvm::json::OStream &json, const OpCost &cost) {
  json.attributeObject("ops", [&] {
    for (Precision precision : kReportPrecisions)
      json.attribute(stringifyPrecision(precision),
                     cost.ops[static_cast<unsigned>(precision)]);
  });
  json.attribute("bytes", cost.memoryBytes);
  json.attribute("link_bytes", cost.linkBytes);
}

/// Writes `reports` as one JSON document.
void writeJSON(raw_ostream &os, ArrayRef<FunctionReport> reports,
               const HardwareModel &hardware) {
  llvm::json::OStream json(os, /*IndentSize=*/2);
  json.object([&] {
    json.attributeObject("hardware", [&] {
      json.attribute("name", hardware.name);
      json.attribute("memory_bytes_per_second", hardware.memoryBytesPerSecond);
      json.attribute("link_bytes_per_second", hardware.linkBytesPerSecond);
      json.attribute("memory_capacity_bytes", hardware.memoryCapacityBytes);
    });
    json.attributeArray("functions", [&] {
      for (const FunctionReport &report : reports) {
        json.object([&] {
          json.attribute("function", report.function);
          json.attribute("phase", stringifyPhase(report.binding.phase));
          json.attribute("batch", report.binding.batch);
          if (report.binding.phase == Phase::Prefill)
            json.attribute("seq", report.binding.promptTokens);
          else
            json.attribute("context", report.binding.contextLength);
          json.attributeArray("ops", [&] {
            for (const OpReport &row : report.rows) {
              json.object([&] {
                json.attribute("index", row.index);
                json.attribute("op", row.opName);
                json.attribute("location", row.location);
                json.attribute("shape", row.cost.shape);
                writeJSONOps(json, row.cost);
                json.attribute("bound", describeBound(row.point));
                json.attribute("time_us", row.point.getSeconds() * 1e6);
              });
            }
          });
          json.attributeObject("total", [&] {
            writeJSONOps(json, report.total);
            json.attribute("bound", describeDominantBound(report));
            json.attribute("time_us", report.seconds * 1e6);
          });
          json.attributeObject("footprint", [&] {
            json.attribute("weight_bytes", report.weightBytes);
            json.attribute("kv_cache_bytes", report.kvCacheBytes);
          });
        });
      }
    });
  });
  os << "\n";
}

/// share/lowbit/hardware next to the bin directory of the running tool, or,
/// for programs that link the compiler from elsewhere (a Python process),
/// the hardware models of the source tree it was built from.
std::string getInstalledHardwareDir() {
  std::string executable = llvm::sys::fs::getMainExecutable(
      nullptr, reinterpret_cast<void *>(
                   reinterpret_cast<intptr_t>(&getInstalledHardwareDir)));
  SmallString<256> directory(llvm::sys::path::parent_path(
      llvm::sys::path::parent_path(executable)));
  llvm::sys::path::append(directory, "share", "lowbit", "hardware");
  if (llvm::sys::fs::is_directory(directory))
    return std::string(directory);
  return LOWBIT_SOURCE_HARDWARE_DIR;
}

struct RooflinePass : lowbit::impl::RooflineBase<RooflinePass> {
  using Base::Base;

  void runOnOperation() override;

private:
  /// The phases `function` is reported at.
  SmallVector<Phase> getPhases(func::FuncOp function) const;
  /// Checks the options that need no hardware model.
  LogicalResult verifyOptions();
};

LogicalResult RooflinePass::verifyOptions() {
  ModuleOp module = getOperation();
  if (hardware.empty())
    return emitError(module.getLoc())
           << "lowbit-roofline needs a hardware model: pass hw=<name or path "
              "of a JSON file>";
  if (phase != "auto" && phase != "prefill" && phase != "decode")
    return emitError(module.getLoc()) << "lowbit-roofline phase must be prefill, "
                                 "decode or auto, found '"
                              << phase << "'";
  if (format != "table" && format != "csv" && format != "json" &&
      format != "svg")
    return emitError(module.getLoc())
           << "lowbit-roofline format must be table, csv, json or svg, found '"
           << format << "'";
  auto verifyPositive = [&](StringRef name, int64_t value) -> LogicalResult {
    if (value > 0)
      return success();
    return emitError(module.getLoc()) << "lowbit-roofline " << name
                              << " must be positive, found " << value;
  };
  return success(succeeded(verifyPositive("batch", batch)) &&
                 succeeded(verifyPositive("seq", promptTokens)) &&
                 succeeded(verifyPositive("context", contextLength)));
}

SmallVector<Phase> RooflinePass::getPhases(func::FuncOp function) const {
  if (phase == "prefill")
    return {Phase::Prefill};
  if (phase == "decode")
    return {Phase::Decode};
  if (function.getSymName() == "prefill")
    return {Phase::Prefill};
  if (function.getSymName() == "decode")
    return {Phase::Decode};
  return {Phase::Prefill, Phase::Decode};
}

void RooflinePass::runOnOperation() {
  ModuleOp module = getOperation();
  if (failed(verifyOptions()))
    return signalPassFailure();
  std::string directory =
      hardwareDir.empty() ? getInstalledHardwareDir() : hardwareDir.getValue();
  llvm::Expected<HardwareModel> hardwareModel =
      HardwareModel::load(hardware, directory);
  if (!hardwareModel) {
    emitError(module.getLoc()) << llvm::toString(hardwareModel.takeError());
    return signalPassFailure();
  }

  std::vector<FunctionReport> reports;
  for (func::FuncOp function : module.getOps<func::FuncOp>()) {
    if (function.isExternal())
      continue;
    for (Phase functionPhase : getPhases(function)) {
      FunctionReport &report = reports.emplace_back();
      report.function = function.getSymName().str();
      report.binding = {functionPhase, batch, promptTokens, contextLength};
      RooflineCostModel model(report.binding);
      int64_t index = -1;
      WalkResult walk = function.walk<WalkOrder::PreOrder>(
          [&](Operation *op) {
            if (op == function)
              return WalkResult::advance();
            ++index;
            FailureOr<std::optional<OpCost>> cost = model.getCost(op);
            if (failed(cost))
              return WalkResult::interrupt();
            if (!*cost) {
              op->emitWarning() << "lowbit-roofline has no cost model of '"
                                << op->getName() << "'; it is left out";
              return WalkResult::advance();
            }
            if ((*cost)->getTotalOps() == 0 && (*cost)->memoryBytes == 0 &&
                (*cost)->linkBytes == 0)
              return WalkResult::advance();
            OpReport &row = report.rows.emplace_back();
            row.index = index;
            row.opName = op->getName().getStringRef().str();
            row.location = describeLocation(op->getLoc());
            row.cost = std::move(**cost);
            row.point = evaluateRoofline(row.cost, *hardwareModel);
            for (unsigned precision = 0; precision < kNumPrecisions;
                 ++precision)
              report.total.ops[precision] += row.cost.ops[precision];
            report.total.memoryBytes += row.cost.memoryBytes;
            report.total.linkBytes += row.cost.linkBytes;
            report.seconds += row.point.getSeconds();
            report.secondsByBound[static_cast<unsigned>(row.point.bound)] +=
                row.point.getSeconds();
            return WalkResult::advance();
          });
      if (walk.wasInterrupted())
        return signalPassFailure();
      collectFootprint(function, model, report);
    }
  }

  std::string errorMessage;
  std::unique_ptr<llvm::ToolOutputFile> outputFile =
      openOutputFile(output, &errorMessage);
  if (!outputFile) {
    emitError(module.getLoc()) << "lowbit-roofline cannot write its report: "
                       << errorMessage;
    return signalPassFailure();
  }
  raw_ostream &os = outputFile->os();
  if (format == "csv")
    writeCSV(os, reports);
  else if (format == "json")
    writeJSON(os, reports, *hardwareModel);
  else if (format == "svg")
    writeRooflineSVG(os, reports, *hardwareModel);
  else
    writeTable(os, reports, *hardwareModel);
  os.flush();
  outputFile->keep();
  markAllAnalysesPreserved();
}

} // namespace
