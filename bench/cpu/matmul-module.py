#!/usr/bin/env python3
"""Writes a lowbit module with one W4 matmul of N outputs and K inputs
(activations INT4 with one INT8 outlier block of 128 channels, as FMPQ makes
them; weights INT4, one scale per 128 channels), the shape of one Llama
linear layer, for inspecting the generated CPU code.

usage: matmul-module.py N K > module.mlir
"""
import sys

outputs, inputs = int(sys.argv[1]), int(sys.argv[2])
blocks = inputs // 128
act_bits = ", ".join(["8"] + ["4"] * (blocks - 1))
weight_bits = ", ".join(["4"] * blocks)
print(f"""!act = !lowbit.qtensor<?x{inputs}, f16, #lowbit.blocks<128, [{act_bits}], per_token>>
!w = !lowbit.qtensor<{outputs}x{inputs}, f16, #lowbit.blocks<128, [{weight_bits}], per_group = 128>>
module {{
  func.func @prefill(%tokens: tensor<?xi32>, %positions: tensor<?xi32>, %start: index) -> tensor<?x{outputs}xf32> {{
    %table = lowbit.weight "token_embd.weight" : tensor<8x{inputs}xf32>
    %x = lowbit.embedding %table[%tokens] : tensor<8x{inputs}xf32>, tensor<?xi32> -> tensor<?x{inputs}xf32>
    %a = lowbit.quantize %x : tensor<?x{inputs}xf32> -> !act
    %w = lowbit.weight "blk.0.attn_q.weight" : tensor<{outputs}x{inputs}xf32>
    %qw = lowbit.quantize %w : tensor<{outputs}x{inputs}xf32> -> !w
    %y = lowbit.matmul %a, %qw : !act, !w -> tensor<?x{outputs}xf32>
    return %y : tensor<?x{outputs}xf32>
  }}
}}""")
