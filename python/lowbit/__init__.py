"""lowbit: compile Llama checkpoints to 4-bit schemes and run them.

    import lowbit
    model = lowbit.compile("models/austen.gguf", scheme="w4a8{block-size=32}")
    print(model.generate("It is a truth universally acknowledged", max_tokens=16))
    print(model.perplexity(open("models/persuasion.txt").read()[:20000]))
    logits = model.logits(model.tokenize("Emma"))      # numpy, [tokens, vocabulary]

Everything runs through lowbit's C API (lowbit-c/Compiler.h): models execute
on the reference executor with the quantized IR's exact integer arithmetic,
and `target=` generates the GPU kernels' PTX.
"""

import json

import numpy as np

from ._lowbit import _Model

__all__ = ["Model", "compile"]


def _pipeline(tensor_parallel, scheme, calibration, compress_collectives):
    """The pass pipeline lowbit-run would run for these options."""
    stages = []
    if tensor_parallel > 1:
        stages.append(f"lowbit-tensor-parallel{{tp={tensor_parallel}}}")
    if scheme:
        name, _, options = scheme.partition("{")
        options = options.rstrip("}")
        if calibration:
            options += f" calibration={calibration}"
        options = options.strip()
        stages.append(f"lowbit-{name}" + (f"{{{options}}}" if options else ""))
    elif calibration:
        raise ValueError("calibration= needs a scheme=")
    if compress_collectives is not None:
        if tensor_parallel < 2:
            raise ValueError("compress_collectives= needs tensor_parallel >= 2")
        stages.append(f"lowbit-compress-collectives{{{compress_collectives}}}")
    return ",".join(stages)


def compile(checkpoint, scheme=None, target=None, tensor_parallel=1,
            calibration=None, compress_collectives=None):
    """Imports `checkpoint` (GGUF, safetensors, llama2.c) and compiles it.

    scheme: a quantization scheme with options, as `lowbit-run --scheme`
    takes it ("w4a8", "w4ax-kv4{block-size=32}", ...); calibration: its
    statistics file; tensor_parallel: ranks to shard for;
    compress_collectives: options of lowbit-compress-collectives (a string,
    "" for the defaults); target: "sm_80", "sm_89" or "sm_90" to generate
    the GPU kernels (Model.ptx). Raises RuntimeError with lowbit's message
    when a step fails.
    """
    model = Model(checkpoint)
    pipeline = _pipeline(tensor_parallel, scheme, calibration,
                         compress_collectives)
    if pipeline:
        model._model.run_pipeline(pipeline)
    if target:
        model.ptx = model._model.ptx(target)
    return model


class Model:
    """A Llama model as lowbit IR, run on lowbit's reference executor."""

    def __init__(self, checkpoint):
        self._model = _Model(str(checkpoint))
        self.ptx = None

    @property
    def ir(self):
        """The model's lowbit IR as text."""
        return self._model.ir()

    @property
    def vocabulary_size(self):
        return self._model.vocabulary_size

    @property
    def context_length(self):
        return self._model.context_length

    def tokenize(self, text):
        """Token ids of `text` (no beginning-of-sequence token), as numpy."""
        return np.asarray(self._model.tokenize(text), dtype=np.int32)

    def detokenize(self, ids):
        return self._model.detokenize([int(i) for i in ids])

    def logits(self, tokens, start=0, entry_point="prefill"):
        """Logits [tokens, vocabulary] of `tokens` at positions start, ...

        The KV caches keep what earlier calls appended; reset_caches()
        forgets it.
        """
        return self._model.run(entry_point, np.asarray(tokens, np.int32),
                               start)

    def reset_caches(self):
        self._model.reset_caches()

    def generate(self, prompt, max_tokens=32):
        """Greedy continuation of `prompt`, as text."""
        tokens = [self._model.bos] + list(self._model.tokenize(prompt))
        if len(tokens) >= self.context_length:
            raise ValueError("the prompt does not fit the model's context")
        self.reset_caches()
        row = self.logits(tokens)[-1]
        generated = []
        while len(generated) < max_tokens:
            token = int(np.argmax(row))
            if token == self._model.eos:
                break
            generated.append(token)
            position = len(tokens) + len(generated) - 1
            if len(generated) == max_tokens or position + 1 >= self.context_length:
                break
            row = self.logits([token], start=position, entry_point="decode")[0]
        return self.detokenize(generated)

    def perplexity(self, text, context=None, max_scored_tokens=0):
        """Perplexity of the beginning-of-sequence token and `text`, scored
        in windows of `context` tokens (default: the model's context) as
        `lowbit-run perplexity` does."""
        tokens = np.concatenate(([self._model.bos], self.tokenize(text)))
        window = context or self.context_length
        nll, scored, scored_up_to = 0.0, 0, 0
        begin = 0
        while begin + 1 < len(tokens):
            end = min(len(tokens), begin + window)
            self.reset_caches()
            logits = self.logits(tokens[begin:end - 1]).astype(np.float64)
            for target in range(max(begin + 1, scored_up_to + 1), end):
                row = logits[target - begin - 1]
                top = row.max()
                nll += np.log(np.exp(row - top).sum()) + top - row[tokens[target]]
                scored += 1
            scored_up_to = end - 1
            if end == len(tokens) or (max_scored_tokens and
                                      scored >= max_scored_tokens):
                break
            begin += window
        return float(np.exp(nll / scored))

    def roofline(self, hw="h100-sxm", **options):
        """The roofline report of the model on hardware `hw`, as a dict
        (options of lowbit-roofline: phase=, seq=, context=, batch=)."""
        text = " ".join(f"{key}={value}" for key, value in options.items())
        return json.loads(self._model.roofline(f"hw={hw} {text} format=json"))
