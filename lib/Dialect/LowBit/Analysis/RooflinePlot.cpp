//===- RooflinePlot.cpp - SVG roofline plot of a report -------------------===//
//
// Draws the reports of `lowbit-roofline` as the roofline plot people read:
// arithmetic intensity against attainable operations per second on log-log
// axes, the memory roof rising to the compute roofs of the machine's native
// precisions, and each op as a point coloured by phase. The SVG is written as
// plain text so that the compiler needs no plotting library and the output
// can be checked with FileCheck.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/LowBit/Analysis/RooflinePlot.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <limits>

using namespace lowbit;
using llvm::ArrayRef;
using llvm::SmallVector;
using llvm::StringRef;

namespace {

//===----------------------------------------------------------------------===//
// Layout
//===----------------------------------------------------------------------===//

/// The canvas, in SVG user units.
constexpr double kCanvasWidth = 1120;
constexpr double kCanvasHeight = 680;
/// The plot area; the axes run along its left and bottom edges.
constexpr double kPlotLeft = 96;
constexpr double kPlotRight = 800;
constexpr double kPlotTop = 84;
constexpr double kPlotBottom = 600;
/// Left edge of the legend and notes column, right of the plot.
constexpr double kLegendLeft = 826;
/// Characters per line of a note in the legend column.
constexpr size_t kNoteColumns = 46;
/// Radius of an op's point: a dot at decode, a ring around it at prefill, so
/// that the two phases of an op at the same place both show.
constexpr double kDecodeRadius = 4;
constexpr double kPrefillRadius = 6.5;
/// Room kept above the highest roof for its label, in decades.
constexpr double kHeadroomDecades = 0.25;
/// Vertical room a roof label needs, in SVG units.
constexpr double kRoofLabelHeight = 15;
/// Space between a roof's ridge and its label.
constexpr double kRoofLabelGap = 10;
/// Width of an average character of 12-unit text, to fit labels.
constexpr double kCharacterWidth = 6.8;

/// Point colours: cold for decode, warm for prefill. The n-th function of a
/// plot takes the n-th colour of its phase (cyclically), so a function keeps
/// its place in the palette across phases.
constexpr llvm::StringLiteral kDecodeColours[] = {"#1f77b4", "#17becf",
                                                  "#393b79", "#9467bd"};
constexpr llvm::StringLiteral kPrefillColours[] = {"#ff7f0e", "#d62728",
                                                   "#e377c2", "#bcbd22"};
/// Colour of the roofs and their labels.
constexpr llvm::StringLiteral kRoofColour = "#222222";

//===----------------------------------------------------------------------===//
// Text
//===----------------------------------------------------------------------===//

/// `text` with the characters XML reserves escaped, for element text and
/// attribute values alike.
std::string escapeXML(StringRef text) {
  std::string escaped;
  for (char c : text) {
    switch (c) {
    case '&':
      escaped += "&amp;";
      break;
    case '<':
      escaped += "&lt;";
      break;
    case '>':
      escaped += "&gt;";
      break;
    case '"':
      escaped += "&quot;";
      break;
    default:
      escaped += c;
    }
  }
  return escaped;
}

/// `value` with `digits` significant digits and no trailing zeros.
std::string formatSignificant(double value, int digits) {
  std::string text;
  llvm::raw_string_ostream(text) << llvm::format("%.*g", digits, value);
  return text;
}

/// A coordinate of the drawing.
std::string formatCoordinate(double value) {
  std::string text;
  llvm::raw_string_ostream(text) << llvm::format("%.1f", value);
  return text;
}

/// A rate in units of `unit` with the SI prefix datasheets use for it:
/// `989.5 TFLOP/s`, `3.35 TB/s`, `153.6 GFLOP/s`.
std::string formatRate(double perSecond, StringRef unit) {
  static constexpr std::pair<double, llvm::StringLiteral> kPrefixes[] = {
      {1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
  for (const auto &[scale, prefix] : kPrefixes)
    if (perSecond >= scale)
      return formatSignificant(perSecond / scale, 4) + " " + prefix.str() +
             unit.str();
  return formatSignificant(perSecond, 4) + " " + unit.str();
}

/// The tick label of 10^`decade` on the intensity axis: `0.1`, `1`,
/// `1000`, `1e5`.
std::string formatIntensityDecade(int decade) {
  if (decade < -3 || decade > 4)
    return "1e" + std::to_string(decade);
  if (decade < 0)
    return "0." + std::string(-decade - 1, '0') + "1";
  return "1" + std::string(decade, '0');
}

/// The tick label of 10^`decade` on the performance axis with an SI prefix:
/// `100 G`, `1 T`, `10 P`.
std::string formatRateDecade(int decade) {
  static constexpr llvm::StringLiteral kPrefixes[] = {"",  "k", "M", "G",
                                                      "T", "P", "E"};
  if (decade < 0 || decade >= 3 * int(std::size(kPrefixes)))
    return "1e" + std::to_string(decade);
  static constexpr llvm::StringLiteral kMantissas[] = {"1", "10", "100"};
  return (kMantissas[decade % 3] + " " + kPrefixes[decade / 3]).str();
}

/// `text` broken at spaces into lines of at most `columns` characters (a
/// longer word gets a line of its own).
SmallVector<std::string> wrapText(StringRef text, size_t columns) {
  SmallVector<std::string> lines;
  SmallVector<StringRef> words;
  text.split(words, ' ', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  for (StringRef word : words) {
    if (!lines.empty() && lines.back().size() + 1 + word.size() <= columns)
      lines.back() += (" " + word).str();
    else
      lines.push_back(word.str());
  }
  return lines;
}

//===----------------------------------------------------------------------===//
// Axes and roofs
//===----------------------------------------------------------------------===//

/// Keeps an exact power of ten from rounding outwards to the next decade.
constexpr double kExponentTolerance = 1e-9;

/// A logarithmic axis, mapped onto a pixel interval.
struct LogAxis {
  /// Base-10 exponents of the values at the two ends.
  double lowExponent = 0;
  double highExponent = 1;
  /// Pixel positions of the two ends (on a y axis the low end is the
  /// larger pixel position).
  double lowPixel = 0;
  double highPixel = 1;

  /// The pixel position of `value`, which is positive.
  double map(double value) const { return mapExponent(std::log10(value)); }
  /// The pixel position of 10^`exponent`.
  double mapExponent(double exponent) const {
    return lowPixel + (exponent - lowExponent) / (highExponent - lowExponent) *
                          (highPixel - lowPixel);
  }
  /// Pixels from one decade to the next; negative on a y axis.
  double getPixelsPerDecade() const {
    return (highPixel - lowPixel) / (highExponent - lowExponent);
  }
  /// Whether 10^`exponent` lies on the axis.
  bool contains(double exponent) const {
    return exponent >= lowExponent - kExponentTolerance &&
           exponent <= highExponent + kExponentTolerance;
  }
  /// The exponents of the powers of ten on the axis.
  SmallVector<int> getDecades() const {
    SmallVector<int> decades;
    for (int decade =
             static_cast<int>(std::ceil(lowExponent - kExponentTolerance));
         decade <= highExponent + kExponentTolerance; ++decade)
      decades.push_back(decade);
    return decades;
  }
};

/// The decade exponent at or below `value`.
double getFloorDecade(double value) {
  return std::floor(std::log10(value) + kExponentTolerance);
}

/// The decade exponent at or above `value`.
double getCeilDecade(double value) {
  return std::ceil(std::log10(value) - kExponentTolerance);
}

/// A compute roof: a peak rate and the precisions whose peak it is.
struct ComputeRoof {
  double opsPerSecond = 0;
  SmallVector<Precision> precisions;
};

/// The machine's compute roofs, highest first; precisions with equal peaks
/// (fp16 and bf16 on most GPUs) share one.
SmallVector<ComputeRoof> getComputeRoofs(const HardwareModel &hardware) {
  SmallVector<ComputeRoof> roofs;
  for (unsigned index = 0; index < kNumPrecisions; ++index) {
    const std::optional<double> &peak = hardware.peakOpsPerSecond[index];
    if (!peak)
      continue;
    auto precision = static_cast<Precision>(index);
    auto *sharedRoof = llvm::find_if(roofs, [&](const ComputeRoof &roof) {
      return roof.opsPerSecond == *peak;
    });
    if (sharedRoof != roofs.end())
      sharedRoof->precisions.push_back(precision);
    else
      roofs.push_back({*peak, {precision}});
  }
  llvm::sort(roofs, [](const ComputeRoof &lhs, const ComputeRoof &rhs) {
    return lhs.opsPerSecond > rhs.opsPerSecond;
  });
  return roofs;
}

/// Whether `precision` is a floating-point one, counted in FLOP.
bool isFloatingPoint(Precision precision) {
  return precision == Precision::FP32 || precision == Precision::FP16 ||
         precision == Precision::BF16;
}

/// The precisions of `roof`, e.g. `fp16/bf16`.
std::string describePrecisions(const ComputeRoof &roof) {
  return llvm::join(llvm::map_range(roof.precisions, stringifyPrecision), "/");
}

/// The label of `roof`: its precisions and its peak, e.g.
/// `fp16/bf16 989.5 TFLOP/s`.
std::string describeRoof(const ComputeRoof &roof) {
  StringRef unit =
      llvm::all_of(roof.precisions, isFloatingPoint) ? "FLOP/s" : "OP/s";
  return describePrecisions(roof) + " " + formatRate(roof.opsPerSecond, unit);
}

/// The ridge point of `roof`: the intensity at which it meets the memory
/// roof, as the plot prints it.
std::string describeRidge(const ComputeRoof &roof,
                          const HardwareModel &hardware) {
  return formatSignificant(roof.opsPerSecond / hardware.memoryBytesPerSecond,
                           3);
}

//===----------------------------------------------------------------------===//
// Points
//===----------------------------------------------------------------------===//

/// An op as the plot draws it.
struct PlottedOp {
  /// The function and phase it belongs to.
  const FunctionReport *report = nullptr;
  /// Its row of the report.
  const OpReport *row = nullptr;
  /// All its operations over its memory bytes.
  double opsPerByte = 0;
  /// All its operations over its predicted time.
  double opsPerSecond = 0;
  /// Its colour: its phase's, in its function's shade.
  StringRef colour;
};

/// The hover text of `op`: which op, where, at which shape, and where it
/// lands on the roofline.
std::string describePoint(const PlottedOp &op) {
  const OpReport &row = *op.row;
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "@" << op.report->function << " | "
     << stringifyPhase(op.report->binding.phase) << " | #" << row.index << " "
     << row.opName << "\n"
     << "loc: " << row.location << "\n"
     << "shape: " << row.cost.shape << "\n"
     << llvm::format("%.2f", op.opsPerByte) << " ops/B, "
     << formatRate(op.opsPerSecond, "OP/s") << ", " << describeBound(row.point)
     << "-bound, " << llvm::format("%.3f", row.point.getSeconds() * 1e6)
     << " us";
  return text;
}

/// The radius, fill and stroke attributes of a point of `phase` in
/// `colour`: a dot at decode, a ring at prefill.
std::string getMarkerStyle(Phase phase, StringRef colour) {
  if (phase == Phase::Decode)
    return ("r=\"" + formatCoordinate(kDecodeRadius) + "\" fill=\"" + colour +
            "\" fill-opacity=\"0.85\" stroke=\"#ffffff\" stroke-width=\"0.6\"")
        .str();
  return ("r=\"" + formatCoordinate(kPrefillRadius) + "\" fill=\"" + colour +
          "\" fill-opacity=\"0.15\" stroke=\"" + colour +
          "\" stroke-width=\"2\"")
      .str();
}

/// The first report at `phase`, if any.
const FunctionReport *findPhase(ArrayRef<FunctionReport> reports, Phase phase) {
  const auto *found = llvm::find_if(reports, [&](const FunctionReport &report) {
    return report.binding.phase == phase;
  });
  return found == reports.end() ? nullptr : found;
}

/// How a phase's sizes read in the subtitle and the legend.
std::string describePhaseSizes(const ShapeBinding &binding) {
  if (binding.phase == Phase::Prefill)
    return "prefill of " + std::to_string(binding.promptTokens) +
           " prompt tokens per sequence";
  return "decode of 1 token per sequence at context " +
         std::to_string(binding.contextLength);
}

/// Writes a `<text>` element at (`x`, `y`) with `attributes` (already
/// escaped) and the escaped `text`.
void writeText(llvm::raw_ostream &os, double x, double y, StringRef attributes,
               StringRef text) {
  os << "<text x=\"" << formatCoordinate(x) << "\" y=\"" << formatCoordinate(y)
     << "\"";
  if (!attributes.empty())
    os << " " << attributes;
  os << ">" << escapeXML(text) << "</text>\n";
}

/// Writes a `<line>` element from (`x1`, `y1`) to (`x2`, `y2`) with
/// `attributes` (already escaped) and, unless empty, the hover text `title`.
void writeLine(llvm::raw_ostream &os, double x1, double y1, double x2,
               double y2, StringRef attributes, StringRef title = "") {
  os << "<line x1=\"" << formatCoordinate(x1) << "\" y1=\""
     << formatCoordinate(y1) << "\" x2=\"" << formatCoordinate(x2) << "\" y2=\""
     << formatCoordinate(y2) << "\" " << attributes;
  if (title.empty())
    os << "/>\n";
  else
    os << "><title>" << escapeXML(title) << "</title></line>\n";
}

} // namespace

void lowbit::writeRooflineSVG(llvm::raw_ostream &os,
                              ArrayRef<FunctionReport> reports,
                              const HardwareModel &hardware) {
  double bandwidth = hardware.memoryBytesPerSecond;
  SmallVector<ComputeRoof> roofs = getComputeRoofs(hardware);
  double topRidge = roofs.front().opsPerSecond / bandwidth;

  // Functions keep their shade in both phases.
  SmallVector<StringRef> functions;
  for (const FunctionReport &report : reports)
    if (!llvm::is_contained(functions, report.function))
      functions.push_back(report.function);
  auto getColour = [&](const FunctionReport &report) -> StringRef {
    size_t shade = llvm::find(functions, report.function) - functions.begin();
    if (report.binding.phase == Phase::Decode)
      return kDecodeColours[shade % std::size(kDecodeColours)];
    return kPrefillColours[shade % std::size(kPrefillColours)];
  };

  // An op without operations or without bytes has no place on log axes.
  std::vector<PlottedOp> points;
  int64_t skippedOps = 0;
  SmallVector<StringRef> skippedOpNames;
  for (const FunctionReport &report : reports) {
    for (const OpReport &row : report.rows) {
      int64_t ops = row.cost.getTotalOps();
      if (ops == 0 || row.cost.memoryBytes == 0) {
        ++skippedOps;
        if (!llvm::is_contained(skippedOpNames, row.opName))
          skippedOpNames.push_back(row.opName);
        continue;
      }
      points.push_back({&report, &row, double(ops) / row.cost.memoryBytes,
                        ops / row.point.getSeconds(), getColour(report)});
    }
  }

  // The axes hold every point and every ridge; without points, a decade
  // either side of the ridges.
  double lowIntensity = std::numeric_limits<double>::infinity();
  double highIntensity = 0;
  for (const ComputeRoof &roof : roofs) {
    lowIntensity = std::min(lowIntensity, roof.opsPerSecond / bandwidth);
    highIntensity = std::max(highIntensity, roof.opsPerSecond / bandwidth);
  }
  double lowRate = roofs.back().opsPerSecond;
  if (points.empty()) {
    lowIntensity /= 10;
    highIntensity *= 10;
    lowRate /= 10;
  }
  for (const PlottedOp &point : points) {
    lowIntensity = std::min(lowIntensity, point.opsPerByte);
    highIntensity = std::max(highIntensity, point.opsPerByte);
    lowRate = std::min(lowRate, point.opsPerSecond);
  }
  // Intensity spans whole decades; performance runs from a whole decade to
  // a little above the highest roof.
  LogAxis xAxis;
  xAxis.lowExponent = getFloorDecade(lowIntensity);
  xAxis.highExponent =
      std::max(getCeilDecade(highIntensity), xAxis.lowExponent + 1);
  xAxis.lowPixel = kPlotLeft;
  xAxis.highPixel = kPlotRight;
  LogAxis yAxis;
  yAxis.lowExponent = getFloorDecade(lowRate);
  yAxis.highExponent =
      std::max(std::log10(roofs.front().opsPerSecond) + kHeadroomDecades,
               yAxis.lowExponent + 1);
  yAxis.lowPixel = kPlotBottom;
  yAxis.highPixel = kPlotTop;

  std::string title = "Roofline on " + hardware.name;
  SmallVector<std::string> sizes;
  if (!reports.empty())
    sizes.push_back("batch " + std::to_string(reports.front().binding.batch));
  for (Phase phase : {Phase::Prefill, Phase::Decode})
    if (const FunctionReport *report = findPhase(reports, phase))
      sizes.push_back(describePhaseSizes(report->binding));
  sizes.push_back("memory " + formatRate(bandwidth, "B/s"));

  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
     << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\""
     << formatCoordinate(kCanvasWidth) << "\" height=\""
     << formatCoordinate(kCanvasHeight) << "\" viewBox=\"0 0 "
     << formatCoordinate(kCanvasWidth) << " " << formatCoordinate(kCanvasHeight)
     << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" "
        "font-size=\"12\">\n"
     << "<title>" << escapeXML(title) << "</title>\n"
     << "<desc>Written by lowbit-roofline format=svg: one point per op at "
        "(operations / memory bytes, operations / predicted time).</desc>\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  writeText(os, kCanvasWidth / 2, 30,
            "class=\"title\" text-anchor=\"middle\" font-size=\"18\" "
            "font-weight=\"bold\"",
            title);
  writeText(os, kCanvasWidth / 2, 54,
            "class=\"subtitle\" text-anchor=\"middle\" font-size=\"13\"",
            llvm::join(sizes, " \u00b7 "));
  os << "<defs><clipPath id=\"plot-area\"><rect x=\""
     << formatCoordinate(kPlotLeft) << "\" y=\"" << formatCoordinate(kPlotTop)
     << "\" width=\"" << formatCoordinate(kPlotRight - kPlotLeft)
     << "\" height=\"" << formatCoordinate(kPlotBottom - kPlotTop)
     << "\"/></clipPath></defs>\n";

  // Grid: decades and their multiples 2..9.
  os << "<g class=\"grid\" stroke-width=\"1\">\n";
  auto writeGridLines = [&](const LogAxis &axis, auto writeAt) {
    for (int decade = static_cast<int>(std::floor(axis.lowExponent));
         decade <= axis.highExponent; ++decade) {
      for (int multiple = 1; multiple <= 9; ++multiple) {
        double exponent = decade + std::log10(multiple);
        if (axis.contains(exponent))
          writeAt(axis.mapExponent(exponent),
                  multiple == 1 ? "stroke=\"#c8c8c8\"" : "stroke=\"#ececec\"");
      }
    }
  };
  writeGridLines(xAxis, [&](double x, StringRef stroke) {
    writeLine(os, x, kPlotTop, x, kPlotBottom, stroke);
  });
  writeGridLines(yAxis, [&](double y, StringRef stroke) {
    writeLine(os, kPlotLeft, y, kPlotRight, y, stroke);
  });
  os << "</g>\n";

  // Axes: frame, decade labels, titles with units.
  os << "<g class=\"axes\">\n"
     << "<rect x=\"" << formatCoordinate(kPlotLeft) << "\" y=\""
     << formatCoordinate(kPlotTop) << "\" width=\""
     << formatCoordinate(kPlotRight - kPlotLeft) << "\" height=\""
     << formatCoordinate(kPlotBottom - kPlotTop)
     << "\" fill=\"none\" stroke=\"#444444\"/>\n";
  for (int decade : xAxis.getDecades())
    writeText(os, xAxis.mapExponent(decade), kPlotBottom + 18,
              "class=\"x-tick\" text-anchor=\"middle\"",
              formatIntensityDecade(decade));
  for (int decade : yAxis.getDecades())
    writeText(os, kPlotLeft - 8, yAxis.mapExponent(decade) + 4,
              "class=\"y-tick\" text-anchor=\"end\"", formatRateDecade(decade));
  writeText(os, (kPlotLeft + kPlotRight) / 2, kPlotBottom + 46,
            "class=\"x-label\" text-anchor=\"middle\" font-size=\"13\"",
            "arithmetic intensity (operations per byte of memory traffic, "
            "ops/B)");
  double yLabelCenter = (kPlotTop + kPlotBottom) / 2;
  writeText(os, 0, 0,
            ("class=\"y-label\" text-anchor=\"middle\" font-size=\"13\" "
             "transform=\"translate(30," +
             formatCoordinate(yLabelCenter) + ") rotate(-90)\""),
            "attainable performance (operations per second, ops/s)");
  os << "</g>\n";

  // Roofs: memory up to the highest ridge, each compute roof from its
  // ridge; each says what it is on hover.
  os << "<g class=\"roofs\" clip-path=\"url(#plot-area)\" stroke=\""
     << kRoofColour << "\" stroke-width=\"2\">\n";
  double leftIntensity = std::pow(10.0, xAxis.lowExponent);
  double rightIntensity = std::pow(10.0, xAxis.highExponent);
  std::string memoryLabel = "memory " + formatRate(bandwidth, "B/s");
  writeLine(os, xAxis.map(leftIntensity), yAxis.map(bandwidth * leftIntensity),
            xAxis.map(topRidge), yAxis.map(roofs.front().opsPerSecond),
            "class=\"roof memory\"", memoryLabel);
  for (const ComputeRoof &roof : roofs) {
    double y = yAxis.map(roof.opsPerSecond);
    writeLine(os, xAxis.map(roof.opsPerSecond / bandwidth), y,
              xAxis.map(rightIntensity), y, "class=\"roof compute\"",
              describeRoof(roof) + ", ridge " + describeRidge(roof, hardware) +
                  " ops/B");
  }
  os << "</g>\n";

  // Roof labels. The memory roof's runs under it (memory-bound points sit on
  // it). A compute roof's ends left of its ridge, in the empty corner above
  // the memory roof, where the points of compute-bound ops (right of the
  // ridges, under the roofs) cannot hide it; when that corner is too narrow,
  // it starts right of the ridge, above the roof.
  os << "<g class=\"roof-labels\" fill=\"" << kRoofColour << "\">\n";
  double entryExponent =
      std::max(xAxis.lowExponent, yAxis.lowExponent - std::log10(bandwidth));
  // Centred well before the lowest ridge, where no compute roof crosses it.
  double lowestRidge = roofs.back().opsPerSecond / bandwidth;
  double memoryLabelExponent =
      std::max(entryExponent + 0.4, std::log10(lowestRidge) - 0.6);
  double slopeDegrees =
      std::atan2(yAxis.getPixelsPerDecade(), xAxis.getPixelsPerDecade()) * 180 /
      llvm::numbers::pi;
  writeText(os, 0, 16,
            "class=\"roof-label memory\" text-anchor=\"middle\" "
            "transform=\"translate(" +
                formatCoordinate(xAxis.mapExponent(memoryLabelExponent)) + "," +
                formatCoordinate(yAxis.map(
                    bandwidth * std::pow(10.0, memoryLabelExponent))) +
                ") rotate(" + formatCoordinate(slopeDegrees) + ")\"",
            memoryLabel);
  double previousLabelY = -std::numeric_limits<double>::infinity();
  for (const ComputeRoof &roof : roofs) {
    std::string label = describeRoof(roof);
    double ridgeX = xAxis.map(roof.opsPerSecond / bandwidth);
    double roofY = yAxis.map(roof.opsPerSecond);
    bool fitsLeft =
        ridgeX - kRoofLabelGap - label.size() * kCharacterWidth >= kPlotLeft;
    double labelY = std::max(fitsLeft ? roofY + 4 : roofY - 7,
                             previousLabelY + kRoofLabelHeight);
    writeText(os, fitsLeft ? ridgeX - kRoofLabelGap : ridgeX + kRoofLabelGap,
              labelY,
              fitsLeft ? "class=\"roof-label compute\" text-anchor=\"end\""
                       : "class=\"roof-label compute\"",
              label);
    previousLabelY = labelY;
  }
  os << "</g>\n";

  // One point per op, with its description as hover title; prefill rings
  // first, decode dots over them.
  os << "<g class=\"points\" clip-path=\"url(#plot-area)\">\n";
  for (Phase phase : {Phase::Prefill, Phase::Decode}) {
    for (const PlottedOp &point : points) {
      if (point.report->binding.phase != phase)
        continue;
      os << "<circle class=\"op " << stringifyPhase(phase) << "\" cx=\""
         << formatCoordinate(xAxis.map(point.opsPerByte)) << "\" cy=\""
         << formatCoordinate(yAxis.map(point.opsPerSecond)) << "\" "
         << getMarkerStyle(phase, point.colour) << "><title>"
         << escapeXML(describePoint(point)) << "</title></circle>\n";
    }
  }
  os << "</g>\n";

  // Legend: the functions by phase, then notes on what is not drawn.
  os << "<g class=\"legend\">\n";
  double y = kPlotTop + 4;
  for (Phase phase : {Phase::Decode, Phase::Prefill}) {
    const FunctionReport *first = findPhase(reports, phase);
    if (!first)
      continue;
    writeText(
        os, kLegendLeft, y, "font-weight=\"bold\"",
        phase == Phase::Decode
            ? "decode, context " + std::to_string(first->binding.contextLength)
            : "prefill, seq " + std::to_string(first->binding.promptTokens));
    y += 20;
    for (const FunctionReport &report : reports) {
      if (report.binding.phase != phase)
        continue;
      os << "<circle class=\"legend-swatch " << stringifyPhase(phase)
         << "\" cx=\"" << formatCoordinate(kLegendLeft + 7) << "\" cy=\""
         << formatCoordinate(y - 4) << "\" "
         << getMarkerStyle(phase, getColour(report)) << "/>\n";
      writeText(os, kLegendLeft + 18, y, "class=\"legend-entry\"",
                "@" + report.function);
      y += 18;
    }
    y += 10;
  }
  SmallVector<std::string> notes = {
      "Each point is one op at (its operations / its memory bytes, its "
      "operations / its predicted time). An op on a roof is bound by it; one "
      "below the compute roofs mixes precisions (e.g. an fp32 epilogue) or "
      "is bound by the link."};
  if (skippedOps > 0)
    notes.push_back("Not drawn: " + std::to_string(skippedOps) + " op" +
                    (skippedOps == 1 ? "" : "s") +
                    " with no operations or no memory traffic (" +
                    llvm::join(skippedOpNames, ", ") + ").");
  for (unsigned index = 0; index < kNumPrecisions; ++index) {
    auto precision = static_cast<Precision>(index);
    if (hardware.peakOpsPerSecond[index])
      continue;
    notes.push_back(
        ("No native " + stringifyPrecision(precision) +
         " peak: " + stringifyPrecision(precision) + " work runs at the " +
         stringifyPrecision(hardware.getExecutingPrecision(precision)) +
         " rate.")
            .str());
  }
  SmallVector<std::string> ridges;
  for (const ComputeRoof &roof : roofs)
    ridges.push_back(describePrecisions(roof) + " " +
                     describeRidge(roof, hardware));
  notes.push_back("Ridge points (ops/B): " + llvm::join(ridges, ", ") + ".");
  notes.push_back("Peaks are dense datasheet values; the model counts "
                  "every op as its own kernel (docs/roofline.md).");
  for (const std::string &note : notes) {
    for (const std::string &line : wrapText(note, kNoteColumns)) {
      writeText(os, kLegendLeft, y,
                "class=\"note\" font-size=\"11\" fill=\"#555555\"", line);
      y += 14;
    }
    y += 6;
  }
  os << "</g>\n</svg>\n";
}
