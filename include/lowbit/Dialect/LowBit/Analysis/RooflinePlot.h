//===- RooflinePlot.h - SVG roofline plot of a report -----------*- C++ -*-===//
//
// A table says which roof binds each op; a plot shows how far every op sits
// below its roof and how a scheme or a phase moves it. `lowbit-roofline
// format=svg` writes its reports through this one function, which the
// benchmarks can reuse to draw measured points next to predicted ones.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_LOWBIT_ANALYSIS_ROOFLINEPLOT_H
#define LOWBIT_DIALECT_LOWBIT_ANALYSIS_ROOFLINEPLOT_H

#include "lowbit/Dialect/LowBit/Analysis/Roofline.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/raw_ostream.h"

namespace lowbit {

/// Writes `reports` as one SVG roofline plot of `hardware`: log-log axes of
/// arithmetic intensity (operations per byte) and attainable operations per
/// second, the memory roof and one labelled compute roof per native peak, and
/// one point per op at (its operations / its bytes, its operations / its
/// predicted time), coloured by phase, whose hover title gives the op's
/// name, location and shape. Ops without operations or without memory
/// traffic have no place on these axes; a note in the plot counts them.
void writeRooflineSVG(llvm::raw_ostream &os,
                      llvm::ArrayRef<FunctionReport> reports,
                      const HardwareModel &hardware);

} // namespace lowbit

#endif // LOWBIT_DIALECT_LOWBIT_ANALYSIS_ROOFLINEPLOT_H
