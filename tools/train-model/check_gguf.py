"""Independent check of models/austen.gguf against the golden logits.

Why this exists: the GGUF file and the golden logits are produced by the same
training script, so a bug in the exporter could go unnoticed.  This checker
shares no model code with train.py: it parses the GGUF bytes (gguf_io.read_gguf),
validates metadata, tensor names/shapes/types and alignment, compares the
embedded vocabulary with the SentencePiece model, and runs its own numpy
(float64) Llama forward pass with adjacent-pair ("NORM", llama.cpp) RoPE on the
parsed tensors, printing the max abs/relative difference to the golden logits.

Usage:  /usr/bin/python3 tools/train-model/check_gguf.py [--models models]
Exit status is non-zero if any check fails.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_io  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def read_golden(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"LBGOLDEN", "bad golden magic"
    version, n_prompts, n_vocab, _ = struct.unpack_from("<IIII", data, 8)
    assert version == 1
    p = 24
    out = []
    for _ in range(n_prompts):
        (n,) = struct.unpack_from("<I", data, p)
        p += 4
        ids = np.frombuffer(data, "<i4", n, p)
        p += 4 * n
        logits = np.frombuffer(data, "<f4", n * n_vocab, p).reshape(n, n_vocab)
        p += 4 * n * n_vocab
        out.append((ids, logits))
    assert p == len(data), "trailing bytes in golden file"
    return out


def forward(meta, W, ids, trace=None):
    """Reference llama forward in float64 from GGUF tensors (PyTorch shapes).

    If ``trace`` is a list, one dict per layer is appended to it holding the
    inputs of that layer's matmuls ([T, channels] arrays): ``attn_in`` (the
    attn_norm output, input of Q/K/V), ``o_in`` (input of attn_output),
    ``ffn_in`` (the ffn_norm output, input of gate/up) and ``down_in`` (input
    of ffn_down).  Used by tools/quant-eval/make_outlier_model.py.
    """
    g = lambda k: meta["llama." + k]  # noqa: E731
    nl, H, KV = g("block_count"), g("attention.head_count"), \
        g("attention.head_count_kv")
    eps, base = g("attention.layer_norm_rms_epsilon"), g("rope.freq_base")
    w = {k: v.astype(np.float64) for k, v in W.items()}
    D = w["token_embd.weight"].shape[1]
    hd = D // H
    n_rot = g("rope.dimension_count")
    T = len(ids)

    def rms(x, wt):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * wt

    pos = np.arange(T)[:, None]
    theta = pos * base ** (-np.arange(0, n_rot, 2) / n_rot)  # [T, n_rot/2]
    cos, sin = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]

    def rope(x):  # x [T, heads, hd]; llama.cpp NORM: adjacent pairs
        x = x.copy()
        x0, x1 = x[..., 0:n_rot:2].copy(), x[..., 1:n_rot:2].copy()
        x[..., 0:n_rot:2] = x0 * cos - x1 * sin
        x[..., 1:n_rot:2] = x0 * sin + x1 * cos
        return x

    x = w["token_embd.weight"][ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(nl):
        b = "blk.%d." % i
        h = rms(x, w[b + "attn_norm.weight"])
        q = rope((h @ w[b + "attn_q.weight"].T).reshape(T, H, hd))
        k = rope((h @ w[b + "attn_k.weight"].T).reshape(T, KV, hd))
        v = (h @ w[b + "attn_v.weight"].T).reshape(T, KV, hd)
        out = np.empty((T, H, hd))
        for hh in range(H):
            kv = hh // (H // KV)
            s = q[:, hh] @ k[:, kv].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            out[:, hh] = (s / s.sum(-1, keepdims=True)) @ v[:, kv]
        attn_in, o_in = h, out.reshape(T, H * hd)
        x = x + o_in @ w[b + "attn_output.weight"].T
        h = rms(x, w[b + "ffn_norm.weight"])
        a = h @ w[b + "ffn_gate.weight"].T
        down_in = (a / (1 + np.exp(-a))) * (h @ w[b + "ffn_up.weight"].T)
        x = x + down_in @ w[b + "ffn_down.weight"].T
        if trace is not None:
            trace.append({"attn_in": attn_in, "o_in": o_in, "ffn_in": h,
                          "down_in": down_in})
    return rms(x, w["output_norm.weight"]) @ w["output.weight"].T


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=os.path.join(ROOT, "models"))
    args = ap.parse_args()
    m = lambda f: os.path.join(args.models, f)  # noqa: E731
    meta, W, infos = gguf_io.read_gguf(m("austen.gguf"))
    ok = True

    def check(cond, what):
        nonlocal ok
        print(("ok   " if cond else "FAIL ") + what)
        ok &= bool(cond)

    check(meta["general.architecture"] == "llama", "architecture llama")
    L = meta["llama.block_count"]
    D = meta["llama.embedding_length"]
    H, KV = meta["llama.attention.head_count"], \
        meta["llama.attention.head_count_kv"]
    F_ = meta["llama.feed_forward_length"]
    V = meta["llama.vocab_size"]
    hd = D // H
    expect = {"token_embd.weight": ([D, V], 1),
              "output_norm.weight": ([D], 0), "output.weight": ([D, V], 1)}
    for i in range(L):
        b = "blk.%d." % i
        expect.update({b + "attn_norm.weight": ([D], 0),
                       b + "attn_q.weight": ([D, H * hd], 1),
                       b + "attn_k.weight": ([D, KV * hd], 1),
                       b + "attn_v.weight": ([D, KV * hd], 1),
                       b + "attn_output.weight": ([H * hd, D], 1),
                       b + "ffn_norm.weight": ([D], 0),
                       b + "ffn_gate.weight": ([D, F_], 1),
                       b + "ffn_up.weight": ([D, F_], 1),
                       b + "ffn_down.weight": ([F_, D], 1)})
    got = {name: (ne, t) for name, ne, t, off in infos}
    check(got == expect, "tensor names, ne (fastest first) and types "
          "(%d tensors)" % len(infos))
    check(all(off % 32 == 0 for _, _, _, off in infos), "32-byte alignment")
    check(meta["llama.rope.dimension_count"] == hd, "rope dims = head_dim")

    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=m("austen-tokenizer.model"))
    toks = meta["tokenizer.ggml.tokens"]
    check(len(toks) == V == sp.get_piece_size(), "vocab size %d" % V)
    check(toks == [sp.id_to_piece(i) for i in range(V)], "token strings")
    check(np.allclose(meta["tokenizer.ggml.scores"],
                      [sp.get_score(i) for i in range(V)]), "token scores")
    types = meta["tokenizer.ggml.token_type"]
    check(types[:3] == [2, 3, 3] and types[3:259] == [6] * 256
          and set(types[259:]) == {1}, "token types unk/control/byte/normal")
    check((meta["tokenizer.ggml.bos_token_id"],
           meta["tokenizer.ggml.eos_token_id"],
           meta["tokenizer.ggml.unknown_token_id"]) == (1, 2, 0),
          "bos/eos/unk ids")

    golden = read_golden(m("austen-golden.bin"))
    gj = json.load(open(m("austen-golden.json")))
    worst_abs = worst_rel = 0.0
    for (ids, logits), rec in zip(golden, gj["prompts"]):
        check(list(ids) == [1] + sp.encode(rec["text"]),
              "golden ids == sentencepiece(%r)" % rec["text"][:30])
        ref = forward(meta, W, ids)
        d = np.abs(ref - logits)
        rel = d.max() / np.abs(ref).max()
        worst_abs, worst_rel = max(worst_abs, d.max()), max(worst_rel, rel)
        print("     %2d tokens: max|numpy-golden| = %.3g (rel to max|logit| "
              "%.3g), argmax agree %s" % (len(ids), d.max(), rel,
                                          (ref.argmax(-1) == logits.argmax(-1)
                                           ).all()))
        check(list(logits.argmax(-1)) == rec["argmax"], "json argmax")
    check(worst_rel < 1e-4, "numpy forward reproduces golden logits "
          "(max abs %.3g, max rel %.3g)" % (worst_abs, worst_rel))
    print("ALL OK" if ok else "SOME CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
