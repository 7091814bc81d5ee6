/*===- lowbit-c/Compiler.h - C API of the lowbit compiler ---------*- C -*-===*\
|*                                                                            *|
|* The compiler as a C library, in the style of MLIR's C API: opaque handles *|
|* with a `lowbit` prefix, explicit ownership (every handle and string a     *|
|* function returns is released by its Destroy function), and errors as a    *|
|* NULL or false result with the message kept on the context.                *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef LOWBIT_C_COMPILER_H
#define LOWBIT_C_COMPILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An MLIR context with lowbit's dialects, passes and pipelines; it holds
 *  the message of the last failed call on it and its modules. */
typedef struct LowbitContext LowbitContext;

/** A Llama model as lowbit IR with the checkpoint its weights come from. */
typedef struct LowbitModule LowbitModule;

/** A new context; release it with lowbitContextDestroy after its modules. */
LowbitContext *lowbitContextCreate(void);
void lowbitContextDestroy(LowbitContext *context);

/** The message of the last call on `context` (or one of its modules) that
 *  failed; "" when the last call succeeded. Owned by the context and valid
 *  until its next call. */
const char *lowbitContextGetLastError(const LowbitContext *context);

/** Imports a GGUF, safetensors (file or Hugging Face directory) or llama2.c
 *  checkpoint; NULL on failure. Release with lowbitModuleDestroy. */
LowbitModule *lowbitModuleImport(LowbitContext *context,
                                 const char *checkpointPath);
void lowbitModuleDestroy(LowbitModule *module);

/** Runs a textual pass pipeline on the module, e.g.
 *  "lowbit-tensor-parallel{tp=2},lowbit-w4a8{block-size=32}". */
bool lowbitModuleRunPipeline(LowbitModule *module, const char *pipeline);

/** The module's IR as text; release with lowbitStringDestroy. */
char *lowbitModuleToString(const LowbitModule *module);

/** The PTX of the module's GPU kernels for `chip` (sm_80, sm_89, sm_90);
 *  the module itself is left as it is. NULL on failure; release with
 *  lowbitStringDestroy. */
char *lowbitModuleCompilePTX(const LowbitModule *module, const char *chip);

/** A model artifact of the module for a CPU (`target` x86_64 or aarch64,
 *  `cpu` an LLVM CPU name or NULL for the target's default), to run with
 *  the runtime (lowbit-c/Runtime.h); the module itself is left as it is.
 *  Its `size` bytes; NULL on failure; release with lowbitStringDestroy. */
char *lowbitModuleCompileArtifact(const LowbitModule *module,
                                  const char *target, const char *cpu,
                                  size_t *size);

/** The roofline report of the module (lowbit-roofline with `options`, e.g.
 *  "hw=h100-sxm seq=2048 format=json"); NULL on failure; release with
 *  lowbitStringDestroy. */
char *lowbitModuleRoofline(const LowbitModule *module, const char *options);

/** Entries of one row of logits (the vocabulary size). */
int64_t lowbitModuleGetVocabularySize(const LowbitModule *module);

/** Positions the model's KV caches hold (its context length). */
int64_t lowbitModuleGetContextLength(const LowbitModule *module);

/** The beginning- and end-of-sequence token ids. */
int32_t lowbitModuleGetBosToken(const LowbitModule *module);
int32_t lowbitModuleGetEosToken(const LowbitModule *module);

/** Tokenizes `text` (no beginning-of-sequence token) with the checkpoint's
 *  tokenizer and writes up to `capacity` ids to `tokens`; returns how many
 *  ids the text has (more than `capacity` means the buffer was too small),
 *  or -1 when the checkpoint has no tokenizer. */
int64_t lowbitModuleTokenize(LowbitModule *module, const char *text,
                             int32_t *tokens, size_t capacity);

/** The text of `count` token ids; release with lowbitStringDestroy. NULL
 *  when the checkpoint has no tokenizer or an id is out of range. */
char *lowbitModuleDetokenize(LowbitModule *module, const int32_t *tokens,
                             size_t count);

/** Forgets what the KV caches of lowbitModuleRun hold. */
void lowbitModuleResetCaches(LowbitModule *module);

/** Runs `entryPoint` ("prefill" or "decode") of the module on the reference
 *  executor for `numTokens` tokens at positions start, start + 1, ...,
 *  keeping the KV caches between calls, and writes numTokens rows of
 *  logits to `logits`, which holds `logitsCapacity` floats. */
bool lowbitModuleRun(LowbitModule *module, const char *entryPoint,
                     const int32_t *tokens, size_t numTokens, int64_t start,
                     float *logits, size_t logitsCapacity);

void lowbitStringDestroy(char *string);

#ifdef __cplusplus
}
#endif

#endif /* LOWBIT_C_COMPILER_H */
