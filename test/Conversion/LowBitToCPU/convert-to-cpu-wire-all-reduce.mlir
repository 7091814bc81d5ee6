// RUN: lowbit-opt %s --split-input-file --lowbit-convert-to-cpu | FileCheck %s

// A compressed all-reduce of a CPU model is a call of the runtime's
// lowbit_collective_all_reduce_wire_f32 with the wire format as numbers
// (runtime::WireElement, block size, runtime::WireScale): the runtime packs
// each rank's partial results into a message, exchanges the messages and
// sums the decoded ones in rank order.

lowbit.rank_group @tp [0, 1]

// CHECK-LABEL: func.func @lowbit_prefill(
// CHECK: %[[SEND:.*]] = memref.extract_aligned_pointer_as_index
// CHECK: %[[RECEIVE:.*]] = memref.extract_aligned_pointer_as_index
// CHECK-DAG: %[[FP4:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[BLOCK:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[F16:.*]] = arith.constant 0 : i64
// CHECK: call @lowbit_collective_all_reduce_wire_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[FP4]], %[[BLOCK]], %[[F16]]) : (i64, i64, i64, i64, i64, i64) -> ()
// CHECK-LABEL: func.func private @lowbit_collective_all_reduce_wire_f32(i64, i64, i64, i64, i64, i64)
func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x8xf32> {
  %table = lowbit.weight "token_embd.weight" : tensor<8x8xf32>
  %x = lowbit.embedding %table[%tokens] : tensor<8x8xf32>, tensor<?xi32> -> tensor<?x8xf32>
  %sum = lowbit.all_reduce %x over @tp wire <fp4_e2m1, block = 8, scale = f16> : tensor<?x8xf32>
  return %sum : tensor<?x8xf32>
}

// -----

lowbit.rank_group @tp [0, 1, 2, 3]

// INT8 in blocks of 32 with E8M0 scales: element 4, scale 3.
// CHECK-LABEL: func.func @lowbit_prefill(
// CHECK-DAG: %[[INT8:.*]] = arith.constant 4 : i64
// CHECK-DAG: %[[BLOCK:.*]] = arith.constant 32 : i64
// CHECK-DAG: %[[E8M0:.*]] = arith.constant 3 : i64
// CHECK: call @lowbit_collective_all_reduce_wire_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[INT8]], %[[BLOCK]], %[[E8M0]])
func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x64xf32> {
  %table = lowbit.weight "token_embd.weight" : tensor<8x64xf32>
  %x = lowbit.embedding %table[%tokens] : tensor<8x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %sum = lowbit.all_reduce %x over @tp wire <int8, block = 32, scale = f8E8M0FNU> : tensor<?x64xf32>
  return %sum : tensor<?x64xf32>
}
