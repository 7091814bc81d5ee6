"""Writes tiny Llama GGUF checkpoints, sound and broken, for the frontend tests.

The sound model (dim 8, one layer, 2 heads sharing 1 KV head, vocabulary of 8
pieces) runs in milliseconds. Each broken file damages it in one way that a
checkpoint reader must report: truncation, wrong magic, a wrong shape, a
missing tensor, an unsupported element type, an unsupported architecture;
then the same for its Hugging Face and llama2.c exports.
Q8_0 and Q4_0 copies store weights whose dequantized values are exactly the
F32 copy's, so all three must give identical results.

Usage: make_checkpoints.py OUTPUT_DIR
"""

import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                "tools", "train-model"))
import gguf_io as G  # noqa: E402
import export_formats  # noqa: E402

DIM, LAYERS, HEADS, KV_HEADS, HIDDEN, CONTEXT = 8, 1, 2, 1, 32, 16
PIECES = ["<unk>", "<s>", "</s>", "\u2581", "a", "b", "\u2581a", "ab"]
KINDS = [2, 3, 3, 1, 1, 1, 1, 1]
GGML_Q4_0, GGML_Q8_0, GGML_Q4_K = 2, 8, 12


def q8_0(values):
    """Q8_0 blocks of 32: f16 scale, 32 int8; values must be exact multiples."""
    out = bytearray()
    for block in values.reshape(-1, 32):
        scale = np.float16(np.abs(block).max() / 127)
        out += scale.tobytes()
        out += np.round(block / np.float32(scale)).astype(np.int8).tobytes()
    return bytes(out)


def q4_0(values):
    """Q4_0 blocks of 32: f16 scale, 16 bytes of nibbles (low: 0..15)."""
    out = bytearray()
    for block in values.reshape(-1, 32):
        scale = np.float16(np.abs(block).max() / 8)
        codes = (np.round(block / np.float32(scale)) + 8).astype(np.uint8)
        out += scale.tobytes()
        out += bytes(codes[:16] | (codes[16:] << 4))
    return bytes(out)


def quantizable(shape, rng, levels):
    """Weights that Q8_0 (levels=127) or Q4_0 (levels=8) store exactly."""
    codes = rng.integers(-levels + 1, levels, size=shape).astype(np.float32)
    codes.reshape(-1, 32)[:, 0] = levels - 1 if levels == 127 else -8
    return codes * np.float32(0.01)


def tensors(rng, levels):
    kv = DIM // HEADS * KV_HEADS
    shapes = {"token_embd.weight": (len(PIECES), DIM)}
    for layer in range(LAYERS):
        p = f"blk.{layer}."
        shapes.update({p + "attn_norm.weight": (DIM,),
                       p + "attn_q.weight": (DIM, DIM),
                       p + "attn_k.weight": (kv, DIM),
                       p + "attn_v.weight": (kv, DIM),
                       p + "attn_output.weight": (DIM, DIM),
                       p + "ffn_norm.weight": (DIM,),
                       p + "ffn_gate.weight": (HIDDEN, DIM),
                       p + "ffn_up.weight": (HIDDEN, DIM),
                       p + "ffn_down.weight": (DIM, HIDDEN)})
    shapes["output_norm.weight"] = (DIM,)
    shapes["output.weight"] = (len(PIECES), DIM)
    result = {}
    for name, shape in shapes.items():
        if len(shape) == 1:
            result[name] = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        else:
            result[name] = quantizable(shape, rng, levels)
    return result


