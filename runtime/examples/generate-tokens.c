/*===-- generate-tokens.c - the lowbit runtime C API, end to end ----------===*\
|*                                                                            *|
|* Opens a compiled model, runs prefill on a prompt of token ids, then       *|
|* decodes and samples new tokens, printing their ids. With --logits FILE it *|
|* also writes every logit it computed (prompt positions, then each decode   *|
|* step) as little-endian float32.                                            *|
|*                                                                            *|
|*   lowbit-generate-tokens MODEL.lbm 1,450,2112 [--tokens N]                 *|
|*       [--temperature T] [--seed S] [--logits FILE]                         *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "lowbit-c/Runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
  fprintf(stderr, "usage: lowbit-generate-tokens MODEL.lbm ID,ID,... "
                  "[--tokens N] [--temperature T] [--seed S] "
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
  for (int i = 3; i < argc; ++i) {
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

  char error[512];
  LowbitModel *model = lowbitModelOpen(argv[1], error, sizeof error);
  if (!model) {
    fprintf(stderr, "error: %s\n", error);
    return 1;
  }
  int32_t *prompt;
  int64_t count = parseTokens(argv[2], &prompt);
  if (count < 0) {
    fprintf(stderr, "error: '%s' is not a list of token ids\n", argv[2]);
    return 1;
  }
  LowbitSampler *sampler = lowbitSamplerCreate(temperature, 0, 1.0f, seed);
  if (!sampler) {
    fprintf(stderr, "error: bad sampling options\n");
    return 1;
  }
  FILE *logitsFile = logitsPath ? fopen(logitsPath, "wb") : NULL;
  if (logitsPath && !logitsFile) {
    fprintf(stderr, "error: cannot write '%s'\n", logitsPath);
    return 1;
  }

  int64_t vocab = lowbitModelGetVocabularySize(model);
  float *logits = malloc(sizeof(float) * (size_t)(vocab * count));
  bool ok = lowbitModelPrefill(model, prompt, count, 0, logits);
  int64_t position = count;
  const float *last = logits + (count - 1) * vocab;
  if (ok && logitsFile)
    fwrite(logits, sizeof(float), (size_t)(vocab * count), logitsFile);
  for (long i = 0; ok && i < newTokens; ++i) {
    int32_t next = lowbitSamplerSample(sampler, last, vocab);
    printf(i ? " %d" : "%d", next);
    if (i + 1 == newTokens)
      break;
    ok = lowbitModelDecode(model, next, position++, logits);
    last = logits;
    if (ok && logitsFile)
      fwrite(logits, sizeof(float), (size_t)vocab, logitsFile);
  }
  printf("\n");
  if (!ok)
    fprintf(stderr, "error: %s\n", lowbitModelGetLastError(model));
  if (logitsFile)
    fclose(logitsFile);
  free(logits);
  free(prompt);
  lowbitSamplerDestroy(sampler);
  lowbitModelDestroy(model);
  return ok ? 0 : 1;
}
