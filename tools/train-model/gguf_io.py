"""Minimal GGUF v3 writer and reader (numpy only).

Why this exists: the project ships its default model as a llama.cpp-compatible
GGUF file, and the `gguf` pip package is not available on the build machines.
This module implements just the parts of the format the project uses:

* file = header, metadata key/values, tensor infos, padding to
  ``general.alignment`` (32), tensor data (each tensor's offset aligned to 32,
  relative to the start of the data section);
* header = magic ``b"GGUF"``, u32 version (3), u64 tensor count, u64 metadata
  count; all integers little-endian; strings are u64 length + UTF-8 bytes
  (no terminator);
* a tensor info = name, u32 n_dims, u64 ne[n_dims] (fastest-varying dimension
  first, i.e. ne[0] is the number of columns of a row-major [rows, cols]
  array), u32 ggml type, u64 offset;
* ggml types written/read here: F32 (0) and F16 (1) from numpy arrays;
  any type from its encoded bytes (``add_raw_tensor``, written only).

The reader is deliberately independent of the writer's internal state (it
parses bytes), so `check_gguf.py` can use it to validate a written file.
"""

import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
ALIGNMENT = 32

# Metadata value types.
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32 = 0, 1, 2, 3, 4, 5
T_FLOAT32, T_BOOL, T_STRING, T_ARRAY = 6, 7, 8, 9
T_UINT64, T_INT64, T_FLOAT64 = 10, 11, 12

_SCALAR_FMT = {T_UINT8: "<B", T_INT8: "<b", T_UINT16: "<H", T_INT16: "<h",
               T_UINT32: "<I", T_INT32: "<i", T_FLOAT32: "<f", T_BOOL: "<?",
               T_UINT64: "<Q", T_INT64: "<q", T_FLOAT64: "<d"}

# ggml tensor types.
GGML_F32, GGML_F16 = 0, 1
_GGML_DTYPE = {GGML_F32: np.float32, GGML_F16: np.float16}


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _pad(n, align=ALIGNMENT):
    return (align - n % align) % align


