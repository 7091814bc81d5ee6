// RUN: lowbit-opt %s --lowbit-convert-to-cpu | FileCheck %s
// RUN: lowbit-opt %s --lowbit-convert-to-cpu --lowbit-lower-cpu-to-llvm | FileCheck %s --check-prefix=LLVM
// RUN: lowbit-opt %s --lowbit-convert-to-cpu=isa=neon-i8mm 2>&1 | FileCheck %s --check-prefix=FALLBACK
// RUN: lowbit-opt %s --lowbit-convert-to-cpu=profile-counter=cycle | FileCheck %s --check-prefix=PROFILE
// RUN: not lowbit-opt %s --lowbit-convert-to-cpu=profile-counter=wallclock 2>&1 | FileCheck %s --check-prefix=BAD-COUNTER

// One decoder step of a tiny quantized model: every graph op becomes a call
// of a generated kernel on views of the weight, state and scratch buffers.

!cache = !lowbit.kv_cache<bits = 4, group = 16, heads = 1, head_dim = 16, max_len = 8>
!act = !lowbit.qtensor<?x32, f16, #lowbit.blocks<16, [8, 4], per_token, perm = [1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]>>
!w = !lowbit.qtensor<16x32, f16, #lowbit.blocks<16, [8, 4], per_group = 16, perm = [1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]>>

// CHECK: module attributes {
// CHECK-SAME: lowbit.cpu.scratch_bytes_per_token = 256 : i64
// CHECK-SAME: lowbit.cpu.state_bytes = 256 : i64
// CHECK-SAME: lowbit.cpu.weight_bytes = 2560 : i64
// CHECK-SAME: lowbit.cpu.weights = [{form = "f32", name = "token_embd.weight", offset = 0 : i64, type = tensor<8x32xf32>},
// CHECK-SAME: {form = "packed", name = "blk.0.attn_k.weight", offset = 1024 : i64, type = !lowbit.qtensor<16x32
// CHECK-SAME: {form = "packed", name = "blk.0.attn_v.weight"
// CHECK-SAME: {form = "transposed", name = "output.weight", offset = 2048 : i64, type = tensor<8x16xf32>}]

// CHECK-LABEL: func.func @lowbit_prefill(
// CHECK-SAME: %[[WEIGHTS:.*]]: memref<?xi8>, %[[STATE:.*]]: memref<?xi8>, %[[SCRATCH:.*]]: memref<?xi8>, %[[TOKENS:.*]]: memref<?xi32>, %[[POSITIONS:.*]]: memref<?xi32>, %[[START:.*]]: index, %[[LOGITS:.*]]: memref<?xi8>)
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK: %[[N:.*]] = memref.dim %[[TOKENS]]
// CHECK: call @lowbit_cpu_embedding_8x32
// CHECK: call @lowbit_cpu_quantize_32_b16_g16_84_f16_p{{[0-9a-fx]+}}(
// CHECK: call @lowbit_cpu_matmul_16x32_b16_ga16_gw16_84_f32
// CHECK: call @lowbit_cpu_matmul_16x32_b16_ga16_gw16_84_f32
// CHECK: call @lowbit_cpu_kv_append_16_b4_g16_l8({{.*}}, %[[START]])
// CHECK: call @lowbit_cpu_kv_attention_16_h1_kv1_b4_g16_l8({{.*}}, %[[START]],
// CHECK: %[[OUT:.*]] = memref.view %[[LOGITS]][%{{.*}}][%[[N]]] : memref<?xi8> to memref<?x8xf32>
// CHECK: call @lowbit_cpu_linear_8x16({{.*}}, %[[OUT]])
// CHECK-NOT: lowbit.
// CHECK: return

// Batched decode runs the prompt graph once more with a row per sequence:
// the KV views reach to the end of the state (every sequence's), and the KV
// kernels take the sequence stride (the state bytes) and each row's position.
// CHECK-LABEL: func.func @lowbit_decode_batch(
// CHECK-SAME: %{{.*}}: memref<?xi8>, %[[BSTATE:.*]]: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi32>, %[[BPOSITIONS:.*]]: memref<?xi32>, %{{.*}}: index, %{{.*}}: memref<?xi8>)
// CHECK: %[[BSIZE:.*]] = memref.dim %[[BSTATE]]
// CHECK: %[[BKEYBYTES:.*]] = arith.subi %[[BSIZE]], %{{.*}} : index
// CHECK: %[[BKEYS:.*]] = memref.view %[[BSTATE]][%{{.*}}][%[[BKEYBYTES]]]
// CHECK: %[[BSTRIDE:.*]] = arith.constant 256 : index
// CHECK: call @lowbit_cpu_kv_append_16_b4_g16_l8_seq(%{{.*}}, %{{.*}}, %[[BKEYS]], %{{.*}}, %[[BSTRIDE]], %[[BPOSITIONS]])
// CHECK: call @lowbit_cpu_kv_attention_16_h1_kv1_b4_g16_l8_seq(%{{.*}}, %[[BKEYS]], %{{.*}}, %{{.*}}, %{{.*}}, %[[BPOSITIONS]])
// CHECK: return

