#!/usr/bin/env python3
"""llvm-mca cycles per 1K MACs of the generated AArch64 matmul inner loops.

For each Llama-2-7B linear shape (N outputs x K inputs; W4 weights, INT4
activations with one INT8 outlier block, scales per 128 channels, as
lowbit's w4ax scheme makes them) and each core, compiles a one-matmul
module with `lowbit-compile --target=aarch64 --cpu=CORE --emit=asm`, finds
the innermost loops of the matmul kernel that contain sdot/smmla, and runs
`llvm-mca-22 -mcpu=CORE` on each loop body. MACs per iteration are counted
from the instructions (16 per sdot, 32 per smmla), so the number is
cycles per iteration x 1000 / MACs. Loops are named by the tile the
kernel's structure gives them (tokens per tile from their accumulators):
prefill tiles take 4 (sdot) or 8 (smmla) tokens, decode takes 1.

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
CORES = [("neoverse-n1", "sdot", 32), ("neoverse-n2", "smmla", 16)]
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


def describe(body):
    """MACs per iteration and tokens per tile of a loop body, or None."""
    sdot = [l for l in body if l.split()[0] == "sdot"]
    smmla = [l for l in body if l.split()[0] == "smmla"]
    macs = 16 * len(sdot) + 32 * len(smmla)
    if not macs:
        return None
    accumulators = {l.split()[1].rstrip(",") for l in sdot + smmla}
    if smmla:
        tokens = len(accumulators)        # 2 token rows x 2 output pairs each
    elif any("[" in l for l in sdot):
        tokens = len(accumulators) // 2   # indexed sdot: 2 row quads per token
    else:
        tokens = 1                        # replicated sdot: a lone token row
    return macs, tokens


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
            for core, instruction, limit in CORES:
                assembly = subprocess.run(
                    [args.lowbit_compile, module, "--target=aarch64", f"--cpu={core}",
                     "--emit=asm", "-o", "-"],
                    capture_output=True, text=True, check=True).stdout
                for body, rest in inner_loops(assembly):
                    described = describe(body)
                    if not described:
                        continue
                    macs, tokens = described
                    used = "smmla" if any(l.split()[0] == "smmla" for l in body) else "sdot"
                    indexed = any("[" in l for l in body if l.split()[0] == "sdot")
                    tile_outputs = 8 if indexed else 4  # getTileOutputs
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