class GGUFWriter:
    """Collects metadata and tensors, then writes one GGUF v3 file.

    Metadata values are given with an explicit GGUF type because llama.cpp
    checks types strictly (e.g. ``llama.block_count`` must be UINT32).
    Arrays: ``add_array(key, elem_type, values)``.
    """

    def __init__(self):
        self.kv = []       # (key, encoded bytes)
        self.tensors = []  # (name, numpy array, ggml type)

    def add(self, key, vtype, value):
        if vtype == T_STRING:
            enc = _str(value)
        else:
            enc = struct.pack(_SCALAR_FMT[vtype], value)
        self.kv.append((key, struct.pack("<I", vtype) + enc))

    def add_array(self, key, etype, values):
        out = [struct.pack("<IIQ", T_ARRAY, etype, len(values))]
        if etype == T_STRING:
            out.extend(_str(v) for v in values)
        else:
            out.append(np.asarray(values, dtype=np.dtype(
                _SCALAR_FMT[etype]).newbyteorder("<")).tobytes())
        self.kv.append((key, b"".join(out)))

    def add_tensor(self, name, array, ggml_type):
        """``array`` is row-major with PyTorch's shape (e.g. [out, in])."""
        dtype = _GGML_DTYPE[ggml_type]
        self.tensors.append((name, np.ascontiguousarray(array, dtype=dtype),
                             ggml_type))

    def add_raw_tensor(self, name, shape, ggml_type, data):
        """A tensor of any ggml type given as its encoded bytes; ``shape`` is
        PyTorch's (outermost first)."""
        raw = np.frombuffer(bytes(data), dtype=np.uint8)
        self.tensors.append((name, raw, ggml_type, tuple(shape)))

    def add_generated_tensor(self, name, shape, ggml_type, make):
        """A tensor whose data ``make()`` returns (a numpy array of ``shape``)
        only while the file is written, so files larger than memory can be
        written one tensor at a time."""
        self.tensors.append((name, _Generated(shape, ggml_type, make),
                             ggml_type, tuple(shape)))

    def write(self, path):
        head = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION,
                                        len(self.tensors), len(self.kv))]
        for key, enc in self.kv:
            head.append(_str(key) + enc)
        offset = 0
        offsets = []
        for name, arr, gtype, *raw_shape in self.tensors:
            shape = raw_shape[0] if raw_shape else arr.shape
            ne = list(reversed(shape))  # fastest-varying first
            head.append(_str(name) + struct.pack("<I", len(ne)) +
                        struct.pack("<%dQ" % len(ne), *ne) +
                        struct.pack("<IQ", gtype, offset))
            offsets.append(offset)
            offset += arr.nbytes + _pad(arr.nbytes)
        head = b"".join(head)
        with open(path, "wb") as f:
            f.write(head)
            f.write(b"\0" * _pad(len(head)))
            for (name, arr, gtype, *_), off in zip(self.tensors, offsets):
                if isinstance(arr, _Generated):
                    arr = arr.materialize()
                f.write(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
                f.write(b"\0" * _pad(arr.nbytes))


class _Generated:
    """A tensor made on demand: its size is known before its data."""

    def __init__(self, shape, ggml_type, make):
        self.shape, self.make = tuple(shape), make
        self.dtype = np.dtype(_GGML_DTYPE[ggml_type])
        self.nbytes = int(np.prod(self.shape)) * self.dtype.itemsize

    def materialize(self):
        arr = np.ascontiguousarray(self.make(), dtype=self.dtype)
        if arr.shape != self.shape:
            raise ValueError("generated tensor has shape %s, not %s"
                             % (arr.shape, self.shape))
        return arr


class _Cursor:
    def __init__(self, data):
        self.d, self.p = data, 0

    def unpack(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.p)
        self.p += struct.calcsize(fmt)
        return v if len(v) > 1 else v[0]

    def string(self):
        n = self.unpack("<Q")
        s = bytes(self.d[self.p:self.p + n]).decode("utf-8")
        self.p += n
        return s

    def value(self, vtype):
        if vtype == T_STRING:
            return self.string()
        if vtype == T_ARRAY:
            etype, n = self.unpack("<I"), self.unpack("<Q")
            return [self.value(etype) for _ in range(n)]
        return self.unpack(_SCALAR_FMT[vtype])


def add_llama_hyperparameters(w, name, context_length, dim, n_layers,
                              hidden_dim, n_heads, n_kv_heads, rope_theta,
                              norm_eps, vocab_size):
    """The general.* and llama.* keys of an F16 Llama checkpoint."""
    w.add("general.architecture", T_STRING, "llama")
    w.add("general.name", T_STRING, name)
    w.add("general.alignment", T_UINT32, ALIGNMENT)
    w.add("general.file_type", T_UINT32, 1)  # LLAMA_FTYPE_MOSTLY_F16
    w.add("llama.context_length", T_UINT32, context_length)
    w.add("llama.embedding_length", T_UINT32, dim)
    w.add("llama.block_count", T_UINT32, n_layers)
    w.add("llama.feed_forward_length", T_UINT32, hidden_dim)
    w.add("llama.attention.head_count", T_UINT32, n_heads)
    w.add("llama.attention.head_count_kv", T_UINT32, n_kv_heads)
    w.add("llama.rope.dimension_count", T_UINT32, dim // n_heads)
    w.add("llama.rope.freq_base", T_FLOAT32, rope_theta)
    w.add("llama.attention.layer_norm_rms_epsilon", T_FLOAT32, norm_eps)
    w.add("llama.vocab_size", T_UINT32, vocab_size)


def read_gguf(path):
    """Parses a GGUF file.

    Returns (metadata dict, tensors dict name -> numpy array in PyTorch/row-
    major shape, i.e. reversed ne, in the stored dtype), plus a list of
    (name, ne, type, offset) tensor infos for layout checks.
    """
    with open(path, "rb") as f:
        data = f.read()
    c = _Cursor(data)
    if c.d[:4] != GGUF_MAGIC:
        raise ValueError("not a GGUF file")
    c.p = 4
    version, n_tensors, n_kv = c.unpack("<IQQ")
    if version != GGUF_VERSION:
        raise ValueError("unsupported GGUF version %d" % version)
    meta = {}
    for _ in range(n_kv):
        key = c.string()
        meta[key] = c.value(c.unpack("<I"))
    align = meta.get("general.alignment", ALIGNMENT)
    infos = []
    for _ in range(n_tensors):
        name = c.string()
        nd = c.unpack("<I")
        ne = [c.unpack("<Q") for _ in range(nd)]
        gtype, off = c.unpack("<IQ")
        infos.append((name, ne, gtype, off))
    base = c.p + _pad(c.p, align)
    tensors = {}
    for name, ne, gtype, off in infos:
        if off % align:
            raise ValueError("misaligned tensor %s" % name)
        dtype = np.dtype(_GGML_DTYPE[gtype]).newbyteorder("<")
        count = int(np.prod(ne))
        arr = np.frombuffer(data, dtype=dtype, count=count, offset=base + off)
        tensors[name] = arr.reshape(list(reversed(ne)))
    return meta, tensors, infos
