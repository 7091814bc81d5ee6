#!/usr/bin/env python3
"""PyTorch fp16 peer of lowbit-bench-model: a random-init Hugging Face
LlamaForCausalLM of Llama-2-7B's shape on the GPU, timed the way
lowbit-bench-model times a compiled model (wall clock around each call,
synchronised, median of `repeats` after a warm-up):

- prefill of P tokens at batch 1, all P x vocabulary logits copied to the
  host as float32 (what lowbit's runtime API returns);
- greedy decode steps after a 16-token prompt at batch 1 and at batch B,
  each step's last-position logits to the host, with the model's KV cache
  (transformers' DynamicCache, eager attention).

usage: torch_llama_peer.py [prefill-tokens,...] [decode-steps] [repeats]
                           [decode-batches,...]
"""
import statistics
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def llama2_7b():
    return LlamaConfig(hidden_size=4096, intermediate_size=11008,
                       num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=32, vocab_size=32000,
                       max_position_embeddings=4096, rms_norm_eps=1e-5)


def prompt(batch, count, vocabulary):
    generator = torch.Generator().manual_seed(0)
    return torch.randint(3, vocabulary, (batch, count),
                         generator=generator).cuda()


def timed(call):
    torch.cuda.synchronize()
    begin = time.perf_counter()
    call()
    torch.cuda.synchronize()
    return time.perf_counter() - begin


def main():
    prefill_counts = [int(t) for t in (sys.argv[1] if len(sys.argv) > 1
                                       else "16,128,2048").split(",")]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    batches = [int(b) for b in (sys.argv[4] if len(sys.argv) > 4
                                else "1,32").split(",")]
    torch.manual_seed(0)
    config = llama2_7b()
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).half().eval()
    vocabulary = config.vocab_size
    print("peer: PyTorch %s, transformers LlamaForCausalLM fp16, %s"
          % (torch.__version__, torch.cuda.get_device_name()))
    print("\n| phase | tokens | ms (median of %d) | tokens/s |" % repeats)
    print("| --- | --- | --- | --- |")
    with torch.inference_mode():
        for count in prefill_counts:
            ids = prompt(1, count, vocabulary)

            def prefill():
                model(ids, use_cache=True).logits.float().cpu()
            prefill()
            seconds = statistics.median(timed(prefill) for _ in range(repeats))
            print("| prefill | %d | %.2f | %.0f |"
                  % (count, seconds * 1e3, count / seconds))
        for batch in batches:
            ids = prompt(batch, 16, vocabulary)

            def decode(n):
                out = model(ids, use_cache=True)
                cache = out.past_key_values
                next_ids = out.logits[:, -1].argmax(-1, keepdim=True)
                torch.cuda.synchronize()
                begin = time.perf_counter()
                for _ in range(n):
                    out = model(next_ids, past_key_values=cache, use_cache=True)
                    logits = out.logits[:, -1].float().cpu()
                    next_ids = logits.argmax(-1, keepdim=True).cuda()
                return (time.perf_counter() - begin) / n
            decode(8)
            seconds = statistics.median(decode(steps) for _ in range(repeats))
            print("| decode, batch %d, after 16 prompt tokens | %d steps | "
                  "%.3f per step | %.0f |"
                  % (batch, steps, seconds * 1e3, batch / seconds))


if __name__ == "__main__":
    main()
