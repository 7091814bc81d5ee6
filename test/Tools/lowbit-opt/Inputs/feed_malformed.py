"""Feeds damaged MLIR to a tool and reports crashes.

For every .mlir file under the given directories this writes truncated copies,
copies with corrupted bytes (seeded, so runs repeat) and a few files of pure
garbage, runs the tool on each, and counts runs that ended by a signal or an
exit code other than 0/1 (crashes) and runs that failed without printing an
`error:` diagnostic (silent failures).
"""

import os
import random
import subprocess
import sys
import tempfile


def damaged_variants(text, rng):
    data = text.encode()
    for fraction in (0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.97):
        yield data[: int(len(data) * fraction)]
    for _ in range(12):
        corrupted = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(corrupted))
            corrupted[position] = rng.choice(b"<>[]{}(),:=?x#!%@0123456789-\"\x00\xff")
        yield bytes(corrupted)


def garbage(rng):
    yield bytes(rng.randrange(256) for _ in range(512))
    yield b"#lowbit.blocks<" * 64
    yield b"func.func @f(%a: !lowbit.qtensor<" + b"9" * 40 + b">)"
    yield b"!lowbit.kv_cache<bits = 99999999999999999999999>"


def main():
    tool, directories = sys.argv[1], sys.argv[2:]
    rng = random.Random(1234)
    inputs = []
    for directory in directories:
        for name in sorted(os.listdir(directory)):
            if name.endswith(".mlir"):
                with open(os.path.join(directory, name)) as f:
                    inputs.extend(damaged_variants(f.read(), rng))
    inputs.extend(garbage(rng))

    crashes = silent = 0
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "input.mlir")
        for data in inputs:
            with open(path, "wb") as f:
                f.write(data)
            result = subprocess.run(
                [tool, path, "-split-input-file"], capture_output=True, timeout=60
            )
            if result.returncode not in (0, 1):
                crashes += 1
                print(f"crash (exit {result.returncode}) on input:\n{data[:400]!r}")
                print(result.stderr.decode(errors="replace")[-2000:])
            elif result.returncode == 1 and b"error:" not in result.stderr:
                silent += 1
                print(f"failure without a diagnostic on input:\n{data[:400]!r}")
    print(f"malformed inputs: {len(inputs)}, crashes: {crashes}, silent failures: {silent}")


if __name__ == "__main__":
    main()
