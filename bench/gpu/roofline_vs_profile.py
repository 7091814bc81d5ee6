#!/usr/bin/env python3
"""Measured GPU time per op class beside the roofline prediction.

Joins two files about the same compiled model:
  - the roofline of its quantized module, `lowbit-roofline{format=csv}`
    (one row per op of each function and phase, predicted microseconds);
  - the GPU kernel profile of the runtime, `LOWBIT_GPU_PROFILE=FILE`
    (one markdown row per kernel: launches, total milliseconds).

Kernels are named after the op they were generated from: `decode_matmul_*`
and `tc_matmul_*` are `lowbit.matmul`, `lowbit_cpu_<op>_<shape>_kernel` is
`lowbit.<op>` (`add` and `mul` are `arith.addf` and `arith.mulf`). The
profile covers `calls` runs of the function, so measured time per run is
the total over `calls`. Prints one markdown row per op class.

  roofline_vs_profile.py ROOFLINE.csv FUNCTION PHASE PROFILE.md CALLS
"""
import collections
import csv
import re
import sys

ARITH_KERNELS = {"add": "arith.addf", "mul": "arith.mulf", "sub": "arith.subf"}


def op_class_of_kernel(kernel):
    """The op a generated kernel implements, from its name."""
    if kernel.startswith(("decode_matmul_", "tc_matmul_")):
        return "lowbit.matmul"
    match = re.match(r"lowbit_cpu_([a-z_]+?)_\d", kernel)
    if not match:
        sys.exit(f"error: kernel '{kernel}' does not name the op it implements")
    op = match.group(1)
    return ARITH_KERNELS.get(op, "lowbit." + op)


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

    measured = collections.defaultdict(float)
    launches = collections.Counter()
    for kernel, (count, total_ms) in read_profile(profile_path).items():
        op = op_class_of_kernel(kernel)
        measured[op] += total_ms * 1000.0 / calls
        launches[op] += count

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
