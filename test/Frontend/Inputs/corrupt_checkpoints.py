"""Runs lowbit-run on randomly corrupted checkpoints and reports crashes.

Takes the sound tiny checkpoints written by make_checkpoints.py (GGUF, a
Hugging Face directory, a llama2.c .bin), and for each writes seeded
corruptions (bytes overwritten, mostly in the header and metadata where
sizes and counts live; truncations at random points), runs the tool on each
and counts runs that ended by a signal or an exit code other than 0 and 1,
runs that hung, and failures without an `error:` message.

Usage: corrupt_checkpoints.py LOWBIT_RUN CHECKPOINT_DIR
"""

import os
import random
import shutil
import subprocess
import sys
import tempfile

CASES_PER_FILE = 60


def corruptions(data, rng):
    for _ in range(CASES_PER_FILE):
        damaged = bytearray(data)
        if rng.random() < 0.25:
            yield bytes(damaged[: rng.randrange(len(damaged))])
            continue
        for _ in range(rng.randint(1, 6)):
            # Three quarters of the hits land in the first 512 bytes.
            limit = min(512, len(damaged)) if rng.random() < 0.75 else len(damaged)
            damaged[rng.randrange(limit)] = rng.choice(
                [0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        yield bytes(damaged)


def main():
    tool, source = sys.argv[1], sys.argv[2]
    rng = random.Random(20261123)
    targets = [("tiny.gguf", "tiny.gguf", "tiny.gguf"),
               ("llama2c-sound", "model.bin", "model.bin"),
               ("hf-sound", "model.safetensors", "")]
    runs = crashes = hangs = silent = 0
    with tempfile.TemporaryDirectory() as scratch:
        for folder, damaged_name, model_name in targets:
            origin = os.path.join(source, folder)
            work = os.path.join(scratch, folder)
            if os.path.isdir(origin):
                shutil.copytree(origin, work)
                original = open(os.path.join(origin, damaged_name), "rb").read()
            else:
                os.makedirs(work)
                original = open(origin, "rb").read()
            damaged_path = os.path.join(work, damaged_name)
            model = os.path.join(work, model_name) if model_name else work
            for data in corruptions(original, rng):
                with open(damaged_path, "wb") as f:
                    f.write(data)
                runs += 1
                try:
                    result = subprocess.run(
                        [tool, "generate", "--model", model, "--prompt", "ab",
                         "--max-tokens", "2", "--tokenizer", ""],
                        capture_output=True, timeout=30)
                except subprocess.TimeoutExpired:
                    hangs += 1
                    print(f"hang on {folder} with {len(data)} bytes")
                    continue
                if result.returncode not in (0, 1):
                    crashes += 1
                    print(f"crash (exit {result.returncode}) on {folder}:")
                    print(result.stderr.decode(errors="replace")[-1500:])
                elif result.returncode == 1 and b"error:" not in result.stderr:
                    silent += 1
                    print(f"failure without a message on {folder}")
    print(f"corrupted checkpoints: {runs}, crashes: {crashes}, hangs: {hangs}, "
          f"silent failures: {silent}")


if __name__ == "__main__":
    main()
