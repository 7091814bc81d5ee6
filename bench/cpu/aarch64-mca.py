#!/usr/bin/env python3
"""llvm-mca cycles per 1K MACs of the generated AArch64 matmul inner loops.

For each Llama-2-7B linear shape (N outputs x K inputs; W4 weights, INT4
activations with one INT8 outlier block, scales per 128 channels, as
lowbit's w4ax scheme makes them) and each core, compiles a one-matmul
module with `lowbit-compile --target=aarch64 --cpu=CORE --emit=asm`, finds
the innermost loops of the matmul kernel that contain sdot/smmla, and runs
`llvm-mca-22 -mcpu=CORE` on each loop body. MACs per iteration are counted
from the instructions (16 per sdot, 32 per smmla, 16 per smmla of a lone
token row, which discards half its lanes), so the number is cycles per
iteration x 1000 / MACs. The loops are the kernel's tiles in the order it
runs them: prefill tiles of 6 (sdot) or 16 and 2 (smmla) tokens, then
decode's single token. Where the innermost loop is one 32-channel step, the
second number adds the scaling at the end of each 128-channel segment
(llvm-mca on the rest of the enclosing loop, once per 4 steps).

usage: bench/cpu/aarch64-mca.py [--lowbit-compile PATH] [--llvm-mca PATH]
Prints a Markdown table.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHAPES = [(4096, 4096, "q/k/v/o"), (11008, 4096, "gate/up"), (4096, 11008, "down")]
# Per core: its matmul instruction, that instruction's limit in cycles per
# 1K MACs, and the tiles of the kernel in the order the kernel runs them
# (NeonMatmul.cpp): (tokens, outputs) per tile.
CORES = [("neoverse-n1", "sdot", 32, [(6, 8), (1, 8)]),
         ("neoverse-n2", "smmla", 16, [(16, 4), (2, 4), (1, 4)])]
SEGMENT = 128


def instructions(lines):
    return [l for l in lines if l.strip() and not l.lstrip().startswith(("//", "."))]


def inner_loops(assembly):
    """(body, rest of the enclosing loop) of the innermost loops (by back
    edges) of the matmul kernel; rest is None without an enclosing loop."""
    match = re.search(r"^(lowbit_cpu_matmul\w+):\n(.*?)^\.Lfunc_end", assembly,
                      re.M | re.S)
    lines = match.group(2).split("\n")
    labels = {line[:-1]: i for i, line in enumerate(lines)
              if re.match(r"^\.LBB\w+:$", line)}
    loops = []
    for i, line in enumerate(lines):
        branch = re.match(r"\s+b(\.\w+)?\s+(\.LBB\w+)$", line)
        if branch and labels.get(branch.group(2), i) < i:
            loops.append((labels[branch.group(2)], i))
    for begin, end in loops:
        if any((b, e) != (begin, end) and begin <= b and e <= end
               for b, e in loops):
            continue
        parents = [(b, e) for b, e in loops
                   if (b, e) != (begin, end) and b <= begin and end <= e]
        rest = None
        if parents:
            b, e = min(parents, key=lambda loop: loop[1] - loop[0])
            rest = instructions(lines[b + 1:begin + 1] + lines[end + 1:e + 1])
        yield instructions(lines[begin + 1:end + 1]), rest


def useful_macs(body, tokens):
    """MACs per iteration of a loop body that count: 16 per sdot, 32 per
    smmla on two token rows, 16 per smmla of a lone row (half its lanes are
    discarded)."""
    sdot = sum(1 for l in body if l.split()[0] == "sdot")
    smmla = sum(1 for l in body if l.split()[0] == "smmla")
    return 16 * sdot + (32 if tokens > 1 else 16) * smmla


def mca_cycles(llvm_mca, core, body, work):
    """Cycles per iteration of `body` in llvm-mca's model of `core`."""
    path = os.path.join(work, "loop.s")
    with open(path, "w") as file:
        file.write("\n".join(body) + "\n")
    report = subprocess.run(
        [llvm_mca, "-mtriple=aarch64", f"-mcpu={core}", "-iterations=200", path],
        capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Total Cycles:\s+(\d+)", report).group(1)) / 200


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lowbit-compile",
                        default=os.path.join(ROOT, "build", "bin", "lowbit-compile"))
    parser.add_argument("--llvm-mca", default="/usr/lib/llvm-22/bin/llvm-mca")
    args = parser.parse_args()
    print("| shape (N x K) | core | kernel loop | tokens x outputs per tile "
          "| MACs per iteration | inner loop: cycles per 1K MACs "
          "| with the segment's scaling: cycles per 1K MACs | core limit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as work:
        for outputs, inputs, name in SHAPES:
            module = os.path.join(work, f"matmul-{outputs}x{inputs}.mlir")
            with open(module, "w") as file:
                subprocess.run([sys.executable, os.path.join(HERE, "matmul-module.py"),
                                str(outputs), str(inputs)], stdout=file, check=True)
            for core, instruction, limit, tiles in CORES:
                assembly = subprocess.run(
                    [args.lowbit_compile, module, "--target=aarch64", f"--cpu={core}",
                     "--emit=asm", "-o", "-"],
                    capture_output=True, text=True, check=True).stdout
                loops = [(body, rest) for body, rest in inner_loops(assembly)
                         if any(l.split()[0] in ("sdot", "smmla") for l in body)]
                if len(loops) != len(tiles):
                    sys.exit(f"{core}: expected {len(tiles)} matmul loops, found {len(loops)}")
                for (body, rest), (tokens, tile_outputs) in zip(loops, tiles):
                    macs = useful_macs(body, tokens)
                    used = "smmla" if any(l.split()[0] == "smmla" for l in body) else "sdot"
                    # MACs of one scale segment (128 channels) of the tile.
                    segment_macs = tokens * tile_outputs * SEGMENT
                    cycles = mca_cycles(args.llvm_mca, core, body, work)
                    if segment_macs > macs:
                        # The loop is one 32-channel step; the enclosing loop
                        # runs it segment_macs / macs times, then scales.
                        steps = segment_macs // macs
                        with_scaling = steps * cycles + mca_cycles(
                            args.llvm_mca, core, rest, work)
                    else:
                        with_scaling = cycles * segment_macs / macs
                    kind = "decode" if tokens == 1 else "prefill"
                    print(f"| {outputs} x {inputs} ({name}) | {core} | {kind} ({used}) | "
                          f"{tokens} x {tile_outputs} | {macs} | {cycles * 1000 / macs:.1f} | "
                          f"{with_scaling * 1000 / segment_macs:.1f} | {limit} ({instruction}) |")

if __name__ == "__main__":
    main()
