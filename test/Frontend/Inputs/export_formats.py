"""Re-exports a GGUF Llama checkpoint as a Hugging Face directory and as a
llama2.c checkpoint, so tests can check that all three readers give the same
model.

- hf/: config.json, model.safetensors (or two shards and an index with
  --shards 2) with the GGUF's F16/F32 tensors under Hugging Face names, the
  q/k rows permuted to Hugging Face's rotary layout, and tokenizer.model
  (when one is given; "" gives none);
- llama2c/: model.bin (float32, run.c's layout, unshared classifier) and
  tokenizer.bin in llama2.c's format.

With --llama3-rope FACTOR,LOW,HIGH,ORIGINAL_CONTEXT the Hugging Face
config.json gets a Llama-3 `rope_scaling` section instead, and llama3.gguf
is written beside: the GGUF with the same scaling as llama.cpp stores it, a
`rope_freqs.weight` tensor of per-frequency factors (llama2.c has no RoPE
scaling, so no llama2c/ copy is written then).

Usage: export_formats.py MODEL.gguf TOKENIZER.model OUTPUT_DIR [--shards N]
                         [--llama3-rope F,L,H,C]
"""

import argparse
import json
import math
import os
import shutil
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                "tools", "train-model"))
import gguf_io as G  # noqa: E402

HF_NAMES = {"attn_norm.weight": "input_layernorm.weight",
            "attn_q.weight": "self_attn.q_proj.weight",
            "attn_k.weight": "self_attn.k_proj.weight",
            "attn_v.weight": "self_attn.v_proj.weight",
            "attn_output.weight": "self_attn.o_proj.weight",
            "ffn_norm.weight": "post_attention_layernorm.weight",
            "ffn_gate.weight": "mlp.gate_proj.weight",
            "ffn_up.weight": "mlp.up_proj.weight",
            "ffn_down.weight": "mlp.down_proj.weight"}


def to_hf_rotary(weight, heads):
    """Adjacent pairs (GGUF/Meta) to Hugging Face's halves, per head."""
    rows, cols = weight.shape
    return (weight.reshape(heads, rows // heads // 2, 2, cols)
            .swapaxes(1, 2).reshape(rows, cols))


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        blob = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        dtype = {np.float16: "F16", np.float32: "F32"}[array.dtype.type]
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    encoded = json.dumps(header).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


def llama3_factors(theta, head_dim, factor, low, high, original_context):
    """llama.cpp's rope_freqs for Llama 3.1 scaling: the divisor of each
    pair's frequency."""
    factors = []
    for i in range(0, head_dim, 2):
        wavelength = 2 * math.pi * theta ** (i / head_dim)
        if wavelength < original_context / high:
            factors.append(1.0)
        elif wavelength > original_context / low:
            factors.append(factor)
        else:
            smooth = (original_context / wavelength - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def write_gguf(path, meta, tensors):
    """Writes metadata and tensors back as GGUF, inferring value types."""
    w = G.GGUFWriter()
    for key, value in meta.items():
        if isinstance(value, list):
            etype = {str: G.T_STRING, float: G.T_FLOAT32, int: G.T_INT32}[type(value[0])]
            w.add_array(key, etype, value)
        else:
            vtype = {bool: G.T_BOOL, int: G.T_UINT32, float: G.T_FLOAT32,
                     str: G.T_STRING}[type(value)]
            w.add(key, vtype, value)
    for name, array in tensors.items():
        w.add_tensor(name, array, G.GGML_F16 if array.dtype == np.float16 else G.GGML_F32)
    w.write(path)


def export_hf(meta, tensors, tokenizer, out, shards, rope_scaling=None):
    heads = meta["llama.attention.head_count"]
    kv_heads = meta["llama.attention.head_count_kv"]
    hf = {"model.embed_tokens.weight": tensors["token_embd.weight"],
          "model.norm.weight": tensors["output_norm.weight"],
          "lm_head.weight": tensors["output.weight"]}
    for layer in range(meta["llama.block_count"]):
        for gguf, name in HF_NAMES.items():
            weight = tensors[f"blk.{layer}.{gguf}"]
            if gguf == "attn_q.weight":
                weight = to_hf_rotary(weight, heads)
            elif gguf == "attn_k.weight":
                weight = to_hf_rotary(weight, kv_heads)
            hf[f"model.layers.{layer}.{name}"] = weight
    os.makedirs(out, exist_ok=True)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
              "hidden_size": meta["llama.embedding_length"],
              "intermediate_size": meta["llama.feed_forward_length"],
              "num_attention_heads": heads, "num_key_value_heads": kv_heads,
              "num_hidden_layers": meta["llama.block_count"],
              "max_position_embeddings": meta["llama.context_length"],
              "rms_norm_eps": meta["llama.attention.layer_norm_rms_epsilon"],
              "rope_theta": meta.get("llama.rope.freq_base", 10000.0),
              "vocab_size": len(meta["tokenizer.ggml.tokens"]),
              "tie_word_embeddings": False, "torch_dtype": "float16"}
    if rope_scaling:
        factor, low, high, original = rope_scaling
        config["rope_scaling"] = {"rope_type": "llama3", "factor": factor,
                                  "low_freq_factor": low,
                                  "high_freq_factor": high,
                                  "original_max_position_embeddings": int(original)}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    names = list(hf)
    if shards == 1:
        write_safetensors(os.path.join(out, "model.safetensors"), hf)
    else:
        weight_map = {}
        for shard in range(shards):
            file = f"model-{shard + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: hf[n] for n in names[shard::shards]}
            write_safetensors(os.path.join(out, file), part)
            weight_map.update({n: file for n in part})
        with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f)
    if tokenizer:
        shutil.copy(tokenizer, os.path.join(out, "tokenizer.model"))


