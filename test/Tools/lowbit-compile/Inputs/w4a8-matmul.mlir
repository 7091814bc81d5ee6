// A W4A8 matmul with a weight scale per 64 channels.
!act = !lowbit.qtensor<?x256, f16, #lowbit.blocks<128, [8, 4], per_token>>
!w = !lowbit.qtensor<64x256, f16, #lowbit.blocks<128, [4, 4], per_group = 64>>

func.func @decode(%a: !act, %w: !w) -> tensor<?x64xf32> {
  %y = lowbit.matmul %a, %w : !act, !w -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
