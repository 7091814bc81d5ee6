// Every bad hardware model or option ends in a diagnostic and exit status 1,
// never a crash. `not` fails on a crash as well as on success.
// RUN: not lowbit-opt %s -o /dev/null --lowbit-roofline="hw=h900 hw-dir=%lowbit_src/share/lowbit/hardware" 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not lowbit-opt %s -o /dev/null --lowbit-roofline="hw=%S/Inputs/no-such-file.json" 2>&1 | FileCheck %s --check-prefix=NOFILE
// RUN: not lowbit-opt %s -o /dev/null --lowbit-roofline="hw=%S/Inputs/roofline-malformed.json" 2>&1 | FileCheck %s --check-prefix=MALFORMED
// RUN: not lowbit-opt %s -o /dev/null --lowbit-roofline="hw=%S/Inputs/roofline-missing-bandwidth.json" 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not lowbit-opt %s -o /dev/null --lowbit-roofline="hw=%S/Inputs/roofline-missing-fp32.json" 2>&1 | FileCheck %s --check-prefix=NOFP32
// RUN: not lowbit-opt %s -o /dev/null --lowbit-roofline="hw=%S/Inputs/roofline-bad-values.json" 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not lowbit-opt %s -o /dev/null --lowbit-roofline="hw=%S/Inputs/roofline-unknown-precision.json" 2>&1 | FileCheck %s --check-prefix=PRECISION
// RUN: not lowbit-opt %s -o /dev/null --lowbit-roofline 2>&1 | FileCheck %s --check-prefix=NOHW
// RUN: not lowbit-opt %s -o /dev/null --lowbit-roofline="hw=h100-sxm hw-dir=%lowbit_src/share/lowbit/hardware phase=training" 2>&1 | FileCheck %s --check-prefix=PHASE
// RUN: not lowbit-opt %s -o /dev/null --lowbit-roofline="hw=h100-sxm hw-dir=%lowbit_src/share/lowbit/hardware format=xml" 2>&1 | FileCheck %s --check-prefix=FORMAT
// RUN: not lowbit-opt %s -o /dev/null --lowbit-roofline="hw=h100-sxm hw-dir=%lowbit_src/share/lowbit/hardware batch=0" 2>&1 | FileCheck %s --check-prefix=BATCH
// RUN: not lowbit-opt %s -o /dev/null --lowbit-roofline="hw=h100-sxm hw-dir=%lowbit_src/share/lowbit/hardware phase=decode context=4096" 2>&1 | FileCheck %s --check-prefix=CONTEXT
// RUN: lowbit-opt %s -o /dev/null --lowbit-roofline="hw=h100-sxm hw-dir=%lowbit_src/share/lowbit/hardware phase=decode" ; test $? -eq 0
// RUN: lowbit-opt %s -o /dev/null --lowbit-roofline="hw=%S/Inputs/roofline-malformed.json" ; test $? -eq 1

// UNKNOWN: error: unknown hardware 'h900': no h900.json in '{{.*}}share/lowbit/hardware' (known: a100-sxm-80gb, cortex-a76, h100-sxm, h200-sxm, l4, neoverse-n1, rtx-4090)
// NOFILE: error: cannot read hardware file '{{.*}}no-such-file.json': No such file or directory
// MALFORMED: error: hardware file '{{.*}}roofline-malformed.json': not valid JSON: [4:0, byte={{[0-9]+}}]: Expected , or } after object property
// MISSING: error: hardware file '{{.*}}roofline-missing-bandwidth.json': missing field 'memory_bandwidth_gbs' (memory bandwidth in GB/s)
// NOFP32: error: hardware file '{{.*}}roofline-missing-fp32.json': missing field 'peak_tops.fp32' (the fp32 peak is required; other precisions fall back to it)
// NEGATIVE: error: hardware file '{{.*}}roofline-bad-values.json': field 'link_bandwidth_gbs' must be a positive number
// PRECISION: error: hardware file '{{.*}}roofline-unknown-precision.json': unknown precision 'peak_tops.fp8' (expected fp32, fp16, bf16, int8, int4)
// NOHW: error: lowbit-roofline needs a hardware model: pass hw=<name or path of a JSON file>
// PHASE: error: lowbit-roofline phase must be prefill, decode or auto, found 'training'
// FORMAT: error: lowbit-roofline format must be table, csv, json or svg, found 'xml'
// BATCH: error: lowbit-roofline batch must be positive, found 0
// CONTEXT: roofline-invalid.mlir:[[@LINE+4]]:8: error: decode context of 4096 positions exceeds max_len 2048 of the KV cache

func.func @attend(%q: tensor<?x4096xf16>, %pos: index,
    %cache: !lowbit.kv_cache<bits = 4, group = 32, heads = 32, head_dim = 128, max_len = 2048>) -> tensor<?x4096xf16> {
  %o = lowbit.kv_attention %q, %cache at %pos {num_heads = 32 : i64}
      : tensor<?x4096xf16>, !lowbit.kv_cache<bits = 4, group = 32, heads = 32, head_dim = 128, max_len = 2048>
  return %o : tensor<?x4096xf16>
}
