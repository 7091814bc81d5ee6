/*===-- generate-tokens.c - the lowbit runtime C API, end to end ----------===*\
|*                                                                            *|
|* Opens a compiled model, runs prefill on a prompt of token ids, then       *|
|* decodes and samples new tokens, printing their ids. With --logits FILE it *|
|* also writes every logit it computed (prompt positions, then each decode   *|
|* step) as little-endian float32.                                            *|
|*                                                                            *|
|* With several prompts it decodes them together (batched decode): each is   *|
|* prefilled into a sequence of its own, then every step decodes a token of  *|
|* each, sampled by a sampler of its own (seeded alike), and it prints a     *|
|* line of ids per prompt; --logits then gets each prompt's prefill logits   *|
|* in turn, then every step's rows.                                          *|
|*                                                                            *|
|*   lowbit-generate-tokens MODEL.lbm 1,450,2112 [ID,ID,... ...]              *|
|*       [--tokens N] [--temperature T] [--seed S] [--logits FILE]            *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "lowbit-c/Runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
  fprintf(stderr, "usage: lowbit-generate-tokens MODEL.lbm ID,ID,... "
                  "[ID,ID,... ...] [--tokens N] [--temperature T] [--seed S] "
                  "[--logits FILE]\n");
  return 2;
}

/* Parses comma-separated token ids into a new array; returns the count, or
 * -1 for malformed text. */
static int64_t parseTokens(const char *text, int32_t **tokens) {
  int64_t count = 1;
  for (const char *c = text; *c; ++c)
    count += *c == ',';
  *tokens = malloc(sizeof(int32_t) * (size_t)count);
  const char *cursor = text;
  for (int64_t i = 0; i < count; ++i) {
    char *end;
    long value = strtol(cursor, &end, 10);
    if (end == cursor || (*end != ',' && *end != '\0') || value < 0 ||
        value > INT32_MAX)
      return -1;
    (*tokens)[i] = (int32_t)value;
    cursor = end + 1;
  }
  return count;
}

int main(int argc, char **argv) {
  if (argc < 3)
    return usage();
  long newTokens = 16;
  float temperature = 0.0f;
  unsigned long long seed = 0;
  const char *logitsPath = NULL;
  /* The prompts' arguments come first, then the options. */
  int prompts = 0;
  while (2 + prompts < argc && strncmp(argv[2 + prompts], "--", 2) != 0)
    ++prompts;
  if (prompts == 0)
    return usage();
  for (int i = 2 + prompts; i < argc; ++i) {
    if (i + 1 >= argc)
      return usage();
    if (!strcmp(argv[i], "--tokens"))
      newTokens = strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--temperature"))
      temperature = strtof(argv[++i], NULL);
    else if (!strcmp(argv[i], "--seed"))
      seed = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--logits"))
      logitsPath = argv[++i];
    else
      return usage();
  }

  if (newTokens < 1)
    return usage();

  char error[512];
  LowbitModel *model = lowbitModelOpen(argv[1], error, sizeof error);
  if (!model) {
    fprintf(stderr, "error: %s\n", error);
    return 1;
  }
  int32_t **prompt = calloc((size_t)prompts, sizeof(int32_t *));
  int64_t *count = calloc((size_t)prompts, sizeof(int64_t));
  int64_t longest = 0;
  for (int p = 0; p < prompts; ++p) {
    count[p] = parseTokens(argv[2 + p], &prompt[p]);
    if (count[p] < 0) {
      fprintf(stderr, "error: '%s' is not a list of token ids\n", argv[2 + p]);
      return 1;
    }
    if (count[p] > longest)
      longest = count[p];
  }
  LowbitSampler **samplers = calloc((size_t)prompts, sizeof(LowbitSampler *));
  for (int p = 0; p < prompts; ++p) {
    samplers[p] = lowbitSamplerCreate(temperature, 0, 1.0f, seed);
    if (!samplers[p]) {
      fprintf(stderr, "error: bad sampling options\n");
      return 1;
    }
  }
  FILE *logitsFile = logitsPath ? fopen(logitsPath, "wb") : NULL;
  if (logitsPath && !logitsFile) {
    fprintf(stderr, "error: cannot write '%s'\n", logitsPath);
    return 1;
  }

  int64_t vocab = lowbitModelGetVocabularySize(model);
  int64_t rows = longest > prompts ? longest : prompts;
  float *logits = malloc(sizeof(float) * (size_t)(vocab * rows));
  int32_t *next = malloc(sizeof(int32_t) * (size_t)prompts);
  int64_t *position = malloc(sizeof(int64_t) * (size_t)prompts);
  /* Each sequence's generated ids, printed at the end. */
  int32_t *generated =
      malloc(sizeof(int32_t) * (size_t)(prompts * newTokens + 1));
  bool ok = prompts == 1 || lowbitModelSetSequences(model, prompts);
  for (int p = 0; ok && p < prompts; ++p) {
    ok = prompts == 1
             ? lowbitModelPrefill(model, prompt[p], count[p], 0, logits)
             : lowbitModelPrefillSequence(model, p, prompt[p], count[p], 0,
                                          logits);
    if (!ok)
      break;
    if (logitsFile)
      fwrite(logits, sizeof(float), (size_t)(vocab * count[p]), logitsFile);
    position[p] = count[p];
    next[p] = lowbitSamplerSample(samplers[p], logits + (count[p] - 1) * vocab,
                                  vocab);
  }
  for (long i = 0; ok && i < newTokens; ++i) {
    for (int p = 0; p < prompts; ++p)
      generated[p * newTokens + i] = next[p];
    if (i + 1 == newTokens)
      break;
    ok = prompts == 1
             ? lowbitModelDecode(model, next[0], position[0], logits)
             : lowbitModelDecodeBatch(model, next, position, prompts, logits);
    if (!ok)
      break;
    if (logitsFile)
      fwrite(logits, sizeof(float), (size_t)(vocab * prompts), logitsFile);
    for (int p = 0; p < prompts; ++p) {
      ++position[p];
      next[p] = lowbitSamplerSample(samplers[p], logits + p * vocab, vocab);
    }
  }
  if (ok)
    for (int p = 0; p < prompts; ++p)
      for (long i = 0; i < newTokens; ++i)
        printf(i + 1 < newTokens ? "%d " : "%d\n",
               generated[p * newTokens + i]);
  if (!ok)
    fprintf(stderr, "error: %s\n", lowbitModelGetLastError(model));
  if (logitsFile)
    fclose(logitsFile);
  for (int p = 0; p < prompts; ++p) {
    free(prompt[p]);
    lowbitSamplerDestroy(samplers[p]);
  }
  free(prompt);
  free(count);
  free(samplers);
  free(logits);
  free(next);
  free(position);
  free(generated);
  lowbitModelDestroy(model);
  return ok ? 0 : 1;
}
