//===- Runs.h - runs of equal values ----------------------------*- C++ -*-===//
//
// Kernel and declaration names spell mixed-precision layouts as runs of
// equal widths (`a8x4a4x28`, `_8x1_4x31`), and the tensor-core kernel emits
// one loop per run of steps of one width: one helper walks those runs.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_CONVERSION_RUNS_H
#define LOWBIT_CONVERSION_RUNS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <cstddef>

namespace lowbit {

/// Calls `body(begin, end)` for each maximal run [begin, end) of equal
/// consecutive elements of `values`, in order.
inline void forEachRun(llvm::ArrayRef<int64_t> values,
                       llvm::function_ref<void(size_t, size_t)> body) {
  for (size_t begin = 0, end = 1; begin < values.size(); begin = end++) {
    while (end < values.size() && values[end] == values[begin])
      ++end;
    body(begin, end);
  }
}

} // namespace lowbit

#endif // LOWBIT_CONVERSION_RUNS_H
