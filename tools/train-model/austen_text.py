"""Extract Jane Austen's six novels from Debian's r-cran-janeaustenr package.

Why this exists: the project trains its own small default model, and the only
sizeable, freely licensed English text available offline on the build machine
is the janeaustenr R package (MIT).  R itself is not installed, so this module
contains a minimal pure-Python reader for R's lazy-load database format
(``Rdata.rdx`` / ``Rdata.rdb``) and for R's XDR serialization format, just
enough to decode character vectors.

Format notes (R Internals, "Serialization Formats" and "Lazy loading"):

* ``Rdata.rdx`` is a gzip'd ``saveRDS`` file.  It deserializes to a named list
  whose element ``variables`` is a named list mapping each object name to an
  integer vector ``c(offset, length)`` into ``Rdata.rdb``; ``compressed`` says
  how blobs are compressed (TRUE/1 = zlib).
* Each blob in ``Rdata.rdb`` at ``[offset, offset+length)`` is a 4-byte
  big-endian uncompressed size followed by a zlib stream holding one R
  serialization.
* A serialization starts with ``X\\n`` (XDR = big-endian), then the ints
  version, writer R version, minimal R version and (version 3 only) the native
  encoding as length + bytes.  Then comes one item.  Each item starts with a
  32-bit ``flags`` word: bits 0-7 SEXP type, bit 8 "is object", bit 9 "has
  attributes", bit 10 "has tag", bits 12-27 "levels" (for CHARSXP: encoding).
  Vectors store ``length`` then elements then (if flagged) an attribute
  pairlist; pairlists store attributes, tag, CAR and CDR (CDR iteratively here).

Only the SEXP types that occur in this package's data are supported; anything
else raises ``ValueError`` rather than guessing.

Usage as a script:  /usr/bin/python3 austen_text.py [--dump DIR]
"""

import argparse
import gzip
import os
import struct
import zlib

JANEAUSTENR_DATA = "/usr/lib/R/site-library/janeaustenr/data"

# Names of the objects in the package, in the package's own order.
NOVELS = ["emma", "mansfieldpark", "northangerabbey", "persuasion",
          "prideprejudice", "sensesensibility"]

# SEXP type codes (R Internals).
NILSXP, SYMSXP, LISTSXP = 0, 1, 2
CHARSXP, LGLSXP, INTSXP, REALSXP = 9, 10, 13, 14
STRSXP, VECSXP = 16, 19
REFSXP, NILVALUE_SXP = 255, 254
NA_INTEGER = -2**31


class RList(list):
    """A decoded R vector/list; R attributes (e.g. ``names``) in ``.attrs``."""
    attrs = None


