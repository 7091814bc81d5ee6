/*===- consumer-c.c - a C program built against an installed lowbit ------===*\
|*                                                                            *|
|* The C API from an installed prefix: import a checkpoint, quantize it, and *|
|* print what it became.                                                      *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "lowbit-c/Compiler.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 2)
    return 2;
  LowbitContext *context = lowbitContextCreate();
  LowbitModule *module = lowbitModuleImport(context, argv[1]);
  if (!module || !lowbitModuleRunPipeline(module, "lowbit-w4a4-kv4{block-size=32 group-size=32}")) {
    fprintf(stderr, "%s\n", lowbitContextGetLastError(context));
    return 1;
  }
  char *text = lowbitModuleToString(module);
  printf("C API: vocabulary %lld, KV4 cache: %s\n",
         (long long)lowbitModuleGetVocabularySize(module),
         strstr(text, "kv_cache<bits = 4") ? "yes" : "no");
  lowbitStringDestroy(text);
  lowbitModuleDestroy(module);
  lowbitContextDestroy(context);
  return 0;
}
