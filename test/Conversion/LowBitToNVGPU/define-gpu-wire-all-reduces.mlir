// RUN: lowbit-opt %s --lowbit-convert-to-cpu=isa=nvgpu | FileCheck %s --check-prefix=NVGPU
// RUN: lowbit-opt %s --lowbit-convert-to-cpu=isa=nvgpu --lowbit-define-gpu-wire-all-reduces=chip=sm_90 | FileCheck %s --check-prefix=DEFINED

// A compressed all-reduce of a GPU model (lowbit-compress-collectives) is
// a call of a declaration with its wire format; the pass defines it as the
// pack kernel, an all-gather of the messages and the decode-and-sum kernel.

lowbit.rank_group @tp [0, 1]

// NVGPU-LABEL: func.func @lowbit_prefill(
// NVGPU: call @lowbit_nvgpu_wire_all_reduce_fp4_e2m1_b16_f16_n2(%{{.*}}, %{{.*}}, %{{.*}}) : (memref<?xi8>, memref<?xi8>, memref<?xi8>) -> ()
// NVGPU-LABEL: func.func private @lowbit_nvgpu_wire_all_reduce_fp4_e2m1_b16_f16_n2(memref<?xi8>, memref<?xi8>, memref<?xi8>)
// NVGPU-SAME: lowbit.gpu_wire_all_reduce = #lowbit.wire<fp4_e2m1, block = 16, scale = f16>
// NVGPU-SAME: lowbit.ranks = 2 : i64

// The definition packs this rank's message at the start of the workspace,
// gathers every rank's after it, and sums them.
// DEFINED-LABEL: func.func private @lowbit_nvgpu_wire_all_reduce_fp4_e2m1_b16_f16_n2(
// DEFINED-SAME: %[[PARTIALS:.*]]: memref<?xi8>, %[[WORKSPACE:.*]]: memref<?xi8>, %[[RESULT:.*]]: memref<?xi8>)
// DEFINED: %[[MESSAGE:.*]] = memref.view %[[WORKSPACE]][%{{.*}}][%[[BYTES:.*]]] : memref<?xi8> to memref<?xi8>
// DEFINED: %[[MESSAGES:.*]] = memref.view %[[WORKSPACE]][%[[BYTES]]][%{{.*}}] : memref<?xi8> to memref<?xi8>
// DEFINED: gpu.launch_func @lowbit_wire_kernels::@wire_pack_fp4_e2m1_b16_f16_f32 blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}}) args(%{{.*}} : memref<?xvector<4xf32>>, %[[MESSAGE]] : memref<?xi8>, %{{.*}} : i32)
// DEFINED: call @lowbit_collective_all_gather(
// DEFINED: gpu.launch_func @lowbit_wire_kernels::@wire_sum_fp4_e2m1_b16_f16_n2_f32 {{.*}} args(%[[MESSAGES]] : memref<?xi8>, %{{.*}} : memref<?xvector<4xf32>>, %{{.*}} : i32)
// DEFINED: gpu.module @lowbit_wire_kernels [#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">]
// DEFINED: gpu.func @wire_pack_fp4_e2m1_b16_f16_f32(
// DEFINED: gpu.func @wire_sum_fp4_e2m1_b16_f16_n2_f32(

func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x8xf32> {
  %table = lowbit.weight "token_embd.weight" : tensor<8x64xf32>
  %table.0 = lowbit.shard %table over @tp along 1 : tensor<8x64xf32> -> tensor<8x32xf32>
  %part = lowbit.embedding %table.0[%tokens] : tensor<8x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
  %x = lowbit.all_gather %part over @tp along 1 : tensor<?x32xf32> -> tensor<?x64xf32>
  %down = lowbit.weight "blk.0.ffn_down.weight" : tensor<64x64xf32>
  %down.0 = lowbit.shard %down over @tp along 1 : tensor<64x64xf32> -> tensor<64x32xf32>
  %up = lowbit.weight "blk.0.ffn_up.weight" : tensor<64x64xf32>
  %up.0 = lowbit.shard %up over @tp along 0 : tensor<64x64xf32> -> tensor<32x64xf32>
  %u = lowbit.linear %x, %up.0 : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  %half = lowbit.linear %u, %down.0 : tensor<?x32xf32>, tensor<64x32xf32> -> tensor<?x64xf32>
  %sum = lowbit.all_reduce %half over @tp wire <fp4_e2m1, block = 16, scale = f16> : tensor<?x64xf32>
  %h = arith.addf %x, %sum : tensor<?x64xf32>
  %head = lowbit.weight "output.weight" : tensor<8x64xf32>
  %head.0 = lowbit.shard %head over @tp along 0 : tensor<8x64xf32> -> tensor<4x64xf32>
  %logits.0 = lowbit.linear %h, %head.0 : tensor<?x64xf32>, tensor<4x64xf32> -> tensor<?x4xf32>
  %logits = lowbit.all_gather %logits.0 over @tp along 1 : tensor<?x4xf32> -> tensor<?x8xf32>
  return %logits : tensor<?x8xf32>
}
