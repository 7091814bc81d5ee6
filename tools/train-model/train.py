"""Train the project's default Llama model, export it as GGUF, write golden logits.

Why this exists: lowbit needs a small, freely redistributable Llama-family
model that it can embed in tests and demos.  This script is the single
reproducible recipe for it: model definition, training loop, GGUF export
(through gguf_io.py) and golden logits from PyTorch for fixed prompts.

The architecture is exactly llama.cpp's LLM_ARCH_LLAMA:
  x = token_embd[ids]
  per layer: h = x + wo(attn(rope(wq(rms(x))), rope(wk(rms(x))), wv(rms(x))))
             x = h + w2(silu(w1(rms(h))) * w3(rms(h)))
  logits = output(rms(x))
with RMSNorm (weight * x / sqrt(mean(x^2) + eps)), grouped-query attention
(query head h uses kv head h // (n_heads / n_kv_heads)), causal softmax
attention scaled by 1/sqrt(head_dim), untied output head.

RoPE convention: rotation of ADJACENT pairs (x[2i], x[2i+1]) of each head by
angle pos * theta^(-2i/head_dim), i.e. the original Meta/llama.cpp "NORM"
rope.  Because the model is trained with that convention directly, the q/k
weights are written to GGUF unpermuted and llama.cpp's rope gives the same
result (no HF rotate_half permutation is involved anywhere).

Runs on CUDA (bf16 autocast) or CPU with torch >= 1.13; only APIs present in
1.13 are required (scaled_dot_product_attention is used only if available).

  GPU:  python3 tools/train-model/train.py --device cuda --out /tmp/run
  CPU:  /usr/bin/python3 tools/train-model/train.py --device cpu --out /tmp/run

Outputs in --out: austen.gguf, austen-golden.bin, austen-golden.json,
metrics.json, samples.txt, train.log.
"""

import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_io  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BOS, EOS = 1, 2


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).type_as(x)


def rope_tables(head_dim, max_len, theta):
    """cos/sin tables [max_len, head_dim/2] for adjacent-pair RoPE."""
    inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64)
                          / head_dim)
    ang = torch.outer(torch.arange(max_len, dtype=torch.float64), inv)
    return ang.cos().float(), ang.sin().float()


def apply_rope(x, cos, sin):
    """x: [B, T, H, hd]; rotates pairs (x[..., 2i], x[..., 2i+1])."""
    T = x.shape[1]
    xp = x.float().reshape(*x.shape[:-1], -1, 2)
    x0, x1 = xp[..., 0], xp[..., 1]
    c, s = cos[None, :T, None, :], sin[None, :T, None, :]
    out = torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1)
    return out.flatten(-2).type_as(x)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_heads, self.n_kv = cfg["n_heads"], cfg["n_kv_heads"]
        self.hd = cfg["dim"] // self.n_heads
        d = cfg["dim"]
        self.wq = nn.Linear(d, self.n_heads * self.hd, bias=False)
        self.wk = nn.Linear(d, self.n_kv * self.hd, bias=False)
        self.wv = nn.Linear(d, self.n_kv * self.hd, bias=False)
        self.wo = nn.Linear(self.n_heads * self.hd, d, bias=False)
        self.use_sdpa = hasattr(F, "scaled_dot_product_attention")

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, self.n_heads, self.hd)
        k = self.wk(x).view(B, T, self.n_kv, self.hd)
        v = self.wv(x).view(B, T, self.n_kv, self.hd)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = self.n_heads // self.n_kv
        # [B, T, KV, hd] -> [B, H, T, hd] with head h reading kv head h // rep
        q = q.transpose(1, 2)
        k = k.transpose(1, 2).repeat_interleave(rep, dim=1)
        v = v.transpose(1, 2).repeat_interleave(rep, dim=1)
        if self.use_sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(self.hd)
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            att = att.masked_fill(mask, float("-inf"))
            y = F.softmax(att.float(), dim=-1).type_as(q) @ v
        return self.wo(y.transpose(1, 2).reshape(B, T, -1))