// The matmul kernel multiplies byte codes with packed 4-bit weights unpacked
// in vector registers, INT32 sums per scale segment, for every output and
// token independently (scf.parallel; lowbit-offload-kernels-to-gpu gives
// each a GPU thread).
// CHECK-LABEL: func.func private @lowbit_cpu_matmul_16x32_b16_ga16_gw16_84_f32(
// CHECK: scf.parallel (%{{.*}}, %{{.*}}) = (%{{.*}}, %{{.*}}) to (%c16{{.*}}, %{{.*}}) step
// CHECK: vector.load {{.*}} : memref<?x32xi8>, vector<16xi8>
// CHECK: vector.load {{.*}} : memref<16x24xi8>, vector<16xi8>
// CHECK: vector.load {{.*}} : memref<16x24xi8>, vector<8xi8>
// CHECK: arith.shrsi
// CHECK: vector.shuffle
// CHECK: arith.muli {{.*}} : vector<16xi32>
// CHECK: vector.reduction <add>

// A row of batched decode reads its own sequence's cache, one stride per
// row along, and sees the positions up to its own.
// CHECK-LABEL: func.func private @lowbit_cpu_kv_attention_16_h1_kv1_b4_g16_l8_seq(
// CHECK-SAME: %[[KEYS:[a-z0-9]+]]: memref<?xi8>, %{{.*}}: memref<?xi8>, %[[STRIDE:[a-z0-9]+]]: index, %{{.*}}: memref<?x16xf32>, %[[POSITIONS:[a-z0-9]+]]: memref<?xi32>)
// CHECK: scf.parallel (%[[ROW:.*]], %{{.*}}) =
// CHECK: %[[SHIFT:.*]] = arith.muli %[[ROW]], %[[STRIDE]] : index
// CHECK: memref.view %[[KEYS]][%[[SHIFT]]][] : memref<?xi8> to memref<8x8xi8>
// CHECK: %[[POSITION:.*]] = memref.load %[[POSITIONS]][%[[ROW]]]
// CHECK: %[[LAST:.*]] = arith.index_cast %[[POSITION]]
// CHECK: arith.addi %[[LAST]], %{{.*}} : index

// Blocks of 16 channels do not fit the NEON kernels: the module falls back to
// the generic matmul, with a warning.
// FALLBACK: warning: has blocks or scale groups that are not multiples of 32 channels; the NEON matmul cannot take them, so the module uses the generic matmul
// FALLBACK: {form = "packed", name = "blk.0.attn_k.weight"
// FALLBACK-NOT: arm_neon

// Profiled code stores the counter before the first and after every kernel
// call, and names the kernels in order.
// PROFILE: lowbit.cpu.profile = {decode_batch = ["lowbit_cpu_embedding_8x32", {{.*}}, "lowbit_cpu_kv_append_16_b4_g16_l8_seq", "lowbit_cpu_kv_attention_16_h1_kv1_b4_g16_l8_seq", "lowbit_cpu_linear_8x16"], prefill = ["lowbit_cpu_embedding_8x32", "lowbit_cpu_quantize_32_b16_g16_84_f16_p{{[0-9a-f]+}}", "lowbit_cpu_matmul_16x32_b16_ga16_gw16_84_f32", "lowbit_cpu_matmul_16x32_b16_ga16_gw16_84_f32", "lowbit_cpu_kv_append_16_b4_g16_l8", "lowbit_cpu_kv_attention_16_h1_kv1_b4_g16_l8", "lowbit_cpu_linear_8x16"]}
// PROFILE-LABEL: func.func @lowbit_prefill(
// PROFILE-SAME: %[[TICKS:[a-z0-9]+]]: memref<?xi64>) attributes {llvm.emit_c_interface}
// PROFILE: %[[START:.*]] = llvm.call_intrinsic "llvm.readcyclecounter"() : () -> i64
// PROFILE: memref.store %[[START]], %[[TICKS]][%{{.*}}] : memref<?xi64>
// PROFILE: call @lowbit_cpu_embedding_8x32
// PROFILE-NEXT: %[[AFTER:.*]] = llvm.call_intrinsic "llvm.readcyclecounter"() : () -> i64
// BAD-COUNTER: error: lowbit-convert-to-cpu: unknown profile-counter 'wallclock' (known: none, cycle, steady)

// LLVM-LABEL: llvm.func @lowbit_prefill(
// LLVM: llvm.func @_mlir_ciface_lowbit_prefill(
// LLVM-NOT: memref.
// LLVM-NOT: scf.

module attributes {lowbit.checkpoint = "tiny.gguf"} {
  func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index, %cache: !cache) -> (tensor<?x8xf32>, !cache) {
    %table = lowbit.weight "token_embd.weight" : tensor<8x32xf32>
    %x = lowbit.embedding %table[%tokens] : tensor<8x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
    %a = lowbit.quantize %x : tensor<?x32xf32> -> !act
    %wk = lowbit.weight "blk.0.attn_k.weight" : tensor<16x32xf32>
    %qk = lowbit.quantize %wk : tensor<16x32xf32> -> !w
    %k = lowbit.matmul %a, %qk : !act, !w -> tensor<?x16xf32>
    %wv = lowbit.weight "blk.0.attn_v.weight" : tensor<16x32xf32>
    %qv = lowbit.quantize %wv : tensor<16x32xf32> -> !w
    %v = lowbit.matmul %a, %qv : !act, !w -> tensor<?x16xf32>
    %c = lowbit.kv_append %k, %v into %cache at %start : tensor<?x16xf32>, tensor<?x16xf32> -> !cache
    %o = lowbit.kv_attention %k, %c at %start {num_heads = 1 : i64} : tensor<?x16xf32>, !cache
    %head = lowbit.weight "output.weight" : tensor<8x16xf32>
    %logits = lowbit.linear %o, %head : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x8xf32>
    return %logits, %c : tensor<?x8xf32>, !cache
  }
}
