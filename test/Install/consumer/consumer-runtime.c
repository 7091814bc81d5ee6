/*===- consumer-runtime.c - the runtime C API from an installed lowbit ----===*\
|*                                                                            *|
|* Opens a model artifact compiled as a build step, runs prefill on a prompt *|
|* of token ids and one decode step, and prints what it found.               *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "lowbit-c/Runtime.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc != 2)
    return 2;
  char error[256];
  LowbitModel *model = lowbitModelOpen(argv[1], error, sizeof error);
  if (!model) {
    fprintf(stderr, "%s\n", error);
    return 1;
  }
  int64_t vocabulary = lowbitModelGetVocabularySize(model);
  int32_t prompt[] = {1, 45, 211};
  float *logits = malloc(sizeof(float) * 3 * vocabulary);
  LowbitSampler *greedy = lowbitSamplerCreate(0.0f, 0, 1.0f, 0);
  bool ok = lowbitModelPrefill(model, prompt, 3, 0, logits);
  int32_t next = ok ? lowbitSamplerSample(greedy, logits + 2 * vocabulary,
                                          vocabulary)
                    : -1;
  ok = ok && lowbitModelDecode(model, next, 3, logits);
  if (!ok)
    fprintf(stderr, "%s\n", lowbitModelGetLastError(model));
  printf("runtime C API: %s model, scheme %s, vocabulary %lld, decoded: %s\n",
         lowbitModelGetMetadata(model, "target"),
         lowbitModelGetMetadata(model, "scheme"), (long long)vocabulary,
         ok ? "yes" : "no");
  free(logits);
  lowbitSamplerDestroy(greedy);
  lowbitModelDestroy(model);
  return ok ? 0 : 1;
}
