"""Compiles the embedded model for this CPU from Python and runs the
artifact on the runtime (driven by compiled.test)."""
import os
import sys

import numpy as np

import lowbit

checkpoint, text_path, work = sys.argv[1:4]
os.makedirs(work, exist_ok=True)
scheme = "w4a8{block-size=32 group-size=32}"
model = lowbit.compile(checkpoint, scheme=scheme, target="x86_64")
path = os.path.join(work, "model.lbm")
model.save_artifact(path)
compiled = lowbit.load(path, tokenizer=model)
print("artifact:", compiled.metadata("target"), compiled.metadata("matmul_isa"),
      compiled.metadata("scheme"))

tokens = model.tokenize("Emma Woodhouse, handsome, clever, and rich")
print("logits equal the reference:",
      np.array_equal(compiled.logits(tokens), model.logits(tokens)))
step = [int(tokens[0])]
print("decode equal the reference:",
      np.array_equal(compiled.logits(step, start=len(tokens), entry_point="decode"),
                     model.logits(step, start=len(tokens), entry_point="decode")))
prompt = "It is a truth universally acknowledged"
print("generate equal:", compiled.generate(prompt, max_tokens=12) ==
      model.generate(prompt, max_tokens=12))
with open(text_path, encoding="utf-8") as text:
    sample = text.read()[:4000]
print("perplexity equal:", compiled.perplexity(sample, context=128) ==
      model.perplexity(sample, context=128))

arm = lowbit.compile(checkpoint, scheme=scheme, target="aarch64")
arm_path = os.path.join(work, "aarch64.lbm")
arm.save_artifact(arm_path)
with open(arm_path, "rb") as file:
    metadata = file.read(4096)
print("aarch64 artifact:", "neoverse-n2" if b"cpu=neoverse-n2" in metadata else "?",
      "neon-i8mm" if b"matmul_isa=neon-i8mm" in metadata else "?")

for name, call in [
        ("no tokenizer", lambda: lowbit.load(path).generate(prompt)),
        ("other architecture", lambda: lowbit.load(arm_path)),
        ("two tokens to decode",
         lambda: compiled.logits([1, 2], start=3, entry_point="decode")),
        ("no artifact", lambda: lowbit.compile(checkpoint).save_artifact(path)),
        ("unknown cpu", lambda: lowbit.compile(checkpoint, target="x86_64",
                                               cpu="pentium9")),
        ("cpu for a GPU", lambda: lowbit.compile(checkpoint, target="sm_90",
                                                 cpu="neoverse-n2")),
        ("missing artifact", lambda: lowbit.load("/nonexistent.lbm")),
        ("unknown target", lambda: lowbit.compile(checkpoint, target="x86-64"))]:
    try:
        call()
        print(name, "did not fail")
    except (RuntimeError, ValueError) as error:
        print(name + ":", type(error).__name__, str(error).splitlines()[0])