class _XdrReader:
    """Decoder for one XDR ('X') R serialization stream."""

    def __init__(self, data):
        self.d = data
        self.p = 0
        self.refs = []  # reference table (symbols and environments)

    def _int(self):
        (v,) = struct.unpack_from(">i", self.d, self.p)
        self.p += 4
        return v

    def _length(self):
        n = self._int()
        if n == -1:  # long vector: two more ints, upper and lower 32 bits
            hi, lo = self._int(), self._int()
            n = (hi << 32) | (lo & 0xFFFFFFFF)
        return n

    def read_header(self):
        if self.d[:2] != b"X\n":
            raise ValueError("not an XDR R serialization: %r" % self.d[:2])
        self.p = 2
        version = self._int()
        self._int()  # R version that wrote it
        self._int()  # minimal R version to read it
        if version == 3:
            n = self._int()
            self.p += n  # native encoding name, e.g. "UTF-8"
        elif version != 2:
            raise ValueError("unsupported serialization version %d" % version)

    def _attrs(self):
        """Reads an attribute pairlist and returns it as a dict."""
        item = self.item()
        return dict(item) if isinstance(item, list) else {}

    def item(self):
        flags = self._int()
        t = flags & 0xFF
        has_attr = bool(flags & 0x200)
        has_tag = bool(flags & 0x400)
        if t == NILVALUE_SXP or t == NILSXP:
            return None
        if t == REFSXP:  # index packed in the upper bits, or in the next int
            idx = flags >> 8
            if idx == 0:
                idx = self._int()
            return self.refs[idx - 1]
        if t == CHARSXP:
            n = self._int()
            if n == -1:
                return None  # NA_character_
            s = self.d[self.p:self.p + n]
            self.p += n
            # levels bit 3 = UTF-8, bit 2 = latin1, bit 6 = ASCII.
            enc = "latin-1" if (flags >> 12) & 4 else "utf-8"
            return s.decode(enc)
        if t == SYMSXP:
            name = self.item()  # a CHARSXP
            self.refs.append(name)
            return name
        if t == LISTSXP:
            # A pairlist; returned as a list of (tag, value) pairs.  The CDR
            # chain is followed iteratively; each cell has its own flags.
            out = []
            while True:
                if has_attr:
                    self._attrs()
                tag = self.item() if has_tag else None
                out.append((tag, self.item()))
                flags = self._int()
                t = flags & 0xFF
                if t == NILVALUE_SXP:
                    return out
                if t != LISTSXP:
                    raise ValueError("unsupported pairlist tail type %d" % t)
                has_attr = bool(flags & 0x200)
                has_tag = bool(flags & 0x400)
        if t in (LGLSXP, INTSXP):
            n = self._length()
            v = RList(struct.unpack_from(">%di" % n, self.d, self.p))
            self.p += 4 * n
        elif t == REALSXP:
            n = self._length()
            v = RList(struct.unpack_from(">%dd" % n, self.d, self.p))
            self.p += 8 * n
        elif t in (STRSXP, VECSXP):
            n = self._length()
            v = RList(self.item() for _ in range(n))
        else:
            raise ValueError("unsupported SEXP type %d" % t)
        if has_attr:
            v.attrs = self._attrs()
        return v


def unserialize(data):
    """Decodes one R XDR serialization (bytes) into Python objects."""
    r = _XdrReader(data)
    r.read_header()
    return r.item()


def _named(v):
    """Turns an R named list into a Python dict."""
    return dict(zip(v.attrs["names"], v))


def load_novels(data_dir=JANEAUSTENR_DATA):
    """Returns {novel name: list of text lines} from the lazy-load database."""
    with open(os.path.join(data_dir, "Rdata.rdx"), "rb") as f:
        index = _named(unserialize(gzip.decompress(f.read())))
    if list(index["compressed"]) not in ([True], [1]):
        raise ValueError("only zlib-compressed lazy-load databases supported")
    with open(os.path.join(data_dir, "Rdata.rdb"), "rb") as f:
        rdb = f.read()
    novels = {}
    for name, (offset, length) in _named(index["variables"]).items():
        blob = rdb[offset:offset + length]
        (size,) = struct.unpack(">I", blob[:4])
        raw = zlib.decompress(blob[4:])
        assert len(raw) == size, (name, len(raw), size)
        novels[name] = list(unserialize(raw))
    return novels


def paragraphs(lines):
    """Joins the novel's wrapped lines into paragraphs (blank line = break).

    Whitespace inside a paragraph is normalised to single spaces; the project's
    tokenizer therefore never needs to see newlines or runs of spaces.
    """
    out, cur = [], []
    for line in lines:
        line = (line or "").strip()
        if line:
            cur.append(line)
        elif cur:
            out.append(" ".join(" ".join(cur).split()))
            cur = []
    if cur:
        out.append(" ".join(" ".join(cur).split()))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump", help="write <novel>.txt (one paragraph per line)")
    args = ap.parse_args()
    novels = load_novels()
    for name in NOVELS:
        paras = paragraphs(novels[name])
        chars = sum(len(p) for p in paras)
        print("%-18s %6d lines %5d paragraphs %8d chars"
              % (name, len(novels[name]), len(paras), chars))
        if args.dump:
            os.makedirs(args.dump, exist_ok=True)
            with open(os.path.join(args.dump, name + ".txt"), "w") as f:
                f.write("\n".join(paras) + "\n")


if __name__ == "__main__":
    main()
