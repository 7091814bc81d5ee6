# The lowbit Python package on the embedded model: compile with a scheme,
# logits as numpy, greedy generation, perplexity, roofline, PTX, and errors
# as exceptions. Run by model.test, which compares its perplexity with
# lowbit-run's.
import sys

import numpy as np

import lowbit

checkpoint, text_path = sys.argv[1], sys.argv[2]

model = lowbit.compile(checkpoint, scheme="w4a8{block-size=32 group-size=32}")
print("quantized:", "lowbit.matmul" in model.ir)

tokens = model.tokenize("Emma Woodhouse, handsome, clever, and rich")
logits = model.logits(np.concatenate(([1], tokens)))
print("logits:", logits.shape, logits.dtype)
# Decoding the last token after the others gives the prefill's last row.
model.reset_caches()
model.logits(np.concatenate(([1], tokens[:-1])))
step = model.logits(tokens[-1:], start=len(tokens), entry_point="decode")
print("decode matches prefill:", bool(np.allclose(step[0], logits[-1], atol=1e-3)))

print("generate:", model.generate("It is a truth universally acknowledged",
                                  max_tokens=8))
float_model = lowbit.compile(checkpoint)
with open(text_path, encoding="utf-8") as text:
    print("perplexity: %.4f" % float_model.perplexity(
        text.read(), context=128, max_scored_tokens=200))

report = model.roofline(hw="h100-sxm", phase="decode")
print("roofline functions:", sorted(f["function"] for f in report["functions"]))

ptx = lowbit.compile(checkpoint, scheme="w4a8{block-size=32 group-size=32}",
                     target="sm_90").ptx
print("ptx entries:", ptx.count(".entry") > 0)

sharded = lowbit.compile(checkpoint, tensor_parallel=2,
                         compress_collectives="format=fp4_e2m1 block-size=16")
print("sharded:", "lowbit.rank_group @tp [0, 1]" in sharded.ir)

for name, call in [
        ("missing checkpoint", lambda: lowbit.compile("/nonexistent.gguf")),
        ("unknown scheme", lambda: lowbit.compile(checkpoint, scheme="w3a3")),
        ("bad tokens", lambda: model.logits([[1, 2]])),
        ("uncompressible", lambda: lowbit.compile(checkpoint,
                                                  compress_collectives=""))]:
    try:
        call()
        print(name, "did not fail")
    except (RuntimeError, ValueError) as error:
        print(name + ":", type(error).__name__, str(error).splitlines()[0])
