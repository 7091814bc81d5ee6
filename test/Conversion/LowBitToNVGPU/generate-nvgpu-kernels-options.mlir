// RUN: not lowbit-opt %s --lowbit-generate-nvgpu-kernels=chip=sm_75 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not lowbit-opt %s --lowbit-generate-nvgpu-kernels=max-decode-rows=3 2>&1 | FileCheck %s --check-prefix=ROWS
// RUN: not lowbit-opt %s --lowbit-generate-nvgpu-kernels=pipeline-stages=5 2>&1 | FileCheck %s --check-prefix=STAGES

// CHIP: error: unknown GPU chip 'sm_75'; expected sm_80, sm_89 or sm_90
// ROWS: error: max-decode-rows must be a positive power of two, got 3
// STAGES: error: pipeline-stages must be 2, 3 or 4, got 5
func.func @empty() {
  return
}
