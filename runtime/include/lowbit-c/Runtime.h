/*===-- lowbit-c/Runtime.h - C API of the lowbit runtime ----------*- C -*-===*\
|*                                                                            *|
|* Runs a model artifact compiled by `lowbit-compile --target=x86_64|aarch64` *|
|* on this CPU: open the artifact, feed token ids, read logits, sample. The   *|
|* library is MLIR-free (link with -llowbit-runtime or lowbit::runtime).     *|
|*                                                                            *|
|* In the style of lowbit-c/Compiler.h: opaque handles, every handle a       *|
|* function returns owned by the caller and released by its Destroy          *|
|* function, failures as false (or NULL) with the reason in                  *|
|* lowbitModelGetLastError.                                                   *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef LOWBIT_C_RUNTIME_H
#define LOWBIT_C_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A compiled model loaded for this CPU, with its KV cache.
typedef struct LowbitModel LowbitModel;

/// A token sampler (temperature, top-k, top-p, seeded).
typedef struct LowbitSampler LowbitSampler;

/// Opens the artifact at `path`: checks its format, integrity, architecture
/// and the CPU features its code needs, and loads the code and weights.
/// Returns NULL on failure and, when `error` is not NULL, writes the reason
/// (NUL-terminated, truncated to `errorSize` bytes) to it.
LowbitModel *lowbitModelOpen(const char *path, char *error, size_t errorSize);

/// Releases `model` (NULL is allowed).
void lowbitModelDestroy(LowbitModel *model);

/// The number of logits per token.
int64_t lowbitModelGetVocabularySize(LowbitModel *model);

/// The largest number of positions the KV cache holds.
int64_t lowbitModelGetContextLength(LowbitModel *model);

/// The artifact's metadata entry `key` (e.g. "scheme", "target", "cpu"),
/// or NULL when there is none. Valid until the model is destroyed.
const char *lowbitModelGetMetadata(LowbitModel *model, const char *key);

/// Runs the compiled prefill on `count` tokens at positions start..
/// start+count-1, appending them to the KV cache (of sequence 0, see
/// below), and writes count x vocabulary-size logits (row-major) to
/// `logits`.
bool lowbitModelPrefill(LowbitModel *model, const int32_t *tokens,
                        int64_t count, int64_t start, float *logits);

/// Runs the compiled decode step on one token at `position` (of sequence
/// 0) and writes vocabulary-size logits.
bool lowbitModelDecode(LowbitModel *model, int32_t token, int64_t position,
                       float *logits);

/// Forgets the KV cache (of every sequence), to start anew.
void lowbitModelResetCaches(LowbitModel *model);

/* Batched decode: several sequences, each with a KV cache of its own, fed
   one prompt at a time and decoded together, one token of each per step. */

/// Makes room for `count` sequences (numbered 0..count-1), each with an
/// empty KV cache; a model starts with one. False when `count` is not in
/// [1, 4096] or the memory cannot be had (the model then keeps the
/// sequences it had, their caches emptied, or where even that fails none,
/// and refuses steps until a later call succeeds).
bool lowbitModelSetSequences(LowbitModel *model, int64_t count);
/// lowbitModelPrefill into the KV cache of sequence `sequence`.
bool lowbitModelPrefillSequence(LowbitModel *model, int64_t sequence,
                                const int32_t *tokens, int64_t count,
                                int64_t start, float *logits);
/// One decode step of sequences 0..count-1 together: tokens[t] at position
/// positions[t] of sequence t. Writes count x vocabulary-size logits, row t
/// sequence t's.
bool lowbitModelDecodeBatch(LowbitModel *model, const int32_t *tokens,
                            const int64_t *positions, int64_t count,
                            float *logits);

/// Why the last failing call on `model` failed ("" after a success).
const char *lowbitModelGetLastError(LowbitModel *model);

/// A sampler: `temperature` 0 picks the most likely token; `topK` 0 keeps
/// every token; `topP` in (0, 1]. Returns NULL for invalid options.
LowbitSampler *lowbitSamplerCreate(float temperature, int32_t topK, float topP,
                                  uint64_t seed);

/// Releases `sampler` (NULL is allowed).
void lowbitSamplerDestroy(LowbitSampler *sampler);

/// The next token for `logits[0..vocabSize)`.
int32_t lowbitSamplerSample(LowbitSampler *sampler, const float *logits,
                            int64_t vocabSize);

#ifdef __cplusplus
}
#endif

#endif /* LOWBIT_C_RUNTIME_H */
