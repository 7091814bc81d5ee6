// RUN: lowbit-opt %s --lowbit-convert-to-cpu | FileCheck %s
// RUN: lowbit-opt %s --lowbit-convert-to-cpu=isa=nvgpu | FileCheck %s --check-prefix=NVGPU

// A tiny model sharded over two ranks: weight slices are cut when the
// artifact is written (the plan records the slice), and collectives become
// calls of the runtime's collective functions, for CPU and GPU models alike.

lowbit.rank_group @tp [0, 1]

// CHECK: module attributes {
// CHECK-SAME: lowbit.cpu.tensor_parallel = 2 : i64
// CHECK-SAME: lowbit.cpu.weights = [{form = "f32", name = "token_embd.weight", offset = 0 : i64, shard = array<i64: 1, 2, 1>, source_shape = array<i64: 8, 64>, type = tensor<8x32xf32>},
// CHECK-SAME: {form = "transposed", name = "blk.0.ffn_up.weight", offset = 1024 : i64, shard = array<i64: 0, 2, 1>, source_shape = array<i64: 64, 64>, type = tensor<32x64xf32>}
// CHECK-SAME: {form = "transposed", name = "blk.0.ffn_down.weight", offset = 9216 : i64, shard = array<i64: 1, 2, 1>, source_shape = array<i64: 64, 64>, type = tensor<64x32xf32>}
// CHECK-SAME: {form = "transposed", name = "output.weight", offset = 17408 : i64, shard = array<i64: 0, 2, 1>, source_shape = array<i64: 8, 64>, type = tensor<4x64xf32>}
// CHECK-NOT: lowbit.rank_group

// CHECK-LABEL: func.func @lowbit_prefill(
// CHECK-SAME: %[[WEIGHTS:.*]]: memref<?xi8>, %[[STATE:.*]]: memref<?xi8>, %[[SCRATCH:.*]]: memref<?xi8>, %[[TOKENS:.*]]: memref<?xi32>, %[[POSITIONS:.*]]: memref<?xi32>, %[[START:.*]]: index, %[[LOGITS:.*]]: memref<?xi8>)
// CHECK: %[[N:.*]] = memref.dim %[[TOKENS]]
// CHECK: call @lowbit_cpu_embedding_8x32(%{{.*}}, %{{.*}}, %[[PART:[^)]*]])
// CHECK: %[[GATHERED:.*]] = memref.view %[[SCRATCH]][%{{.*}}][%{{.*}}] : memref<?xi8> to memref<?x32xf32>
// CHECK: %[[SEND:.*]] = memref.extract_aligned_pointer_as_index %[[PART]]
// CHECK: %[[RECEIVE:.*]] = memref.extract_aligned_pointer_as_index %[[GATHERED]]
// CHECK: call @lowbit_collective_all_gather(%{{.*}}, %{{.*}}, %{{.*}}) : (i64, i64, i64) -> ()
// CHECK: call @lowbit_cpu_interleave_ranks_2x32(%[[GATHERED]], %[[X:[^)]*]]) :
// CHECK: call @lowbit_cpu_linear_32x64(%[[X]], %{{.*}}, %[[UP:[^)]*]]) :
// CHECK: call @lowbit_cpu_linear_64x32(%[[UP]], %{{.*}}, %[[PARTIAL:[^)]*]]) :
// CHECK: %[[SUM:.*]] = memref.view %[[SCRATCH]]
// CHECK: memref.extract_aligned_pointer_as_index %[[PARTIAL]]
// CHECK: memref.extract_aligned_pointer_as_index %[[SUM]]
// CHECK: call @lowbit_collective_all_reduce_f32(
// CHECK: call @lowbit_cpu_add_64(%[[X]], %[[SUM]],
// CHECK: call @lowbit_cpu_linear_4x64(
// CHECK: %[[OUT:.*]] = memref.view %[[LOGITS]][%{{.*}}][%[[N]]] : memref<?xi8> to memref<?x8xf32>
// CHECK: call @lowbit_collective_all_gather(
// CHECK: call @lowbit_cpu_interleave_ranks_2x4(%{{.*}}, %[[OUT]])
// CHECK: return

// CHECK-LABEL: func.func private @lowbit_collective_all_gather(i64, i64, i64)
// CHECK-LABEL: func.func private @lowbit_cpu_interleave_ranks_2x32(
// CHECK: scf.parallel
// CHECK: arith.divui
// CHECK: arith.remui
// CHECK-LABEL: func.func private @lowbit_collective_all_reduce_f32(i64, i64, i64)

// The GPU model's host code calls the same functions.
// NVGPU-LABEL: func.func @lowbit_prefill(
// NVGPU: call @lowbit_collective_all_gather(
// NVGPU: call @lowbit_collective_all_reduce_f32(
// NVGPU: call @lowbit_collective_all_gather(

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
  %sum = lowbit.all_reduce %half over @tp : tensor<?x64xf32>
  %h = arith.addf %x, %sum : tensor<?x64xf32>
  %head = lowbit.weight "output.weight" : tensor<8x64xf32>
  %head.0 = lowbit.shard %head over @tp along 0 : tensor<8x64xf32> -> tensor<4x64xf32>
  %logits.0 = lowbit.linear %h, %head.0 : tensor<?x64xf32>, tensor<4x64xf32> -> tensor<?x4xf32>
  %logits = lowbit.all_gather %logits.0 over @tp along 1 : tensor<?x4xf32> -> tensor<?x8xf32>
  return %logits : tensor<?x8xf32>
}
