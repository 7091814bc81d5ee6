#!/usr/bin/env python3
"""A Llama-shaped GGUF checkpoint with random, periodic weights, and a
calibration file with outlier channels for it: the input of the end-to-end
GPU benchmark (bench/gpu/model-bench.sh).

Speed does not depend on weight values, so the model's weights are random,
but the compiled artifact of a 7B-shaped model (3.5 GB in 4 bits) must
travel to the GPU machine in a few MiB. So every weight matrix repeats a
block of `--period` random rows (N(0, 0.02), stored as F16): the quantized,
packed weights then repeat every few KiB and gzip shrinks the artifact
about 1000-fold. Norm weights are ones. The vocabulary is synthetic
(`<unk>`, `<s>`, `</s>`, 256 byte pieces, then `tok<N>`).

The calibration file (docs/quantization.md, format lowbit-calibration 1)
gives every linear input channel an absolute maximum of 1 except
`--outliers` channels per activation, spread over the channels, at 40: the
channel outliers real 7B models have, so FMPQ makes INT8 blocks as it
would there. It is not measured on this model (no statistics of a
random-weight model mean anything) and says so in its "model" field.

    make_llama_shaped_model.py --preset llama2-7b -o 7b.gguf --calibration 7b-calibration.json
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..",
                                "tools", "train-model"))
import gguf_io  # noqa: E402

PRESETS = {
    "llama2-7b": dict(dim=4096, layers=32, heads=32, kv_heads=32, ffn=11008,
                      vocab=32000, context=4096),
    "tiny": dict(dim=256, layers=2, heads=8, kv_heads=4, ffn=768,
                 vocab=512, context=256),
}


def vocabulary(size):
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    tokens += ["tok%d" % i for i in range(size - len(tokens))]
    types += [1] * (size - len(types))
    return tokens, [0.0] * size, types


def periodic(rows, cols, period, rng):
    block = (rng.standard_normal((min(period, rows), cols)) * 0.02)
    return lambda: np.resize(block.astype(np.float16), (rows, cols))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="llama2-7b")
    ap.add_argument("--period", type=int, default=4,
                    help="rows of each weight matrix's repeated block")
    ap.add_argument("--outliers", type=int, default=8,
                    help="outlier channels per linear input")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--calibration", required=True)
    args = ap.parse_args()
    c = PRESETS[args.preset]
    rng = np.random.default_rng(args.seed)
    T = gguf_io
    w = T.GGUFWriter()
    T.add_llama_hyperparameters(
        w, "%s-shaped, random periodic weights" % args.preset, c["context"],
        c["dim"], c["layers"], c["ffn"], c["heads"], c["kv_heads"],
        rope_theta=10000.0, norm_eps=1e-5, vocab_size=c["vocab"])
    tokens, scores, types = vocabulary(c["vocab"])
    w.add("tokenizer.ggml.model", T.T_STRING, "llama")
    w.add_array("tokenizer.ggml.tokens", T.T_STRING, tokens)
    w.add_array("tokenizer.ggml.scores", T.T_FLOAT32, scores)
    w.add_array("tokenizer.ggml.token_type", T.T_INT32, types)
    w.add("tokenizer.ggml.bos_token_id", T.T_UINT32, 1)
    w.add("tokenizer.ggml.eos_token_id", T.T_UINT32, 2)
    w.add("tokenizer.ggml.unknown_token_id", T.T_UINT32, 0)
    w.add("tokenizer.ggml.add_bos_token", T.T_BOOL, True)
    w.add("tokenizer.ggml.add_eos_token", T.T_BOOL, False)

    dim, ffn = c["dim"], c["ffn"]
    kv_dim = dim // c["heads"] * c["kv_heads"]

    def matrix(name, rows, cols):
        w.add_generated_tensor(name, (rows, cols), T.GGML_F16,
                               periodic(rows, cols, args.period, rng))

    def ones(name):
        w.add_tensor(name, np.ones(dim, np.float32), T.GGML_F32)

    matrix("token_embd.weight", c["vocab"], dim)
    linears = {}
    for layer in range(c["layers"]):
        p = "blk.%d." % layer
        ones(p + "attn_norm.weight")
        for name, rows in (("attn_q", dim), ("attn_k", kv_dim),
                           ("attn_v", kv_dim), ("attn_output", dim)):
            matrix(p + name + ".weight", rows, dim)
            linears[p + name + ".weight"] = dim
        ones(p + "ffn_norm.weight")
        for name in ("ffn_gate", "ffn_up"):
            matrix(p + name + ".weight", ffn, dim)
            linears[p + name + ".weight"] = dim
        matrix(p + "ffn_down.weight", dim, ffn)
        linears[p + "ffn_down.weight"] = ffn
    ones("output_norm.weight")
    matrix("output.weight", c["vocab"], dim)
    linears["output.weight"] = dim
    w.write(args.output)

    statistics = {}
    for name, channels in linears.items():
        absmax = np.ones(channels)
        absmax[np.linspace(0, channels - 1, args.outliers).astype(int)] = 40.0
        statistics[name] = {"absmax": absmax.tolist(),
                            "percentile": (absmax * 0.9).tolist(),
                            "mean_square": (absmax * 0.1).tolist()}
    with open(args.calibration, "w") as f:
        json.dump({"format": "lowbit-calibration", "version": 1,
                   "model": "synthetic outliers for %s (not measured)"
                   % os.path.basename(args.output),
                   "tokens": 1, "percentile": 99.9, "linears": statistics}, f)


if __name__ == "__main__":
    main()
