// RUN: lowbit-opt %s --lowbit-import-calibration="file=%S/Inputs/calibration.json" | FileCheck %s
// RUN: not lowbit-opt %s --lowbit-import-calibration 2>&1 | FileCheck %s --check-prefix=NOFILE
// RUN: not lowbit-opt %s --lowbit-import-calibration="file=%S/Inputs/missing.json" 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not lowbit-opt %s --lowbit-import-calibration="file=%S/Inputs/calibration-bad-version.json" 2>&1 | FileCheck %s --check-prefix=VERSION
// RUN: not lowbit-opt %s --lowbit-import-calibration="file=%S/Inputs/calibration-negative.json" 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not lowbit-opt %s --lowbit-import-calibration="file=%S/Inputs/roofline-malformed.json" 2>&1 | FileCheck %s --check-prefix=FORMAT

// NOFILE: error: lowbit-import-calibration needs a calibration file (file=...)
// MISSING: error: cannot read calibration file '{{.*}}missing.json'
// VERSION: error: calibration file '{{.*}}': unsupported version (this build reads version 1)
// NEGATIVE: error: calibration file '{{.*}}': layer 'blk.0.attn_q.weight': 'absmax' entry 1 is not a finite non-negative number
// FORMAT: error: calibration file '{{.*}}'

// CHECK-LABEL: func @statistics_attach_by_weight_name
// CHECK: lowbit.linear {{.*}} {lowbit.calibration = #lowbit.channel_stats<tokens = 16, absmax = [1.000000e+00, 2.000000e+00, 4.000000e+01, 1.500000e+00], percentile = [5.000000e-01, 1.000000e+00, 3.000000e+01, 1.000000e+00], mean_square = [2.500000e-01, 1.000000e+00, 4.000000e+02, 5.000000e-01]>}
func.func @statistics_attach_by_weight_name(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = lowbit.weight "blk.0.attn_q.weight" : tensor<2x4xf32>
  %y = lowbit.linear %x, %w : tensor<?x4xf32>, tensor<2x4xf32> -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
