// An unquantized f32 LM head: lowbit-compile gives it the tiled linear
// kernel (test/Tools/lowbit-compile/ptxas.test).
func.func @lm_head(%x: tensor<?x64xf32>, %w: tensor<256x64xf32>) -> tensor<?x256xf32> {
  %y = lowbit.linear %x, %w : tensor<?x64xf32>, tensor<256x64xf32> -> tensor<?x256xf32>
  return %y : tensor<?x256xf32>
}
