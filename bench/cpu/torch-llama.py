#!/usr/bin/env python3
"""PyTorch (FP32, eager, Debian python3-torch) peer of the host throughput
benchmark: the same GGUF Llama with a KV cache, single-threaded like
lowbit's compiled code. Prints decode and prefill tokens/s and the greedy
continuation of a prompt of token ids, so host-throughput.sh can compare
both speed and tokens with the compiled model.

usage: torch-llama.py MODEL.gguf PROMPT_IDS(comma-separated) NEW_TOKENS
           PREFILL_TOKENS WINDOW
"""
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tools", "train-model"))
from gguf_io import read_gguf  # noqa: E402


class Llama:
    """Llama inference with a KV cache: RMSNorm, adjacent-pair RoPE,
    grouped-query attention, SwiGLU (as tools/train-model/train.py)."""

    def __init__(self, path):
        meta, tensors, _ = read_gguf(path)
        self.w = {name: torch.tensor(np.asarray(value, dtype=np.float32))
                  for name, value in tensors.items()}
        self.layers = meta["llama.block_count"]
        self.heads = meta["llama.attention.head_count"]
        self.kv_heads = meta["llama.attention.head_count_kv"]
        self.dim = meta["llama.embedding_length"]
        self.head_dim = self.dim // self.heads
        self.eps = meta["llama.attention.layer_norm_rms_epsilon"]
        context = meta["llama.context_length"]
        theta = meta["llama.rope.freq_base"]
        inv = 1.0 / theta ** (torch.arange(0, self.head_dim, 2,
                                           dtype=torch.float64) / self.head_dim)
        angles = torch.outer(torch.arange(context, dtype=torch.float64), inv)
        self.cos, self.sin = angles.cos().float(), angles.sin().float()
        self.reset()

    def reset(self):
        self.keys = [None] * self.layers
        self.values = [None] * self.layers

    def norm(self, x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * weight

    def rope(self, x, start):
        count = x.shape[0]
        pairs = x.reshape(count, -1, self.head_dim // 2, 2)
        c = self.cos[start:start + count, None, :]
        s = self.sin[start:start + count, None, :]
        x0, x1 = pairs[..., 0], pairs[..., 1]
        return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], -1).reshape(count, -1)

    def forward(self, ids, start):
        """Logits of `ids` at positions start.., appending to the cache."""
        w = self.w
        x = w["token_embd.weight"][ids]
        count = len(ids)
        for layer in range(self.layers):
            p = f"blk.{layer}."
            h = self.norm(x, w[p + "attn_norm.weight"])
            q = self.rope(h @ w[p + "attn_q.weight"].T, start)
            k = self.rope(h @ w[p + "attn_k.weight"].T, start)
            v = h @ w[p + "attn_v.weight"].T
            if start:
                k = torch.cat([self.keys[layer], k])
                v = torch.cat([self.values[layer], v])
            self.keys[layer], self.values[layer] = k, v
            group = self.heads // self.kv_heads
            qh = q.view(count, self.heads, self.head_dim).transpose(0, 1)
            kh = k.view(-1, self.kv_heads, self.head_dim).transpose(0, 1)
            vh = v.view(-1, self.kv_heads, self.head_dim).transpose(0, 1)
            kh = kh.repeat_interleave(group, 0)
            vh = vh.repeat_interleave(group, 0)
            scores = qh @ kh.transpose(1, 2) / self.head_dim ** 0.5
            visible = torch.arange(start + count)[None, :] <= \
                (start + torch.arange(count))[:, None]
            scores = scores.masked_fill(~visible, float("-inf"))
            attended = (scores.softmax(-1) @ vh).transpose(0, 1).reshape(count, -1)
            x = x + attended @ w[p + "attn_output.weight"].T
            h = self.norm(x, w[p + "ffn_norm.weight"])
            x = x + (F.silu(h @ w[p + "ffn_gate.weight"].T) *
                     (h @ w[p + "ffn_up.weight"].T)) @ w[p + "ffn_down.weight"].T
        return self.norm(x, w["output_norm.weight"]) @ w["output.weight"].T


def main():
    path, prompt, new_tokens, prefill_tokens, window = sys.argv[1:6]
    torch.set_num_threads(1)
    model = Llama(path)
    ids = [int(token) for token in prompt.split(",")]
    with torch.inference_mode():
        logits = model.forward(torch.tensor(ids), 0)
        generated = []
        begin = time.perf_counter()
        for position in range(len(ids), len(ids) + int(new_tokens)):
            generated.append(int(logits[-1].argmax()))
            logits = model.forward(torch.tensor(generated[-1:]), position)
        decode = int(new_tokens) / (time.perf_counter() - begin)

        generator = torch.Generator().manual_seed(0)
        total, window = int(prefill_tokens), int(window)
        begin = time.perf_counter()
        for _ in range(total // window):
            model.reset()
            model.forward(torch.randint(0, model.w["output.weight"].shape[0],
                                        (window,), generator=generator), 0)
        prefill = total // window * window / (time.perf_counter() - begin)
    print(f"decode_tokens_per_s {decode:.0f}")
    print(f"prefill_tokens_per_s {prefill:.0f}")
    print("tokens " + " ".join(map(str, generated)))


if __name__ == "__main__":
    main()