class FeedForward(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.w1 = nn.Linear(cfg["dim"], cfg["hidden_dim"], bias=False)  # gate
        self.w2 = nn.Linear(cfg["hidden_dim"], cfg["dim"], bias=False)  # down
        self.w3 = nn.Linear(cfg["dim"], cfg["hidden_dim"], bias=False)  # up

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention_norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.attention = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.feed_forward = FeedForward(cfg)
        self.drop = nn.Dropout(cfg["dropout"])

    def forward(self, x, cos, sin):
        x = x + self.drop(self.attention(self.attention_norm(x), cos, sin))
        return x + self.drop(self.feed_forward(self.ffn_norm(x)))


class Llama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg["vocab_size"], cfg["dim"])
        self.drop = nn.Dropout(cfg["dropout"])
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg["n_layers"]))
        self.norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.output = nn.Linear(cfg["dim"], cfg["vocab_size"], bias=False)
        cos, sin = rope_tables(cfg["dim"] // cfg["n_heads"],
                               cfg["context_length"], cfg["rope_theta"])
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02
                if name.endswith("wo.weight") or name.endswith("w2.weight"):
                    std = 0.02 / math.sqrt(2 * cfg["n_layers"])
                nn.init.normal_(p, mean=0.0, std=std)

    def forward(self, ids):
        x = self.drop(self.tok_embeddings(ids))
        for layer in self.layers:
            x = layer(x, self.rope_cos, self.rope_sin)
        return self.output(self.norm(x))


# --------------------------------------------------------------------------
# GGUF export
# --------------------------------------------------------------------------

def gguf_tensors(model):
    """(gguf name, torch tensor) in llama.cpp naming, PyTorch [out, in] shapes."""
    out = [("token_embd.weight", model.tok_embeddings.weight)]
    for i, L in enumerate(model.layers):
        p = "blk.%d." % i
        out += [(p + "attn_norm.weight", L.attention_norm.weight),
                (p + "attn_q.weight", L.attention.wq.weight),
                (p + "attn_k.weight", L.attention.wk.weight),
                (p + "attn_v.weight", L.attention.wv.weight),
                (p + "attn_output.weight", L.attention.wo.weight),
                (p + "ffn_norm.weight", L.ffn_norm.weight),
                (p + "ffn_gate.weight", L.feed_forward.w1.weight),
                (p + "ffn_up.weight", L.feed_forward.w3.weight),
                (p + "ffn_down.weight", L.feed_forward.w2.weight)]
    out += [("output_norm.weight", model.norm.weight),
            ("output.weight", model.output.weight)]
    return out


def round_to_export_precision(model):
    """Rounds 2-D weights to F16 in place (norm vectors stay F32), so that the
    float32 model computes exactly what the GGUF file holds."""
    with torch.no_grad():
        for _, t in gguf_tensors(model):
            if t.dim() == 2:
                t.copy_(t.half().float())


def tokenizer_metadata(sp_model_path):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=sp_model_path)
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            types.append(2)
        elif sp.is_control(i):
            types.append(3)
        elif sp.is_byte(i):
            types.append(6)
        elif sp.is_unused(i):
            types.append(5)
        else:
            types.append(1)
    return tokens, scores, types, (sp.bos_id(), sp.eos_id(), sp.unk_id())


