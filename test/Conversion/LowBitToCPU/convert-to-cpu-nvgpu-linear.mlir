// RUN: lowbit-opt %s --lowbit-convert-to-cpu=isa=nvgpu | FileCheck %s

// An f32 linear on the GPU: up to 16 token rows a warp per tile of outputs
// (lanes splitting the input channels), more rows the tiled linear kernel
// through a declaration that lowbit-define-gpu-linears defines, where it
// takes the shape (128 outputs, 16 inputs). An LM head of 8 outputs keeps a
// thread per tile.
// CHECK-LABEL: func.func private @lowbit_cpu_linear_128x16(
// CHECK: %[[FEW:.*]] = arith.cmpi ule, %{{.*}}, %c16
// CHECK: scf.if %[[FEW]]
// CHECK: func.call @lowbit_nvgpu_linear_128x16(%arg0, %arg1, %arg2) : (memref<?x16xf32>, memref<16x128xf32>, memref<?x128xf32>) -> ()
// CHECK: func.func private @lowbit_nvgpu_linear_128x16(memref<?x16xf32>, memref<16x128xf32>, memref<?x128xf32>) attributes {lowbit.gpu_linear}
// CHECK-LABEL: func.func private @lowbit_cpu_linear_8x128(
// CHECK-NOT: lowbit_nvgpu_linear
// CHECK: return

module attributes {lowbit.checkpoint = "tiny.gguf"} {
  func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x8xf32> {
    %table = lowbit.weight "token_embd.weight" : tensor<8x16xf32>
    %x = lowbit.embedding %table[%tokens] : tensor<8x16xf32>, tensor<?xi32> -> tensor<?x16xf32>
    %up = lowbit.weight "up.weight" : tensor<128x16xf32>
    %h = lowbit.linear %x, %up : tensor<?x16xf32>, tensor<128x16xf32> -> tensor<?x128xf32>
    %head = lowbit.weight "output.weight" : tensor<8x128xf32>
    %logits = lowbit.linear %h, %head : tensor<?x128xf32>, tensor<8x128xf32> -> tensor<?x8xf32>
    return %logits : tensor<?x8xf32>
  }
}
