/*===- compiler-capi.c - the compiler's C API, from C --------------------===*\
|*                                                                            *|
|* Imports a checkpoint, quantizes it, runs it on the reference executor,    *|
|* generates its GPU kernels and its roofline, and provokes each kind of     *|
|* error, printing what a C program sees; compiler-capi.test checks it.      *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "lowbit-c/Compiler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The index of the largest of `count` floats. */
static size_t argmax(const float *values, size_t count) {
  size_t best = 0;
  for (size_t i = 1; i < count; ++i)
    if (values[i] > values[best])
      best = i;
  return best;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s checkpoint.gguf\n", argv[0]);
    return 2;
  }
  LowbitContext *context = lowbitContextCreate();

  LowbitModule *missing = lowbitModuleImport(context, "/nonexistent.gguf");
  printf("import missing: %s, error: %s\n", missing ? "module" : "NULL",
         lowbitContextGetLastError(context));

  LowbitModule *module = lowbitModuleImport(context, argv[1]);
  if (!module) {
    fprintf(stderr, "import failed: %s\n", lowbitContextGetLastError(context));
    return 1;
  }
  int64_t vocabulary = lowbitModuleGetVocabularySize(module);
  printf("vocabulary: %lld\n", (long long)vocabulary);

  /* The message is read after the call: it changes with every call. */
  bool ran = lowbitModuleRunPipeline(module, "lowbit-w3a3");
  printf("bad pipeline: %d, error: %s\n", ran,
         lowbitContextGetLastError(context));
  if (!lowbitModuleRunPipeline(
          module, "lowbit-w4a8{block-size=32 group-size=32}")) {
    fprintf(stderr, "pipeline failed: %s\n",
            lowbitContextGetLastError(context));
    return 1;
  }
  char *text = lowbitModuleToString(module);
  printf("quantized module has lowbit.matmul: %s\n",
         strstr(text, "lowbit.matmul") ? "yes" : "no");
  lowbitStringDestroy(text);

  int32_t prompt[] = {1, 50, 60, 70};
  float *logits = malloc(sizeof(float) * 4 * vocabulary);
  if (!lowbitModuleRun(module, "prefill", prompt, 4, 0, logits,
                       4 * vocabulary)) {
    fprintf(stderr, "run failed: %s\n", lowbitContextGetLastError(context));
    return 1;
  }
  size_t next = argmax(logits + 3 * vocabulary, vocabulary);
  int32_t token = (int32_t)next;
  printf("prefill: next token %zu\n", next);
  printf("decode: %d\n", lowbitModuleRun(module, "decode", &token, 1, 4,
                                         logits, vocabulary));
  ran = lowbitModuleRun(module, "prefill", prompt, 4, 0, logits, 10);
  printf("small buffer: %d, error: %s\n", ran,
         lowbitContextGetLastError(context));

  char *roofline =
      lowbitModuleRoofline(module, "hw=h100-sxm phase=decode format=json");
  printf("roofline: %s\n",
         roofline && strstr(roofline, "\"ops\"") ? "json" : "missing");
  lowbitStringDestroy(roofline);

  char *ptx = lowbitModuleCompilePTX(module, "sm_90");
  printf("ptx: %s\n", ptx ? "generated" : lowbitContextGetLastError(context));
  lowbitStringDestroy(ptx);
  ptx = lowbitModuleCompilePTX(module, "sm_70");
  printf("ptx for sm_70: %s, error: %s\n", ptx ? "generated" : "NULL",
         lowbitContextGetLastError(context));

  size_t size = 0;
  char *artifact =
      lowbitModuleCompileArtifact(module, "aarch64", "neoverse-n1", &size);
  printf("artifact: %s, %s\n",
         artifact && size > 8 && !memcmp(artifact, "LOWBITAR", 8) ? "written"
                                                                   : "missing",
         artifact ? "" : lowbitContextGetLastError(context));
  lowbitStringDestroy(artifact);
  artifact = lowbitModuleCompileArtifact(module, "riscv64", NULL, &size);
  printf("artifact for riscv64: %s, error: %s\n", artifact ? "written" : "NULL",
         lowbitContextGetLastError(context));

  free(logits);
  lowbitModuleDestroy(module);
  lowbitContextDestroy(context);
  return 0;
}
