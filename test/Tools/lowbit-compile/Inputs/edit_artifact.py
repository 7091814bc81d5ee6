"""Damages or edits a lowbit model artifact (docs/artifact.md) for tests.

  edit_artifact.py IN OUT truncate BYTES       keep the first BYTES bytes
  edit_artifact.py IN OUT flip SECTION         flip one byte of SECTION
  edit_artifact.py IN OUT version N            set the format version
  edit_artifact.py IN OUT metadata KEY=VALUE   set a metadata entry and
                                               recompute every checksum
"""
import struct
import sys


def fnv1a64(data):
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def sections(data):
    count = struct.unpack_from("<I", data, 12)[0]
    for index in range(count):
        entry = 32 + 40 * index
        name = data[entry:entry + 16].rstrip(b"\0").decode()
        offset, size, _ = struct.unpack_from("<QQQ", data, entry + 16)
        yield name, offset, size


def rebuild(named):
    """The artifact bytes of [(name, contents)], as ArtifactWriter lays them out."""
    align = lambda value: (value + 63) // 64 * 64
    table_end = 32 + 40 * len(named)
    offset = align(table_end)
    layout = []
    for name, contents in named:
        layout.append(offset)
        offset = align(offset + len(contents))
    out = bytearray(offset)
    out[0:8] = b"LOWBITAR"
    struct.pack_into("<IIQ", out, 8, 1, len(named), len(out))
    for index, ((name, contents), at) in enumerate(zip(named, layout)):
        entry = 32 + 40 * index
        out[entry:entry + len(name)] = name.encode()
        struct.pack_into("<QQQ", out, entry + 16, at, len(contents), fnv1a64(contents))
        out[at:at + len(contents)] = contents
    struct.pack_into("<Q", out, 24, fnv1a64(bytes(out[0:24]) + bytes(out[32:table_end])))
    return bytes(out)


def main():
    source, target, action, argument = sys.argv[1:5]
    data = bytearray(open(source, "rb").read())
    if action == "truncate":
        data = data[:int(argument)]
    elif action == "flip":
        for name, offset, size in sections(data):
            if name == argument:
                data[offset + size // 2] ^= 0xFF
    elif action == "version":
        struct.pack_into("<I", data, 8, int(argument))
    elif action == "metadata":
        key, value = argument.split("=", 1)
        named = []
        for name, offset, size in sections(data):
            contents = bytes(data[offset:offset + size])
            if name == "metadata":
                lines = [line for line in contents.decode().splitlines()
                         if not line.startswith(key + "=")]
                contents = ("\n".join(sorted(lines + [argument])) + "\n").encode()
            named.append((name, contents))
        data = rebuild(named)
    open(target, "wb").write(data)


if __name__ == "__main__":
    main()
