// RUN: lowbit-opt %s --lowbit-quantize-kv | FileCheck %s
// RUN: lowbit-opt %s --lowbit-quantize-kv="bits=16" | FileCheck %s --check-prefix=F16
// RUN: not lowbit-opt %s --lowbit-quantize-kv="group-size=24" 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: lowbit-opt %s --lowbit-quantize-kv="asymmetric=true" | FileCheck %s --check-prefix=ASYM
// RUN: lowbit-opt %s --lowbit-quantize-kv="bits=16 asymmetric=true" | FileCheck %s --check-prefix=F16

// CHECK-LABEL: func @step
// CHECK-SAME: !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 64, max_len = 16>) -> (tensor<?x256xf32>, !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 64, max_len = 16>)
// CHECK: lowbit.kv_append {{.*}} -> !lowbit.kv_cache<bits = 4, group = 32,
// CHECK: lowbit.kv_attention {{.*}} !lowbit.kv_cache<bits = 4, group = 32,
// F16: lowbit.kv_append {{.*}} -> !lowbit.kv_cache<bits = 16, group = 64, heads = 4, head_dim = 64, max_len = 16>
// ASYM: lowbit.kv_append {{.*}} -> !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 64, max_len = 16, asymmetric = true>
// ASYM: lowbit.kv_attention {{.*}} !lowbit.kv_cache<bits = 4, group = 32, heads = 4, head_dim = 64, max_len = 16, asymmetric = true>
// GROUP: error: KV cache group size 24 does not divide head_dim 64
func.func @step(%q: tensor<?x256xf32>, %k: tensor<?x256xf32>, %pos: index,
                %cache: !lowbit.kv_cache<bits = 32, group = 64, heads = 4, head_dim = 64, max_len = 16>)
    -> (tensor<?x256xf32>, !lowbit.kv_cache<bits = 32, group = 64, heads = 4, head_dim = 64, max_len = 16>) {
  %c = lowbit.kv_append %k, %k into %cache at %pos : tensor<?x256xf32>, tensor<?x256xf32> -> !lowbit.kv_cache<bits = 32, group = 64, heads = 4, head_dim = 64, max_len = 16>
  %o = lowbit.kv_attention %q, %c at %pos {num_heads = 4 : i64} : tensor<?x256xf32>, !lowbit.kv_cache<bits = 32, group = 64, heads = 4, head_dim = 64, max_len = 16>
  return %o, %c : tensor<?x256xf32>, !lowbit.kv_cache<bits = 32, group = 64, heads = 4, head_dim = 64, max_len = 16>
}