def write_gguf(model, path, sp_model_path, name):
    cfg = model.cfg
    T = gguf_io
    w = T.GGUFWriter()
    T.add_llama_hyperparameters(
        w, name, cfg["context_length"], cfg["dim"], cfg["n_layers"],
        cfg["hidden_dim"], cfg["n_heads"], cfg["n_kv_heads"],
        cfg["rope_theta"], cfg["norm_eps"], cfg["vocab_size"])
    tokens, scores, types, (bos, eos, unk) = tokenizer_metadata(sp_model_path)
    assert len(tokens) == cfg["vocab_size"]
    w.add("tokenizer.ggml.model", T.T_STRING, "llama")
    w.add_array("tokenizer.ggml.tokens", T.T_STRING, tokens)
    w.add_array("tokenizer.ggml.scores", T.T_FLOAT32, scores)
    w.add_array("tokenizer.ggml.token_type", T.T_INT32, types)
    w.add("tokenizer.ggml.bos_token_id", T.T_UINT32, bos)
    w.add("tokenizer.ggml.eos_token_id", T.T_UINT32, eos)
    w.add("tokenizer.ggml.unknown_token_id", T.T_UINT32, unk)
    w.add("tokenizer.ggml.add_bos_token", T.T_BOOL, True)
    w.add("tokenizer.ggml.add_eos_token", T.T_BOOL, False)
    w.add("tokenizer.ggml.add_space_prefix", T.T_BOOL, True)
    for gname, t in gguf_tensors(model):
        a = t.detach().float().cpu().numpy()
        if a.ndim == 2:
            w.add_tensor(gname, a.astype(np.float16), T.GGML_F16)
        else:
            w.add_tensor(gname, a, T.GGML_F32)
    w.write(path)


# --------------------------------------------------------------------------
# Golden logits
# --------------------------------------------------------------------------

GOLDEN_MAGIC = b"LBGOLDEN"


def write_golden(model, prompts, bin_path, json_path, gguf_name, sp):
    """Binary: magic 'LBGOLDEN', u32 version=1, u32 n_prompts, u32 n_vocab,
    u32 reserved=0; then per prompt: u32 n_tokens, i32 ids[n_tokens],
    f32 logits[n_tokens][n_vocab] (row = position).  All little-endian."""
    V = model.cfg["vocab_size"]
    recs = []
    with open(bin_path, "wb") as f:
        f.write(GOLDEN_MAGIC + struct.pack("<IIII", 1, len(prompts), V, 0))
        for p in prompts:
            ids = p["ids"]
            assert len(ids) <= model.cfg["context_length"], "prompt too long"
            with torch.no_grad():
                logits = model(torch.tensor([ids]))[0].float().numpy()
            f.write(struct.pack("<I", len(ids)))
            f.write(np.asarray(ids, dtype="<i4").tobytes())
            f.write(logits.astype("<f4").tobytes())
            greedy = generate(model, ids, 16, temperature=0.0)
            recs.append({"text": p["text"], "ids": ids,
                         "argmax": [int(i) for i in logits.argmax(-1)],
                         "last_logits_top5": [
                             [int(i), float("%.6g" % logits[-1, i])]
                             for i in np.argsort(-logits[-1])[:5]],
                         "greedy16_ids": greedy,
                         "greedy16_text": sp.decode(greedy)})
    with open(json_path, "w") as f:
        json.dump({"model": gguf_name, "binary": os.path.basename(bin_path),
                   "n_vocab": V, "prompts": recs}, f, indent=1)


# --------------------------------------------------------------------------
# Training / evaluation helpers
# --------------------------------------------------------------------------

def load_tokens(path):
    return np.fromfile(path, dtype="<u2").astype(np.int64)


@torch.no_grad()
def evaluate(model, toks, ctx, device, batch=16):
    """Mean NLL (nats) over non-overlapping windows of `ctx` tokens.

    Window k feeds toks[k*ctx : k*ctx+ctx] and predicts the following token at
    every position, so every token except the first is predicted exactly once,
    each with at most ctx tokens of context (the window starts fresh).
    Targets equal to BOS are excluded (BOS always follows EOS, so it is free).
    """
    model.eval()
    n = len(toks)
    starts = list(range(0, n - 1, ctx))
    nll, cnt = 0.0, 0
    t = torch.from_numpy(toks)
    for i in range(0, len(starts), batch):
        group = starts[i:i + batch]
        lens = [min(ctx, n - 1 - s) for s in group]
        for L in sorted(set(lens)):  # the last window can be shorter
            sel = [s for s, l in zip(group, lens) if l == L]
            x = torch.stack([t[s:s + L] for s in sel]).to(device)
            y = torch.stack([t[s + 1:s + L + 1] for s in sel]).to(device)
            logits = model(x).float()
            y = y.masked_fill(y == BOS, -100)
            nll += F.cross_entropy(logits.reshape(-1, logits.size(-1)),
                                   y.reshape(-1), ignore_index=-100,
                                   reduction="sum").item()
            cnt += int((y != -100).sum())
    model.train()
    return nll / cnt