def export_llama2c(meta, tensors, out):
    dim = meta["llama.embedding_length"]
    layers = meta["llama.block_count"]
    heads = meta["llama.attention.head_count"]
    context = meta["llama.context_length"]
    pieces = meta["tokenizer.ggml.tokens"]
    header = struct.pack("<7i", dim, meta["llama.feed_forward_length"], layers,
                         heads, meta["llama.attention.head_count_kv"],
                         -len(pieces), context)
    order = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
             "ffn_norm", "ffn_gate", "ffn_down", "ffn_up"]
    parts = [tensors["token_embd.weight"]]
    parts += [tensors[f"blk.{l}.{w}.weight"] for w in order for l in range(layers)]
    parts.append(tensors["output_norm.weight"])
    parts.append(np.zeros((context, dim // heads)))  # run.c skips freq_cis
    parts.append(tensors["output.weight"])
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "model.bin"), "wb") as f:
        f.write(header)
        for part in parts:
            f.write(np.asarray(part, dtype="<f4").tobytes())
    scores = meta["tokenizer.ggml.scores"]
    encoded = []
    for i, piece in enumerate(pieces):
        text = {1: "\n<s>\n", 2: "\n</s>\n"}.get(i, piece).replace("\u2581", " ")
        encoded.append((scores[i], text.encode()))
    with open(os.path.join(out, "tokenizer.bin"), "wb") as f:
        f.write(struct.pack("<i", max(len(b) for _, b in encoded)))
        for score, data in encoded:
            f.write(struct.pack("<fi", score, len(data)) + data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("gguf")
    parser.add_argument("tokenizer")
    parser.add_argument("out")
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--llama3-rope")
    args = parser.parse_args()
    meta, tensors, _ = G.read_gguf(args.gguf)
    if not args.llama3_rope:
        export_hf(meta, tensors, args.tokenizer, os.path.join(args.out, "hf"), args.shards)
        export_llama2c(meta, tensors, os.path.join(args.out, "llama2c"))
        return
    scaling = [float(v) for v in args.llama3_rope.split(",")]
    export_hf(meta, tensors, args.tokenizer, os.path.join(args.out, "hf"),
              args.shards, scaling)
    head_dim = meta["llama.embedding_length"] // meta["llama.attention.head_count"]
    theta = meta.get("llama.rope.freq_base", 10000.0)
    scaled = dict(tensors)
    scaled["rope_freqs.weight"] = llama3_factors(theta, head_dim, *scaling)
    write_gguf(os.path.join(args.out, "llama3.gguf"), meta, scaled)


if __name__ == "__main__":
    main()
