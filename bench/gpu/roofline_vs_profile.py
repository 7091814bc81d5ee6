#!/usr/bin/env python3
"""Measured GPU time per op class beside the roofline prediction.

Joins two files about the same compiled model:
  - the roofline of its quantized module, `lowbit-roofline{format=csv}`
    (one row per op of each function and phase, predicted microseconds);
  - the GPU kernel profile of the runtime, `LOWBIT_GPU_PROFILE=FILE`
    (one markdown row per kernel: launches, total milliseconds).

Kernels are named after the ops they were generated from: `decode_matmul_*`,
`tc_matmul_*` and `lowbit_cpu_matmul_*` are `lowbit.matmul`,
`tc_prefill_attention_*` is `lowbit.kv_attention`, `lowbit_cpu_<op>_<shape>_kernel` is
`lowbit.<op>` (`add` and `mul` are `arith.addf` and `arith.mulf`), and a
fused kernel names each op it computes, e.g.
`lowbit_cpu_add_rms_norm_<...>_quantize_<...>_kernel`. Op classes that a
fused kernel joins are reported as one row (`arith.addf + lowbit.quantize +
lowbit.rms_norm`), the predictions of its classes summed: the unfused ops of
those classes (a quantization after attention) fall into that row too. The
profile covers `calls` runs of the function, so measured time per run is
the total over `calls`. Prints one markdown row per op class.

  roofline_vs_profile.py ROOFLINE.csv FUNCTION PHASE PROFILE.md CALLS
"""
import collections
import csv
import re
import sys

ARITH_KERNELS = {"add": "arith.addf", "mul": "arith.mulf", "sub": "arith.subf"}
# The op names kernels spell, longest first so that `kv_append` is not read
# as another op followed by `append`.
KERNEL_OPS = sorted(["add", "mul", "sub", "embedding", "rms_norm", "linear",
                     "rotary", "swiglu", "kv_append", "kv_attention",
                     "quantize", "matmul", "permute", "interleave_ranks"],
                    key=lambda op: -op.count("_"))


def op_classes_of_kernel(kernel):
    """The ops a generated kernel implements, from its name."""
    if kernel.startswith(("decode_matmul_", "tc_matmul_")):
        return ["lowbit.matmul"]
    if kernel.startswith("tc_prefill_attention_"):
        return ["lowbit.kv_attention"]
    match = re.fullmatch(r"lowbit_cpu_(.+?)(_kernel)?", kernel)
    words = match.group(1).split("_") if match else []
    classes = []
    i = 0
    while i < len(words):
        for op in KERNEL_OPS:
            length = op.count("_") + 1
            if words[i:i + length] == op.split("_"):
                classes.append(ARITH_KERNELS.get(op, "lowbit." + op))
                i += length
                break
        else:
            i += 1
    if not classes:
        sys.exit(f"error: kernel '{kernel}' does not name the op it implements")
    return classes


def join_fused_classes(kernel_classes):
    """Op class -> the row it is reported in: classes one kernel computes
    together share a row, named by all of them."""
    row = {}
    for classes in kernel_classes:
        joined = set(classes)
        for op in classes:
            joined |= row.get(op, {op})
        for op in joined:
            row[op] = joined
    return {op: " + ".join(sorted(members)) for op, members in row.items()}


def read_profile(path):
    """Kernel -> (launches, total milliseconds) from a profile table."""
    kernels = {}
    with open(path) as profile:
        for line in profile:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) != 5 or not cells[1].isdigit():
                continue
            kernels[cells[0]] = (int(cells[1]), float(cells[2]))
    if not kernels:
        sys.exit(f"error: {path} has no kernel rows")
    return kernels


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    roofline_path, function, phase, profile_path, calls = sys.argv[1:]
    calls = int(calls)
    predicted = collections.defaultdict(float)
    ops = collections.Counter()
    with open(roofline_path) as roofline:
        for row in csv.DictReader(roofline):
            if row["function"] != function or row["phase"] != phase:
                continue
            if row["op"] == "total":
                continue
            predicted[row["op"]] += float(row["time_us"])
            ops[row["op"]] += 1
    if not predicted:
        sys.exit(f"error: {roofline_path} has no rows of @{function} at {phase}")

    profile = read_profile(profile_path)
    kernel_classes = {kernel: op_classes_of_kernel(kernel) for kernel in profile}
    rows = join_fused_classes(kernel_classes.values())
    for op in list(predicted):
        row = rows.get(op, op)
        if row != op:
            predicted[row] += predicted.pop(op)
            ops[row] += ops.pop(op)
    measured = collections.defaultdict(float)
    launches = collections.Counter()
    for kernel, (count, total_ms) in profile.items():
        row = rows[kernel_classes[kernel][0]]
        measured[row] += total_ms * 1000.0 / calls
        launches[row] += count

    print(f"| op class | ops per run | kernel launches per run | predicted µs "
          f"| measured µs | measured / predicted |")
    print("| --- | --- | --- | --- | --- | --- |")
    classes = sorted(set(predicted) | set(measured),
                     key=lambda op: -max(predicted[op], measured[op]))
    for op in classes:
        ratio = (f"{measured[op] / predicted[op]:.1f}"
                 if predicted[op] > 0 and measured[op] > 0 else "-")
        print(f"| `{op}` | {ops[op]} | {launches[op] / calls:.0f} "
              f"| {predicted[op]:.1f} | {measured[op]:.1f} | {ratio} |")
    total_predicted = sum(predicted.values())
    total_measured = sum(measured.values())
    print(f"| all | {sum(ops.values())} | {sum(launches.values()) / calls:.0f} "
          f"| {total_predicted:.1f} | {total_measured:.1f} "
          f"| {total_measured / total_predicted:.1f} |")


if __name__ == "__main__":
    main()
