// Llama-2-7B's fused query/key/value projection (12288 x 4096) in W4Ax,
// with the activation and weight layouts of
// examples/llama2-7b-decoder-layer.mlir: the one GEMM shape of the
// benchmark that the decoder layer example (separate q, k, v) lacks.
// scripts/gpu-check.sh compiles it with lowbit-compile.
#act_4096 = #lowbit.blocks<128, [8, 8, 8, 8, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_token>
#w4_4096 = #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_group = 128>
!act_4096 = !lowbit.qtensor<?x4096, f16, #act_4096>
!wq_qkv = !lowbit.qtensor<12288x4096, f16, #w4_4096>

func.func @fused_qkv(%x: !act_4096, %w: !wq_qkv) -> tensor<?x12288xf16> {
  %qkv = lowbit.matmul %x, %w : !act_4096, !wq_qkv -> tensor<?x12288xf16>
  return %qkv : tensor<?x12288xf16>
}
