"""Make an "outlier-stressed" but exactly equivalent variant of a llama GGUF.

Why this exists: real 7B+ LLMs carry a few activation channels whose
magnitude is tens to hundreds of times the rest, and those outliers are what
make per-tensor activation quantization (A8/A4) hard.  The project's default
model (models/austen.gguf, docs/default-model.md) is small and well behaved,
so activation quantization looks easier on it than it is on real models.  This
script re-parameterizes the model so that chosen channels of every matmul
input are scaled up by a factor F while the matmul weights that read them are
scaled down by F.  The network computes the same function, so float logits are
unchanged, but quantizers see the outliers.

Transform, for every layer N, with channels drawn by a seeded numpy RNG
(K distinct channels for each of the four sites, drawn independently):

1. Q/K/V input: attn_norm.weight[c] *= F; attn_q/k/v.weight[:, c] /= F.
2. gate/up input: ffn_norm.weight[c] *= F; ffn_gate/up.weight[:, c] /= F.
3. ffn_down input (hidden channel j of feed_forward_length):
   ffn_up.weight[j, :] *= F; ffn_down.weight[:, j] /= F
   (silu(gate) * up is linear in up).
4. attn_output input (channel c of the KV dimension head_count_kv*head_dim):
   attn_v.weight[c, :] *= F; for every query head q that reads KV head
   c // head_dim, attn_output.weight[:, q*head_dim + c % head_dim] /= F
   (attention output is a convex combination of V rows, linear in V).

F must be a power of two and every tensor is written as F32, so each scaling
is exact in binary floating point (the source's F16 values are exactly
representable in F32, and so are their power-of-two multiples): the result is
exactly function-preserving up to the rounding of the forward pass itself.
All metadata key/values, including the embedded tokenizer, are copied byte for
byte (general.file_type therefore still says MOSTLY_F16, as in the source;
nothing in lowbit reads it).  Tensor order, names and shapes are unchanged.

--verify runs check_gguf.py's float64 numpy forward on the source and on the
written file (re-parsed from disk) for the first prompt of
models/austen-golden.json, requires max|logit difference| <= 1e-3 *
max|logit|, and prints, per layer and matmul input, the ratio of the largest
per-channel absmax to the median per-channel absmax for both models.

Usage:
  /usr/bin/python3 tools/quant-eval/make_outlier_model.py \\
      --output /tmp/austen-outliers.gguf [--input models/austen.gguf] \\
      [--channels 4] [--factor 32] [--seed 0] [--verify]
Exit status is non-zero on a bad option, an unreadable/corrupt input, or a
failed verification.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "train-model"))
import gguf_io  # noqa: E402
from check_gguf import forward  # noqa: E402

# First prompt of models/austen-golden.json, used if that file is missing.
FALLBACK_IDS = [1, 602, 366, 261, 1866, 453, 4034, 1168, 573, 2768]
SITES = ("attn_in", "ffn_in", "down_in", "o_in")


class InputError(Exception):
    pass


def read_raw_kv(path):
    """The metadata key/values of a GGUF file as (key, encoded value) pairs,
    where the encoded value is the exact bytes (u32 type + value) of the file,
    in file order; GGUFWriter.kv holds pairs of the same form."""
    with open(path, "rb") as f:
        data = f.read()
    c = gguf_io._Cursor(data)
    if data[:4] != gguf_io.GGUF_MAGIC:
        raise ValueError("not a GGUF file")
    c.p = 4
    _, _, n_kv = c.unpack("<IQQ")
    out = []
    for _ in range(n_kv):
        key = c.string()
        start = c.p
        c.value(c.unpack("<I"))
        out.append((key, bytes(data[start:c.p])))
    return out


def load(path):
    """(meta, tensors, infos, raw kv) of a llama GGUF with F16/F32 tensors,
    or InputError with a readable message."""
    if not os.path.isfile(path):
        raise InputError("%s: no such file" % path)
    try:
        meta, W, infos = gguf_io.read_gguf(path)
        kv = read_raw_kv(path)
    except KeyError as e:
        raise InputError("%s: unsupported GGUF value or tensor type %s (only "
                         "F32/F16 tensors are supported)" % (path, e))
    except (ValueError, struct.error, UnicodeDecodeError, IndexError,
            OverflowError, MemoryError) as e:
        raise InputError("%s: corrupt or truncated GGUF (%s)" % (path, e))
    except OSError as e:
        raise InputError("%s: %s" % (path, e))
    if meta.get("general.architecture") != "llama":
        raise InputError("%s: general.architecture is %r, expected 'llama'"
                         % (path, meta.get("general.architecture")))
    if meta.get("general.alignment", gguf_io.ALIGNMENT) != gguf_io.ALIGNMENT:
        raise InputError("%s: general.alignment %r is not %d" % (
            path, meta["general.alignment"], gguf_io.ALIGNMENT))
    keys = ["block_count", "embedding_length", "feed_forward_length",
            "attention.head_count", "attention.head_count_kv"]
    missing = [k for k in keys if "llama." + k not in meta]
    if missing:
        raise InputError("%s: missing metadata %s" % (
            path, ", ".join("llama." + k for k in missing)))
    L, D, FF, H, KV = (meta["llama." + k] for k in keys)
    if H <= 0 or KV <= 0 or D % H or H % KV:
        raise InputError("%s: bad head counts (dim %d, heads %d, kv heads %d)"
                         % (path, D, H, KV))
    hd = D // H
    expect = {"token_embd.weight": None, "output_norm.weight": [D],
              "output.weight": None}
    for i in range(L):
        b = "blk.%d." % i
        expect.update({b + "attn_norm.weight": [D],
                       b + "attn_q.weight": [H * hd, D],
                       b + "attn_k.weight": [KV * hd, D],
                       b + "attn_v.weight": [KV * hd, D],
                       b + "attn_output.weight": [D, H * hd],
                       b + "ffn_norm.weight": [D],
                       b + "ffn_gate.weight": [FF, D],
                       b + "ffn_up.weight": [FF, D],
                       b + "ffn_down.weight": [D, FF]})
    for name, shape in expect.items():
        if name not in W:
            raise InputError("%s: missing tensor %s" % (path, name))
        if shape is not None and list(W[name].shape) != shape:
            raise InputError("%s: tensor %s has shape %s, expected %s" % (
                path, name, list(W[name].shape), shape))
    return meta, W, infos, kv


def stress(meta, W, K, F, seed):
    """Returns (new F32 tensors, chosen channels per layer)."""
    L = meta["llama.block_count"]
    D = meta["llama.embedding_length"]
    FF = meta["llama.feed_forward_length"]
    H = meta["llama.attention.head_count"]
    KV = meta["llama.attention.head_count_kv"]
    hd, group = D // H, H // KV
    out = {n: np.array(a, dtype=np.float32) for n, a in W.items()}
    rng = np.random.default_rng(seed)
    pick = lambda n: np.sort(rng.choice(n, K, replace=False))  # noqa: E731
    chosen = []
    for i in range(L):
        b = "blk.%d." % i
        t = lambda s: out[b + s + ".weight"]  # noqa: E731
        ch = {"attn_in": pick(D), "ffn_in": pick(D), "down_in": pick(FF),
              "o_in": pick(KV * hd)}
        c = ch["attn_in"]                                 # 1. Q/K/V input
        t("attn_norm")[c] *= F
        for s in ("attn_q", "attn_k", "attn_v"):
            t(s)[:, c] /= F
        c = ch["ffn_in"]                                  # 2. gate/up input
        t("ffn_norm")[c] *= F
        for s in ("ffn_gate", "ffn_up"):
            t(s)[:, c] /= F
        j = ch["down_in"]                                 # 3. down input
        t("ffn_up")[j, :] *= F
        t("ffn_down")[:, j] /= F
        cols = []                                         # 4. o_proj input
        for c in ch["o_in"]:
            t("attn_v")[c, :] *= F
            for q in range(H):
                if q // group == c // hd:
                    cols.append(q * hd + c % hd)
        t("attn_output")[:, cols] /= F
        ch["o_cols"] = np.array(sorted(cols))
        chosen.append(ch)
    bad = [n for n, a in out.items() if not np.isfinite(a).all()]
    if bad:
        raise InputError("scaling by %d overflows F32 in %s" % (F, bad[0]))
    return out, chosen


def write(path, kv, infos, tensors):
    w = gguf_io.GGUFWriter()
    w.kv = list(kv)  # the source's exact metadata bytes
    for name, *_ in infos:
        w.add_tensor(name, tensors[name], gguf_io.GGML_F32)
    tmp = path + ".tmp"
    w.write(tmp)
    os.replace(tmp, path)


def verify_ids(meta):
    p = os.path.join(ROOT, "models", "austen-golden.json")
    try:
        with open(p) as f:
            ids = json.load(f)["prompts"][0]["ids"]
    except (OSError, ValueError, KeyError, IndexError):
        ids = FALLBACK_IDS
    V = meta["llama.vocab_size"] if "llama.vocab_size" in meta else 0
    if V and max(ids) >= V:
        ids = [i % V for i in ids]
    return np.array(ids)


def outlier_ratio(x):
    """max over channels of the per-channel absmax / median of them."""
    m = np.abs(x).max(0)
    return m.max() / max(np.median(m), 1e-30)


def verify(meta0, W0, out_path):
    meta1, W1, _, _ = load(out_path)
    ids = verify_ids(meta0)
    tr0, tr1 = [], []
    ref = forward(meta0, W0, ids, tr0)
    got = forward(meta1, W1, ids, tr1)
    diff, scale = np.abs(ref - got).max(), np.abs(ref).max()
    ok = diff <= 1e-3 * scale and np.isfinite(got).all()
    same_argmax = (ref.argmax(-1) == got.argmax(-1)).all()
    print("verify: %d tokens, max|logit| %.6g, max|logit diff| %.3g "
          "(rel %.3g, limit 1e-3), argmax agree %s" % (
              len(ids), scale, diff, diff / scale, same_argmax))
    print("outlier ratio = max / median of per-channel absmax of each matmul "
          "input (original -> stressed)")
    print("layer  " + "  ".join("%-18s" % s for s in SITES))
    for i, (a, b) in enumerate(zip(tr0, tr1)):
        print("%5d  " % i + "  ".join(
            "%-18s" % ("%.1f -> %.1f" % (outlier_ratio(a[s]),
                                         outlier_ratio(b[s]))) for s in SITES))
    print("verify: %s" % ("OK" if ok else "FAILED"))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", default=os.path.join(ROOT, "models",
                                                    "austen.gguf"))
    ap.add_argument("--output", required=True)
    ap.add_argument("--channels", type=int, default=4, metavar="K",
                    help="channels per site and layer (default 4)")
    ap.add_argument("--factor", type=int, default=32, metavar="F",
                    help="outlier scale, a power of two (default 32)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verify", action="store_true",
                    help="check the written model against the input")
    args = ap.parse_args()
    F, K = args.factor, args.channels
    if F < 1 or F & (F - 1):
        ap.error("--factor %d is not a power of two" % F)
    try:
        meta, W, infos, kv = load(args.input)
        limit = min(meta["llama.embedding_length"],
                    meta["llama.feed_forward_length"],
                    meta["llama.attention.head_count_kv"] *
                    (meta["llama.embedding_length"] //
                     meta["llama.attention.head_count"]))
        if not 1 <= K <= limit:
            ap.error("--channels %d is not in 1..%d" % (K, limit))
        if os.path.exists(args.output) and \
                os.path.samefile(args.output, args.input):
            raise InputError("--output is the input file")
        tensors, chosen = stress(meta, W, K, F, args.seed)
        write(args.output, kv, infos, tensors)
    except InputError as e:
        sys.exit("make_outlier_model: error: %s" % e)
    except OSError as e:
        sys.exit("make_outlier_model: error: %s" % e)

    print("%s -> %s: factor %d, %d channels per site, seed %d" % (
        args.input, args.output, F, K, args.seed))
    fmt = lambda a: ",".join(str(int(v)) for v in a)  # noqa: E731
    for i, ch in enumerate(chosen):
        print("  blk.%d: attn_in [%s]  ffn_in [%s]  down_in [%s]  "
              "o_in kv [%s] (attn_output cols [%s])" % (
                  i, fmt(ch["attn_in"]), fmt(ch["ffn_in"]),
                  fmt(ch["down_in"]), fmt(ch["o_in"]), fmt(ch["o_cols"])))
    print("wrote %d bytes" % os.path.getsize(args.output))
    if args.verify:
        try:
            ok = verify(meta, W, args.output)
        except InputError as e:
            sys.exit("make_outlier_model: error: re-reading output: %s" % e)
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