@torch.no_grad()
def generate(model, ids, n, temperature=0.8, top_k=40, gen=None):
    """Plain generation with full recompute (the model is tiny); stops at EOS."""
    model.eval()
    ids = list(ids)
    out = []
    ctx = model.cfg["context_length"]
    for _ in range(n):
        logits = model(torch.tensor([ids[-ctx:]]))[0, -1].float()
        if temperature == 0.0:
            nxt = int(logits.argmax())
        else:
            logits = logits / temperature
            v, i = torch.topk(logits, top_k)
            probs = F.softmax(v, dim=-1)
            nxt = int(i[torch.multinomial(probs, 1, generator=gen)])
        if nxt == EOS:
            break
        ids.append(nxt)
        out.append(nxt)
    return out


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    frac = (step - args.warmup) / max(1, args.max_iters - args.warmup)
    frac = min(1.0, frac)
    return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 *
                      (1 + math.cos(math.pi * frac)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(HERE, "work"))
    ap.add_argument("--tokenizer", default=os.path.join(
        ROOT, "models", "austen-tokenizer.model"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--seed", type=int, default=1234)
    # model
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--n-layers", type=int, default=6)
    ap.add_argument("--n-heads", type=int, default=8)
    ap.add_argument("--n-kv-heads", type=int, default=4)
    ap.add_argument("--hidden-dim", type=int, default=768)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--dropout", type=float, default=0.3)
    # optimisation
    # Defaults = the configuration chosen by gpu_sweep.sh (docs/default-model.md).
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-iters", type=int, default=1200)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.5)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--eval-interval", type=int, default=100)
    ap.add_argument("--time-limit", type=float, default=0,
                    help="stop training after this many seconds (0 = none)")
    ap.add_argument("--name", default="lowbit-austen")
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    logf = open(os.path.join(args.out, "train.log"), "w")

    def log(*a):
        s = " ".join(str(x) for x in a)
        print(s, flush=True)
        logf.write(s + "\n")
        logf.flush()

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    meta = json.load(open(os.path.join(args.data, "meta.json")))
    cfg = {"vocab_size": meta["vocab_size"], "dim": args.dim,
           "n_layers": args.n_layers, "n_heads": args.n_heads,
           "n_kv_heads": args.n_kv_heads, "hidden_dim": args.hidden_dim,
           "context_length": args.context, "norm_eps": 1e-5,
           "rope_theta": 10000.0, "dropout": args.dropout}
    assert cfg["dim"] % cfg["n_heads"] == 0
    assert (cfg["dim"] // cfg["n_heads"]) % 2 == 0
    assert cfg["n_heads"] % cfg["n_kv_heads"] == 0
    log("args", json.dumps(vars(args)))
    log("torch", torch.__version__, "device", dev)

    train = load_tokens(os.path.join(args.data, "train.bin"))
    devset = load_tokens(os.path.join(args.data, "dev.bin"))
    held = load_tokens(os.path.join(args.data, "heldout.bin"))
    prompts = json.load(open(os.path.join(args.data, "prompts.json")))
    train_t = torch.from_numpy(train).to(dev)

    model = Llama(cfg).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    log("params", n_params, "train tokens", len(train),
        "tokens/step", args.batch_size * args.context)

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": args.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    try:
        opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95),
                                eps=1e-8, fused=(dev.type == "cuda"))
    except (TypeError, RuntimeError):
        opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95),
                                eps=1e-8)
    use_bf16 = dev.type == "cuda"
    offs = torch.arange(args.context + 1, device=dev)

    best = (float("inf"), -1, None)
    t0 = time.time()
    step = 0
    run_loss = None
    while step < args.max_iters:
        if step % args.eval_interval == 0 or step == args.max_iters - 1:
            dl = evaluate(model, devset, args.context, dev)
            if dl < best[0]:
                best = (dl, step, {k: v.detach().clone()
                                   for k, v in model.state_dict().items()})
            log("step %5d  train %.4f  dev %.4f (ppl %.2f)  lr %.2e  %.1fs"
                % (step, run_loss or float("nan"), dl, math.exp(dl),
                   lr_at(step, args), time.time() - t0))
        if args.time_limit and time.time() - t0 > args.time_limit:
            log("time limit reached at step", step)
            break
        lr = lr_at(step, args)
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.from_numpy(rng.integers(
            0, len(train) - args.context - 1, size=args.batch_size)).to(dev)
        batch = train_t[starts[:, None] + offs]
        x, y = batch[:, :-1], batch[:, 1:]
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16,
                            enabled=use_bf16):
            logits = model(x)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)),
                               y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        li = loss.item() if step % 10 == 0 else None
        if li is not None:
            run_loss = li if run_loss is None else 0.7 * run_loss + 0.3 * li
        step += 1
    dl = evaluate(model, devset, args.context, dev)
    if dl < best[0]:
        best = (dl, step, {k: v.detach().clone()
                           for k, v in model.state_dict().items()})
    train_time = time.time() - t0
    log("trained %d steps in %.1fs; best dev %.4f at step %d"
        % (step, train_time, best[0], best[1]))

    # Export: best checkpoint, 2-D weights rounded to F16, evaluated in fp32.
    model.load_state_dict(best[2])
    round_to_export_precision(model)
    results = {"config": cfg, "params": n_params, "steps": step,
               "best_step": best[1], "train_seconds": round(train_time, 1),
               "args": vars(args), "torch": torch.__version__,
               "device_name": (torch.cuda.get_device_name(0)
                               if dev.type == "cuda" else "cpu")}
    for split, toks in (("train_head", train[:len(held)]), ("dev", devset),
                        ("heldout", held)):
        l = evaluate(model, toks, args.context, dev)
        results[split + "_loss"] = round(l, 4)
        results[split + "_ppl"] = round(math.exp(l), 2)
        log("exported weights: %-10s loss %.4f ppl %.2f" % (split, l,
                                                             math.exp(l)))
    gguf_path = os.path.join(args.out, "austen.gguf")
    write_gguf(model, gguf_path, args.tokenizer, args.name)
    log("wrote", gguf_path, os.path.getsize(gguf_path), "bytes")

    # Golden logits and samples on the CPU in float32.
    model = model.cpu().float().eval()
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=args.tokenizer)
    write_golden(model, prompts, os.path.join(args.out, "austen-golden.bin"),
                 os.path.join(args.out, "austen-golden.json"), "austen.gguf",
                 sp)
    gen = torch.Generator().manual_seed(args.seed)
    lines = []
    for text in ["It is a truth universally acknowledged", "Elizabeth",
                 "The weather was"]:
        ids = [BOS] + sp.encode(text)
        g = generate(model, ids, 60, temperature=0.0)
        lines.append("[greedy] %s|%s" % (text, sp.decode(g)))
    for text in ["", "Elizabeth", "Mr. Knightley"]:
        ids = [BOS] + (sp.encode(text) if text else [])
        for _ in range(2):
            g = generate(model, ids, 100, temperature=0.8, top_k=40, gen=gen)
            lines.append("[T=0.8 top-k 40] %s|%s" % (text, sp.decode(g)))
    with open(os.path.join(args.out, "samples.txt"), "w") as f:
        f.write("\n\n".join(lines) + "\n")
    for l in lines:
        log(l)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(results, f, indent=1)
    log(json.dumps(results))


if __name__ == "__main__":
    main()