def write(path, weights, architecture="llama", types=None, skip=(), shapes=None):
    w = G.GGUFWriter()
    w.add("general.architecture", G.T_STRING, architecture)
    for key, value in [("context_length", CONTEXT), ("embedding_length", DIM),
                       ("block_count", LAYERS), ("feed_forward_length", HIDDEN),
                       ("attention.head_count", HEADS),
                       ("attention.head_count_kv", KV_HEADS)]:
        w.add(f"{architecture}.{key}", G.T_UINT32, value)
    w.add(f"{architecture}.attention.layer_norm_rms_epsilon", G.T_FLOAT32, 1e-5)
    w.add("tokenizer.ggml.model", G.T_STRING, "llama")
    w.add_array("tokenizer.ggml.tokens", G.T_STRING, PIECES)
    w.add_array("tokenizer.ggml.scores", G.T_FLOAT32, [0.0] * 3 + [-1.0, -2.0, -3.0, 0.5, 0.4])
    w.add_array("tokenizer.ggml.token_type", G.T_INT32, KINDS)
    for name, array in weights.items():
        if name in skip:
            continue
        if shapes and name in shapes:
            array = np.zeros(shapes[name], dtype=np.float32)
        kind = (types or {}).get(name)
        if kind == GGML_Q8_0:
            w.add_raw_tensor(name, array.shape, GGML_Q8_0, q8_0(array))
        elif kind == GGML_Q4_0:
            w.add_raw_tensor(name, array.shape, GGML_Q4_0, q4_0(array))
        elif kind == GGML_Q4_K:
            w.add_raw_tensor(name, array.shape, GGML_Q4_K, b"\0" * (array.size // 256 * 144 + 144))
        else:
            w.add_tensor(name, array, G.GGML_F32)
    w.write(path)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    matrices = lambda weights: {n for n, a in weights.items() if a.ndim == 2}

    exact8 = tensors(np.random.default_rng(7), 127)
    write(os.path.join(out, "tiny.gguf"), exact8)
    write(os.path.join(out, "tiny-q8_0.gguf"), exact8,
          types={n: GGML_Q8_0 for n in matrices(exact8)})
    exact4 = tensors(np.random.default_rng(7), 8)
    write(os.path.join(out, "tiny-for-q4.gguf"), exact4)
    write(os.path.join(out, "tiny-q4_0.gguf"), exact4,
          types={n: GGML_Q4_0 for n in matrices(exact4)})

    data = open(os.path.join(out, "tiny.gguf"), "rb").read()
    open(os.path.join(out, "truncated-data.gguf"), "wb").write(data[: len(data) * 7 // 10])
    open(os.path.join(out, "truncated-header.gguf"), "wb").write(data[:40])
    open(os.path.join(out, "wrong-magic.gguf"), "wb").write(b"GGUX" + data[4:])
    open(os.path.join(out, "wrong-version.gguf"), "wb").write(data[:4] + struct.pack("<I", 7) + data[8:])
    write(os.path.join(out, "wrong-shape.gguf"), exact8, shapes={"blk.0.attn_q.weight": (8, 6)})
    write(os.path.join(out, "missing-tensor.gguf"), exact8, skip={"blk.0.ffn_up.weight"})
    write(os.path.join(out, "q4_k.gguf"), exact8, types={"blk.0.ffn_down.weight": GGML_Q4_K})
    write(os.path.join(out, "gpt2.gguf"), exact8, architecture="gpt2")

    meta, weights, _ = G.read_gguf(os.path.join(out, "tiny.gguf"))
    damage_exports(meta, weights, out)


def damage_exports(meta, weights, out):
    """Sound Hugging Face and llama2.c copies of the tiny model, and copies
    broken once each."""
    def export(name, kind):
        path = os.path.join(out, name)
        if kind == "hf":
            export_formats.export_hf(meta, weights, "", path, 1)
        else:
            export_formats.export_llama2c(meta, weights, path)
        return path

    export("hf-sound", "hf")
    export("llama2c-sound", "llama2c")

    safetensors = os.path.join(export("hf-truncated", "hf"), "model.safetensors")
    data = open(safetensors, "rb").read()
    open(safetensors, "wb").write(data[: len(data) - 100])

    safetensors = os.path.join(export("hf-int8", "hf"), "model.safetensors")
    data = open(safetensors, "rb").read()
    length = struct.unpack("<Q", data[:8])[0]
    header = data[8:8 + length].replace(b'"F32"', b'"I8" ', 1)
    open(safetensors, "wb").write(data[:8] + header + data[8 + length:])

    os.remove(os.path.join(export("hf-no-config", "hf"), "config.json"))

    model = os.path.join(export("llama2c-truncated", "llama2c"), "model.bin")
    data = open(model, "rb").read()
    open(model, "wb").write(data[: len(data) // 2])

    model = os.path.join(export("llama2c-extra-bytes", "llama2c"), "model.bin")
    open(model, "ab").write(b"\0" * 12)

    os.remove(os.path.join(export("llama2c-no-tokenizer", "llama2c"), "tokenizer.bin"))


if __name__ == "__main__":
    main()
