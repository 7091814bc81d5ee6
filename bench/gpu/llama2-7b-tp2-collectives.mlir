// The all-reduces of Llama-2-7B's row-parallel layers at TP = 2 (f16
// partial results of 4096 channels), in every wire format the benchmark
// measures: lowbit-compile generates their pack and decode-and-sum kernels,
// and lowbit-bench-collectives checks them against the runtime's wire
// format and times them around NCCL's all-gather.

lowbit.rank_group @tp [0, 1]

func.func @partial_results(%partial: tensor<?x4096xf16>)
    -> (tensor<?x4096xf16>, tensor<?x4096xf16>, tensor<?x4096xf16>,
        tensor<?x4096xf16>, tensor<?x4096xf16>, tensor<?x4096xf16>,
        tensor<?x4096xf16>, tensor<?x4096xf16>) {
  %fp4_8 = lowbit.all_reduce %partial over @tp wire <fp4_e2m1, block = 8, scale = f16> : tensor<?x4096xf16>
  %fp4_16 = lowbit.all_reduce %partial over @tp wire <fp4_e2m1, block = 16, scale = f16> : tensor<?x4096xf16>
  %fp4_32 = lowbit.all_reduce %partial over @tp wire <fp4_e2m1, block = 32, scale = f16> : tensor<?x4096xf16>
  %fp4_e8m0 = lowbit.all_reduce %partial over @tp wire <fp4_e2m1, block = 32, scale = f8E8M0FNU> : tensor<?x4096xf16>
  %fp5_e2m2 = lowbit.all_reduce %partial over @tp wire <fp5_e2m2, block = 16, scale = f16> : tensor<?x4096xf16>
  %fp5_e3m1 = lowbit.all_reduce %partial over @tp wire <fp5_e3m1, block = 16, scale = bf16> : tensor<?x4096xf16>
  %int4 = lowbit.all_reduce %partial over @tp wire <int4, block = 16, scale = f16> : tensor<?x4096xf16>
  %int8 = lowbit.all_reduce %partial over @tp wire <int8, block = 32, scale = f16> : tensor<?x4096xf16>
  return %fp4_8, %fp4_16, %fp4_32, %fp4_e8m0, %fp5_e2m2, %fp5_e3m1, %int4, %int8
      : tensor<?x4096xf16>, tensor<?x4096xf16>, tensor<?x4096xf16>,
        tensor<?x4096xf16>, tensor<?x4096xf16>, tensor<?x4096xf16>,
        tensor<?x4096xf16>, tensor<?x4096xf16>
}
