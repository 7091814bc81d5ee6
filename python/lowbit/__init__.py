"""lowbit: compile Llama checkpoints to 4-bit schemes and run them.

    import lowbit
    model = lowbit.compile("models/austen.gguf", scheme="w4a8{block-size=32}")
    print(model.generate("It is a truth universally acknowledged", max_tokens=16))
    print(model.perplexity(open("models/persuasion.txt").read()[:20000]))
    logits = model.logits(model.tokenize("Emma"))      # numpy, [tokens, vocabulary]

    fast = lowbit.compile("models/austen.gguf", scheme="w4a8", target="x86_64")
    fast.save_artifact("austen.lbm")                  # compiled code + weights
    compiled = lowbit.load("austen.lbm", tokenizer=fast)
    print(compiled.generate("It is a truth universally acknowledged"))

Everything runs through lowbit's C APIs: `Model` on the reference executor
with the quantized IR's exact integer arithmetic (lowbit-c/Compiler.h),
`CompiledModel` on the runtime with the code lowbit generated for this CPU
(lowbit-c/Runtime.h); `target=` a GPU generates the GPU kernels' PTX.
"""

import json

import numpy as np

from ._lowbit import _CompiledModel, _Model

__all__ = ["CompiledModel", "Model", "compile", "load"]

_CPU_TARGETS = ("x86_64", "aarch64")


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
            calibration=None, compress_collectives=None, cpu=None):
    """Imports `checkpoint` (GGUF, safetensors, llama2.c) and compiles it.

    scheme: a quantization scheme with options, as `lowbit-run --scheme`
    takes it ("w4a8", "w4ax-kv4{block-size=32}", ...); calibration: its
    statistics file; tensor_parallel: ranks to shard for;
    compress_collectives: options of lowbit-compress-collectives (a string,
    "" for the defaults); target: "sm_80", "sm_89" or "sm_90" to generate
    the GPU kernels (Model.ptx), or "x86_64" / "aarch64" to compile a model
    artifact for that CPU (Model.artifact, bytes; cpu: an LLVM CPU name,
    default the target's). Raises RuntimeError with lowbit's message when a
    step fails.
    """
    model = Model(checkpoint)
    pipeline = _pipeline(tensor_parallel, scheme, calibration,
                         compress_collectives)
    if pipeline:
        model._model.run_pipeline(pipeline)
    if target and target not in _CPU_TARGETS and not target.startswith("sm_"):
        raise ValueError(f"unknown target '{target}' (known: x86_64, aarch64, "
                         "sm_80, sm_89, sm_90)")
    if target in _CPU_TARGETS:
        model.artifact = model._model.artifact(target, cpu or "")
    elif cpu:
        raise ValueError("cpu= is for the CPU targets x86_64 and aarch64")
    elif target:
        model.ptx = model._model.ptx(target)
    return model


def load(path, tokenizer=None):
    """Loads the model artifact at `path` (lowbit-compile, or
    Model.save_artifact) for this CPU. `tokenizer`: a Model whose tokenizer
    generate() and perplexity() use; without one they are unavailable, and
    logits() takes token ids."""
    return CompiledModel(path, tokenizer)


class _TextModel:
    """What Model and CompiledModel share: logits from `self._model` (a
    _Model or _CompiledModel), and generate() and perplexity() with the
    tokenizer of `self._tokenizer` (a _Model)."""

    @property
    def vocabulary_size(self):
        return self._model.vocabulary_size

    @property
    def context_length(self):
        return self._model.context_length

    def logits(self, tokens, start=0, entry_point="prefill"):
        """Logits [tokens, vocabulary] of `tokens` at positions start, ...

        The KV caches keep what earlier calls appended; reset_caches()
        forgets it.
        """
        return self._model.run(entry_point, np.asarray(tokens, np.int32),
                               start)

    def reset_caches(self):
        self._model.reset_caches()

    def _need_tokenizer(self):
        if self._tokenizer is None:
            raise ValueError("this model has no tokenizer: load it with "
                             "lowbit.load(path, tokenizer=model)")
        return self._tokenizer

    def tokenize(self, text):
        """Token ids of `text` (no beginning-of-sequence token), as numpy."""
        return np.asarray(self._need_tokenizer().tokenize(text), dtype=np.int32)

    def detokenize(self, ids):
        return self._need_tokenizer().detokenize([int(i) for i in ids])

    def generate(self, prompt, max_tokens=32):
        """Greedy continuation of `prompt`, as text."""
        tokenizer = self._need_tokenizer()
        tokens = [tokenizer.bos] + list(tokenizer.tokenize(prompt))
        if len(tokens) >= self.context_length:
            raise ValueError("the prompt does not fit the model's context")
        self.reset_caches()
        row = self.logits(tokens)[-1]
        generated = []
        while len(generated) < max_tokens:
            token = int(np.argmax(row))
            if token == tokenizer.eos:
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
        tokens = np.concatenate(([self._need_tokenizer().bos],
                                 self.tokenize(text)))
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


class Model(_TextModel):
    """A Llama model as lowbit IR, run on lowbit's reference executor."""

    def __init__(self, checkpoint):
        self._model = _Model(str(checkpoint))
        self._tokenizer = self._model
        self.ptx = None
        self.artifact = None

    def save_artifact(self, path):
        """Writes the artifact compile(..., target="x86_64"|"aarch64") made."""
        if self.artifact is None:
            raise ValueError("no artifact: compile with target='x86_64' or "
                             "'aarch64'")
        with open(path, "wb") as file:
            file.write(self.artifact)

    @property
    def ir(self):
        """The model's lowbit IR as text."""
        return self._model.ir()

    def roofline(self, hw="h100-sxm", **options):
        """The roofline report of the model on hardware `hw`, as a dict
        (options of lowbit-roofline: phase=, seq=, context=, batch=)."""
        text = " ".join(f"{key}={value}" for key, value in options.items())
        return json.loads(self._model.roofline(f"hw={hw} {text} format=json"))


class CompiledModel(_TextModel):
    """A model artifact run by lowbit's runtime on this CPU (lowbit.load)."""

    def __init__(self, path, tokenizer=None):
        self._model = _CompiledModel(str(path))
        self._tokenizer = tokenizer._model if tokenizer is not None else None

    def metadata(self, key):
        """The artifact's metadata entry `key` ("scheme", "target", "cpu",
        "matmul_isa", ...), or None."""
        return self._model.metadata(key)
