// RUN: lowbit-opt %s --lowbit-compress-collectives='algorithm=reduce-scatter block-size=32' -split-input-file -verify-diagnostics
// RUN: not lowbit-opt %s --lowbit-compress-collectives='format=int3' -split-input-file 2>&1 | FileCheck %s --check-prefix=FORMAT
// RUN: not lowbit-opt %s --lowbit-compress-collectives='scale=f8' -split-input-file 2>&1 | FileCheck %s --check-prefix=SCALE
// RUN: not lowbit-opt %s --lowbit-compress-collectives='block-size=12' -split-input-file 2>&1 | FileCheck %s --check-prefix=BLOCK
// RUN: not lowbit-opt %s --lowbit-compress-collectives='algorithm=ring' -split-input-file 2>&1 | FileCheck %s --check-prefix=ALGORITHM
// RUN: not lowbit-opt %s --lowbit-compress-collectives='layer-formats=first:int8' -split-input-file 2>&1 | FileCheck %s --check-prefix=ENTRY
// RUN: not lowbit-opt %s --lowbit-compress-collectives='layer-formats=0:int8-32-f16-x' -split-input-file 2>&1 | FileCheck %s --check-prefix=ENTRY
// RUN: not lowbit-opt %s --lowbit-compress-collectives='layer-formats=0:int3' -split-input-file 2>&1 | FileCheck %s --check-prefix=LAYER-FORMAT
// RUN: not lowbit-opt %s --lowbit-compress-collectives='exclude-layers=0 layer-formats=0:int8' -split-input-file 2>&1 | FileCheck %s --check-prefix=BOTH
// RUN: not lowbit-opt %s --lowbit-compress-collectives='layer-formats=0:int8,0:int4' -split-input-file 2>&1 | FileCheck %s --check-prefix=TWICE
// RUN: not lowbit-opt %s --lowbit-compress-collectives='layer-formats=7:int8' -split-input-file 2>&1 | FileCheck %s --check-prefix=RANGE

// FORMAT: unknown wire format 'int3' (known: fp4_e2m1, fp5_e2m2, fp5_e3m1, int4, int8)
// SCALE: unknown wire scale type 'f8' (known: f16, bf16, f32, e8m0)
// BLOCK: wire block size 12 is not one of 8, 16, 32
// ALGORITHM: unknown algorithm 'ring' (known: all-gather, reduce-scatter)
// ENTRY: layer format '{{.*}}' is not LAYER:ELEMENT[-BLOCK[-SCALE]] (e.g. 0:int8-32-f16)
// LAYER-FORMAT: unknown wire format 'int3'
// BOTH: layer 0 is both excluded and given a format
// TWICE: layer 0 is given two formats
// RANGE: layer-formats names layer 7, but this function has {{[0-9]+}} decoder layers

lowbit.rank_group @tp [0, 1, 2, 3]

func.func @slices_split_blocks(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{cannot reduce-scatter: 64 channels do not split into 4 slices of whole wire blocks of 32}}
  %0 = lowbit.all_reduce %x over @tp : tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

lowbit.rank_group @tp [0, 1]

func.func @blocks_do_not_tile(%x: tensor<?x48xf32>) -> tensor<?x48xf32> {
  // expected-error @+1 {{cannot compress: wire blocks of 32 do not tile 48 channels}}
  %0 = lowbit.all_reduce %x over @tp : tensor<?x48xf32>
  return %0 : tensor<?x48xf32>
}
