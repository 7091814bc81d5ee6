// RUN: lowbit-opt %s --lowbit-compress-collectives | FileCheck %s --check-prefix=DEFAULT
// RUN: lowbit-opt %s --lowbit-compress-collectives='format=int8 block-size=32 scale=e8m0 compress-decode=true' | FileCheck %s --check-prefix=INT8
// RUN: lowbit-opt %s --lowbit-compress-collectives='format=fp5_e2m2 block-size=8 algorithm=reduce-scatter' | FileCheck %s --check-prefix=SCATTER
// RUN: lowbit-opt %s --lowbit-compress-collectives='exclude-layers=1' | FileCheck %s --check-prefix=EXCLUDE
// RUN: lowbit-opt %s --lowbit-compress-collectives='layer-formats=0:int8-32,1:fp5_e3m1' | FileCheck %s --check-prefix=LAYERS
// RUN: lowbit-opt %s --lowbit-compress-collectives='block-size=8 scale=bf16 exclude-layers=0 layer-formats=1:int4--e8m0' | FileCheck %s --check-prefix=MIXED

// The all-reduces of two decoder layers, sharded over two ranks: partial
// results of the attention and MLP of layer 0, then of layer 1.

lowbit.rank_group @tp [0, 1]

// DEFAULT-LABEL: func.func @prefill
// DEFAULT-COUNT-4: lowbit.all_reduce %{{.*}} over @tp wire <fp4_e2m1, block = 16, scale = f16> : tensor<?x64xf32>
// Gathers of whole activations are not partial results: they stay exact.
// DEFAULT: lowbit.all_gather %{{.*}} over @tp along 1 : tensor<?x16xf32> -> tensor<?x32xf32>
// DEFAULT-LABEL: func.func @decode
// DEFAULT-NOT: wire

// INT8-LABEL: func.func @prefill
// INT8-COUNT-4: lowbit.all_reduce %{{.*}} over @tp wire <int8, block = 32, scale = f8E8M0FNU>
// INT8-LABEL: func.func @decode
// INT8: lowbit.all_reduce %{{.*}} over @tp wire <int8, block = 32, scale = f8E8M0FNU> : tensor<1x64xf32>

// SCATTER-LABEL: func.func @prefill
// SCATTER: %[[SLICE:.*]] = lowbit.reduce_scatter %{{.*}} over @tp along 1 wire <fp5_e2m2, block = 8, scale = f16> : tensor<?x64xf32> -> tensor<?x32xf32>
// SCATTER: %[[SUM:.*]] = lowbit.all_gather %[[SLICE]] over @tp along 1 wire <fp5_e2m2, block = 8, scale = f16> : tensor<?x32xf32> -> tensor<?x64xf32>
// SCATTER: arith.addf %{{.*}}, %[[SUM]]
// SCATTER-NOT: lowbit.all_reduce
// SCATTER-LABEL: func.func @decode

// EXCLUDE-LABEL: func.func @prefill
// EXCLUDE-COUNT-2: lowbit.all_reduce %{{.*}} over @tp wire <fp4_e2m1, block = 16, scale = f16>
// EXCLUDE-COUNT-2: lowbit.all_reduce %{{.*}} over @tp : tensor<?x64xf32>
// Layer formats replace the format of their layers' two all-reduces; what
// an entry leaves out comes from the other options.
// LAYERS-LABEL: func.func @prefill
// LAYERS-COUNT-2: lowbit.all_reduce %{{.*}} over @tp wire <int8, block = 32, scale = f16>
// LAYERS-COUNT-2: lowbit.all_reduce %{{.*}} over @tp wire <fp5_e3m1, block = 16, scale = f16>
// LAYERS-LABEL: func.func @decode
// LAYERS-NOT: wire
// MIXED-LABEL: func.func @prefill
// MIXED-COUNT-2: lowbit.all_reduce %{{.*}} over @tp : tensor<?x64xf32>
// MIXED-COUNT-2: lowbit.all_reduce %{{.*}} over @tp wire <int4, block = 8, scale = f8E8M0FNU>
func.func @prefill(%x: tensor<?x64xf32>, %logits: tensor<?x16xf32>) -> (tensor<?x64xf32>, tensor<?x32xf32>) {
  %a0 = lowbit.all_reduce %x over @tp : tensor<?x64xf32>
  %h0 = arith.addf %x, %a0 : tensor<?x64xf32>
  %m0 = lowbit.all_reduce %h0 over @tp : tensor<?x64xf32>
  %y0 = arith.addf %h0, %m0 : tensor<?x64xf32>
  %a1 = lowbit.all_reduce %y0 over @tp : tensor<?x64xf32>
  %h1 = arith.addf %y0, %a1 : tensor<?x64xf32>
  %m1 = lowbit.all_reduce %h1 over @tp : tensor<?x64xf32>
  %y1 = arith.addf %h1, %m1 : tensor<?x64xf32>
  %all = lowbit.all_gather %logits over @tp along 1 : tensor<?x16xf32> -> tensor<?x32xf32>
  return %y1, %all : tensor<?x64xf32>, tensor<?x32xf32>
}

func.func @decode(%x: tensor<1x64xf32>) -> tensor<1x64xf32> {
  %a0 = lowbit.all_reduce %x over @tp : tensor<1x64xf32>
  return %a0 : tensor<1x64xf32>
}
