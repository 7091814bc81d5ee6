// RUN: lowbit-opt %s --lowbit-convert-to-cpu=isa=nvgpu --lowbit-define-gpu-prefill-attention=chip=sm_90 --lowbit-offload-kernels-to-gpu=chip=sm_90 | FileCheck %s

// The tensor-core prefill attention kernel takes heads of 48 channels
// (a multiple of 8, scale groups of 16), where the channel-lane decode form
// (heads a multiple of 32 channels) does not apply: prompts call the
// kernel, one-row steps keep the plain nest.

// CHECK-LABEL: func.func private @lowbit_cpu_kv_attention_96_h2_kv1_b4_g16_l8(
// CHECK: scf.if
// CHECK: gpu.launch_func @lowbit_cpu_kv_attention_96_h2_kv1_b4_g16_l8_kernel::
// CHECK: } else {
// CHECK-NEXT: func.call @lowbit_nvgpu_prefill_attention_96_kv1_d48_b4_g16_l8(
// CHECK: func.func private @lowbit_nvgpu_prefill_attention_96_kv1_d48_b4_g16_l8(
// CHECK: gpu.launch_func @lowbit_attention_kernels::@tc_prefill_attention_d48_h2_kv1_b4_g16_l8
// CHECK: gpu.func @tc_prefill_attention_d48_h2_kv1_b4_g16_l8(

!cache = !lowbit.kv_cache<bits = 4, group = 16, heads = 1, head_dim = 48, max_len = 8>

module attributes {lowbit.checkpoint = "tiny.gguf"} {
  func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index, %cache: !cache) -> (tensor<?x8xf32>, !cache) {
    %table = lowbit.weight "token_embd.weight" : tensor<8x48xf32>
    %kv = lowbit.embedding %table[%tokens] : tensor<8x48xf32>, tensor<?xi32> -> tensor<?x48xf32>
    %table2 = lowbit.weight "token_embd2.weight" : tensor<8x96xf32>
    %q = lowbit.embedding %table2[%tokens] : tensor<8x96xf32>, tensor<?xi32> -> tensor<?x96xf32>
    %c = lowbit.kv_append %kv, %kv into %cache at %start : tensor<?x48xf32>, tensor<?x48xf32> -> !cache
    %o = lowbit.kv_attention %q, %c at %start {num_heads = 2 : i64} : tensor<?x96xf32>, !cache
    %head = lowbit.weight "output.weight" : tensor<8x96xf32>
    %logits = lowbit.linear %o, %head : tensor<?x96xf32>, tensor<8x96xf32> -> tensor<?x8xf32>
    return %logits, %c : tensor<?x8xf32>, !cache
  }
}
