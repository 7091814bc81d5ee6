"""Train the SentencePiece tokenizer and pre-tokenize the Austen corpus.

Why this exists: the default model's tokenizer must be reproducible and must be
exactly the Llama flavour of SentencePiece (BPE, byte fallback, unk=0, bos=1,
eos=2, dummy prefix, identity normalisation) so that the C++ tokenizer reading
the GGUF can be tested token-for-token against libsentencepiece.  Tokenizing
here (on the CPU, with Debian's sentencepiece) also means the GPU machine only
needs the small uint16 token files.

Data split: "persuasion" is the held-out novel (never trained on).  The other
five novels are training text, except that the last DEV_FRACTION of each
novel's paragraphs forms a small "dev" set used only to pick the checkpoint /
configuration, so that the held-out perplexity is not tuned on.

Token stream layout (train.bin, dev.bin, heldout.bin; little-endian uint16):
every paragraph is encoded as  BOS, sp.encode(paragraph), EOS  and the
paragraphs of each novel are concatenated in order, novels in NOVELS order.

Usage:  /usr/bin/python3 tools/train-model/prepare.py
writes  models/austen-tokenizer.model  and  tools/train-model/work/{train,dev,
heldout}.bin, meta.json, prompts.json  (work/ is git-ignored; it is passed to
the GPU machine with `carry`).
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import sentencepiece as spm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import austen_text  # noqa: E402

HELDOUT = "persuasion"
DEV_FRACTION = 0.05
VOCAB_SIZE = 4096

# Fixed prompts for the golden logits (tokenized here, BOS prepended).
GOLDEN_PROMPTS = [
    "It is a truth universally acknowledged",
    "Elizabeth",
    "The weather was",
    "Mr. Darcy had walked away to another part of the room, and she was left "
    "to consider how little she knew of the gentleman who had so lately been "
    "the object of her contempt.",
]

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def train_tokenizer(paragraphs, prefix):
    """Trains the Llama-style BPE SentencePiece model on the given lines."""
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(paragraphs),
        model_prefix=prefix,
        model_type="bpe",
        vocab_size=VOCAB_SIZE,
        character_coverage=0.99995,
        byte_fallback=True,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        max_sentence_length=1 << 16,
        num_threads=1,  # deterministic merge order
        minloglevel=2,
    )


def encode_stream(sp, paras):
    out = []
    for p, ids in zip(paras, sp.encode(paras)):
        out.append(sp.bos_id())
        out.extend(ids)
        out.append(sp.eos_id())
    return np.asarray(out, dtype=np.uint16)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "work"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models",
                                                    "austen-tokenizer.model"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    novels = austen_text.load_novels()
    train, dev, held = [], [], []
    for name in austen_text.NOVELS:
        paras = austen_text.paragraphs(novels[name])
        if name == HELDOUT:
            held += paras
        else:
            cut = int(round(len(paras) * (1 - DEV_FRACTION)))
            train += paras[:cut]
            dev += paras[cut:]

    prefix = os.path.join(args.out, "austen-tokenizer")
    train_tokenizer(train, prefix)
    os.makedirs(os.path.dirname(args.model), exist_ok=True)
    os.replace(prefix + ".model", args.model)
    os.remove(prefix + ".vocab")
    sp = spm.SentencePieceProcessor(model_file=args.model)
    assert (sp.unk_id(), sp.bos_id(), sp.eos_id()) == (0, 1, 2)
    assert sp.get_piece_size() == VOCAB_SIZE

    meta = {"vocab_size": VOCAB_SIZE, "heldout_novel": HELDOUT,
            "dev_fraction": DEV_FRACTION,
            "sentencepiece_version": spm.__version__,
            "tokenizer_md5": hashlib.md5(open(args.model, "rb").read()
                                         ).hexdigest()}
    for split, paras in (("train", train), ("dev", dev), ("heldout", held)):
        toks = encode_stream(sp, paras)
        toks.astype("<u2").tofile(os.path.join(args.out, split + ".bin"))
        meta[split] = {"paragraphs": len(paras), "tokens": int(toks.size),
                       "chars": sum(len(p) for p in paras)}
        print("%-8s %5d paragraphs %8d chars %8d tokens"
              % (split, len(paras), meta[split]["chars"], toks.size))
    prompts = [{"text": t, "ids": [sp.bos_id()] + sp.encode(t)}
               for t in GOLDEN_PROMPTS]
    for p in prompts:
        print(len(p["ids"]), p["ids"][:12], sp.id_to_piece(p["ids"][:12]))
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    with open(os.path.join(args.out, "prompts.json"), "w") as f:
        json.dump(prompts, f, indent=1)


if __name__ == "__main__":
    main()
