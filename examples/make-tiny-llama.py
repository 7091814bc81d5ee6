#!/usr/bin/env python3
"""Writes a small Hugging Face Llama checkpoint with random weights.

A stand-in for "your own checkpoint" in docs/getting-started.md: a
directory with config.json, model.safetensors (f16) and tokenizer.model,
laid out exactly as transformers saves a LlamaForCausalLM. Only numpy and
the standard library are needed.

    python3 examples/make-tiny-llama.py my-llama
"""
import argparse
import json
import pathlib
import shutil
import struct

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=pathlib.Path)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=4)
    parser.add_argument("--intermediate", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    source = pathlib.Path(__file__).resolve().parent.parent / "models"
    tokenizer = source / "austen-tokenizer.model"
    vocabulary = 4096  # the size of that SentencePiece model
    head_dim = args.hidden // args.heads
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": args.hidden,
        "intermediate_size": args.intermediate,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "num_hidden_layers": args.layers,
        "vocab_size": vocabulary,
        "max_position_embeddings": 512,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float16",
    }
    generator = np.random.default_rng(args.seed)

    def matrix(rows, columns):
        return (generator.standard_normal((rows, columns)) /
                np.sqrt(columns)).astype(np.float16)

    tensors = {
        "model.embed_tokens.weight": matrix(vocabulary, args.hidden),
        "model.norm.weight": np.ones(args.hidden, np.float16),
        "lm_head.weight": matrix(vocabulary, args.hidden),
    }
    for layer in range(args.layers):
        prefix = f"model.layers.{layer}."
        tensors.update({
            prefix + "input_layernorm.weight": np.ones(args.hidden, np.float16),
            prefix + "post_attention_layernorm.weight":
                np.ones(args.hidden, np.float16),
            prefix + "self_attn.q_proj.weight": matrix(args.hidden, args.hidden),
            prefix + "self_attn.k_proj.weight":
                matrix(args.kv_heads * head_dim, args.hidden),
            prefix + "self_attn.v_proj.weight":
                matrix(args.kv_heads * head_dim, args.hidden),
            prefix + "self_attn.o_proj.weight": matrix(args.hidden, args.hidden),
            prefix + "mlp.gate_proj.weight":
                matrix(args.intermediate, args.hidden),
            prefix + "mlp.up_proj.weight": matrix(args.intermediate, args.hidden),
            prefix + "mlp.down_proj.weight":
                matrix(args.hidden, args.intermediate),
        })

    # safetensors: an 8-byte little-endian header size, a JSON header of
    # dtypes, shapes and byte ranges, then the raw tensors.
    header, offset = {}, 0
    for name, tensor in tensors.items():
        header[name] = {"dtype": "F16", "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + tensor.nbytes]}
        offset += tensor.nbytes
    header_bytes = json.dumps(header).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)

    args.directory.mkdir(parents=True, exist_ok=True)
    with open(args.directory / "model.safetensors", "wb") as file:
        file.write(struct.pack("<Q", len(header_bytes)))
        file.write(header_bytes)
        for tensor in tensors.values():
            file.write(tensor.tobytes())
    (args.directory / "config.json").write_text(json.dumps(config, indent=2))
    shutil.copy(tokenizer, args.directory / "tokenizer.model")
    parameters = sum(tensor.size for tensor in tensors.values())
    print(f"wrote {args.directory}: {parameters} parameters, "
          f"{args.layers} layers, {args.hidden} wide")


if __name__ == "__main__":
    main()
