// RUN: lowbit-opt %s -o /dev/null --lowbit-roofline="hw=h100-sxm hw-dir=%lowbit_src/share/lowbit/hardware batch=1 phase=decode context=2048" | FileCheck %s
// RUN: lowbit-opt %s -o /dev/null --lowbit-roofline="hw=h100-sxm hw-dir=%lowbit_src/share/lowbit/hardware batch=1 phase=prefill seq=2048" | FileCheck %s --check-prefix=PREFILL
// RUN: lowbit-opt %s -o /dev/null --lowbit-roofline="hw=%lowbit_src/share/lowbit/hardware/h100-sxm.json phase=decode context=2048 format=csv" | FileCheck %s --check-prefix=CSV
// RUN: lowbit-opt %s -o /dev/null --lowbit-roofline="hw=h100-sxm hw-dir=%lowbit_src/share/lowbit/hardware phase=decode context=2048 format=json" | FileCheck %s --check-prefix=JSON
// RUN: lowbit-opt %s -o /dev/null --lowbit-roofline="hw=a100-sxm-80gb hw-dir=%lowbit_src/share/lowbit/hardware phase=prefill seq=2048" | FileCheck %s --check-prefix=A100

// Hand-derived roofline numbers of known shapes on the H100 SXM model:
// fp32 67 TFLOPS, fp16 989.5 TFLOPS, int8 1979 TOPS, no int4 peak (int4 runs
// at the int8 rate), 3350 GB/s memory, 450 GB/s NVLink each way.
// Columns: fp32 fp16 bf16 int8 int4 | bytes link_bytes ops/B bound time_us.

lowbit.rank_group @tp2 [0, 1]
lowbit.rank_group @tp4 [0, 1, 2, 3]

// fp16 4096x4096 linear at M=1 (decode).
//   fp16 ops = 2*M*N*K = 2*1*4096*4096                          = 33554432
//   bytes    = x 1*4096*2 + W 4096*4096*2 + y 1*4096*2
//            = 8192 + 33554432 + 8192                            = 33570816
//   time     = max(33554432 / 989.5e12, 33570816 / 3.35e12) s   = 10.021 us
// CHECK-LABEL: == @linear_fp16 | decode
// CHECK: #0 {{.*}}lowbit.linear {{.*}} M=1 N=4096 K=4096 f16 - 33554432 - - - 33570816 - 1.00 memory 10.021
// CHECK: footprint: weights 33554432 B, KV cache 0 B
// At prefill M=2048: 2*2048*4096*4096 = 68719476736 fp16 ops over
// 2048*4096*2 + 33554432 + 2048*4096*2 = 67108864 bytes (1024 ops/B):
// 68719476736 / 989.5e12 s = 69.449 us > 67108864 / 3.35e12 s = 20.032 us.
// PREFILL-LABEL: == @linear_fp16 | prefill
// PREFILL: lowbit.linear {{.*}} M=2048 N=4096 K=4096 f16 - 68719476736 - - - 67108864 - 1024.00 compute(fp16) 69.449
func.func @linear_fp16(%x: tensor<?x4096xf16>, %w: tensor<4096x4096xf16>) -> tensor<?x4096xf16> {
  %y = lowbit.linear %x, %w : tensor<?x4096xf16>, tensor<4096x4096xf16> -> tensor<?x4096xf16>
  return %y : tensor<?x4096xf16>
}

// The same projection in W4A8: 32 blocks of 128 channels, INT8 activations
// with a scale per token and block, INT4 weights with an f16 scale per 128.
//   int8 ops  = 2*1*4096*4096 (every block pair has an 8-bit side) = 33554432
//   fp32 ops  = epilogue: 3 (two scale products, one sum) per output and
//               scale run of 128 channels = 3*1*4096*(4096/128)     = 393216
//   bytes     = act 1*(4096 + 32*2) + W 4096*(4096/2 + 32*2) + y 1*4096*2
//             = 4160 + 8650752 + 8192                               = 8663104
//   time      = 8663104 / 3.35e12 s                                 = 2.586 us
// CHECK-LABEL: == @matmul_w4a8 | decode
// CHECK: lowbit.matmul {{.*}} M=1 N=4096 K=4096 A8 W4 g128 393216 - - 33554432 - 8663104 - 3.92 memory 2.586
// CHECK: footprint: weights 8650752 B, KV cache 0 B
func.func @matmul_w4a8(
    %x: !lowbit.qtensor<?x4096, f16, #lowbit.blocks<128, [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8], per_token>>,
    %w: !lowbit.qtensor<4096x4096, f16, #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_group = 128>>) -> tensor<?x4096xf16> {
  %y = lowbit.matmul %x, %w
      : !lowbit.qtensor<?x4096, f16, #lowbit.blocks<128, [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8], per_token>>,
        !lowbit.qtensor<4096x4096, f16, #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_group = 128>>
        -> tensor<?x4096xf16>
  return %y : tensor<?x4096xf16>
}

// The same matmul with asymmetric weights: 4 bits of zero point per scale
// group on top of the codes and scales.
//   W = 8650752 + 4096 rows * 32 groups / 2 = 8650752 + 65536 = 8716288
//   bytes = 8663104 + 65536 = 8728640
// CHECK-LABEL: == @matmul_w4a8_asymmetric | decode
// CHECK: lowbit.matmul {{.*}} M=1 N=4096 K=4096 A8 W4 g128 asym 393216 - - 33554432 - 8728640 -
// CHECK: footprint: weights 8716288 B, KV cache 0 B
func.func @matmul_w4a8_asymmetric(
    %x: !lowbit.qtensor<?x4096, f16, #lowbit.blocks<128, [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8], per_token>>,
    %w: !lowbit.qtensor<4096x4096, f16, #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_group = 128, asymmetric>>) -> tensor<?x4096xf16> {
  %y = lowbit.matmul %x, %w
      : !lowbit.qtensor<?x4096, f16, #lowbit.blocks<128, [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8], per_token>>,
        !lowbit.qtensor<4096x4096, f16, #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_group = 128, asymmetric>>
        -> tensor<?x4096xf16>
  return %y : tensor<?x4096xf16>
}

// W4A4 at a 2048-token prefill: Hopper has no INT4 peak, so the INT4 work
// runs at the INT8 rate and binds there.
//   int4 ops  = 2*2048*4096*4096                                   = 68719476736
//   fp32 ops  = 3*2048*4096*32                                     = 805306368
//   bytes     = act 2048*(2048 + 64) + W 8650752 + y 2048*4096*2
//             = 4325376 + 8650752 + 16777216                       = 29753344
//   compute   = 68719476736 / 1979e12 + 805306368 / 67e12 s
//             = 34.724 us + 12.020 us                              = 46.744 us
//   memory    = 29753344 / 3.35e12 s                               = 8.882 us
// PREFILL-LABEL: == @matmul_w4a4 | prefill
// PREFILL: lowbit.matmul {{.*}} M=2048 N=4096 K=4096 A4 W4 g128 805306368 - - - 68719476736 29753344 - 2336.70 compute(int8) 46.744
// On the A100, INT4 has its own peak (1248 TOPS), fp32 19.5 TFLOPS:
//   68719476736 / 1248e12 + 805306368 / 19.5e12 s = 55.064 + 41.298 us
//   = 96.361 us, and the INT4 part takes longest.
// A100-LABEL: == @matmul_w4a4 | prefill
// A100: lowbit.matmul {{.*}} compute(int4) 96.361
func.func @matmul_w4a4(
    %x: !lowbit.qtensor<?x4096, f16, #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_token>>,
    %w: !lowbit.qtensor<4096x4096, f16, #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_group = 128>>) -> tensor<?x4096xf16> {
  %y = lowbit.matmul %x, %w
      : !lowbit.qtensor<?x4096, f16, #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_token>>,
        !lowbit.qtensor<4096x4096, f16, #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_group = 128>>
        -> tensor<?x4096xf16>
  return %y : tensor<?x4096xf16>
}

// A checkpoint weight quantized at compile time costs nothing at run time
// and occupies its packed size; the activation is quantized per token.
//   quantize: fp32 ops = 3*4096 = 12288 (absmax, scale, round);
//             bytes = 1*4096*2 in + 4160 out = 12352
//   footprint: the packed weight, 8650752 B, not its 33554432 f16 bytes.
// CHECK-LABEL: == @checkpoint_weight_w4a8 | decode
// CHECK-NOT: lowbit.weight
// CHECK: #2 {{.*}}lowbit.quantize {{.*}} 1x4096 -> 8-bit per_token 12288 - - - - 12352 - 0.99 memory 0.004
// CHECK-NEXT: #3 {{.*}}lowbit.matmul {{.*}} 8663104
// CHECK-NEXT: total
// CHECK: footprint: weights 8650752 B, KV cache 0 B
func.func @checkpoint_weight_w4a8(%x: tensor<?x4096xf16>) -> tensor<?x4096xf16> {
  %w = lowbit.weight "blk.0.attn_q.weight" : tensor<4096x4096xf16>
  %wq = lowbit.quantize %w : tensor<4096x4096xf16> -> !lowbit.qtensor<4096x4096, f16, #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_group = 128>>
  %xq = lowbit.quantize %x : tensor<?x4096xf16> -> !lowbit.qtensor<?x4096, f16, #lowbit.blocks<128, [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8], per_token>>
  %y = lowbit.matmul %xq, %wq
      : !lowbit.qtensor<?x4096, f16, #lowbit.blocks<128, [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8], per_token>>,
        !lowbit.qtensor<4096x4096, f16, #lowbit.blocks<128, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], per_group = 128>>
        -> tensor<?x4096xf16>
  return %y : tensor<?x4096xf16>
}

// FMPQ reorders a checkpoint weight's input channels to match the permuted
// activation; permuting and quantizing the weight both happen at compile
// time, so neither has a row (the activation's permutation runs in the
// model: 8 f16 channels in and out, 32 B) and only the packed weight counts:
//   footprint: 8x8 4-bit codes 32 B + 8 rows * 2 groups of f16 scales 32 B = 64
// CHECK-LABEL: == @permuted_checkpoint_weight | decode
// CHECK-NEXT: # op
// CHECK-NEXT: #3 {{.*}}lowbit.permute_channels {{.*}} 8 channels {{.*}} 32 {{.*}} memory
// CHECK-NEXT: #4 {{.*}}lowbit.quantize
// CHECK-NEXT: #5 {{.*}}lowbit.matmul
// CHECK-NEXT: total
// CHECK: footprint: weights 64 B, KV cache 0 B
func.func @permuted_checkpoint_weight(%x: tensor<?x8xf16>) -> tensor<?x8xf16> {
  %w = lowbit.weight "blk.0.attn_q.weight" : tensor<8x8xf16>
  %wp = lowbit.permute_channels %w [5, 1, 0, 2, 3, 4, 6, 7] : tensor<8x8xf16>
  %wq = lowbit.quantize %wp : tensor<8x8xf16> -> !lowbit.qtensor<8x8, f16, #lowbit.blocks<4, [4, 4], per_group = 4>>
  %xp = lowbit.permute_channels %x [5, 1, 0, 2, 3, 4, 6, 7] : tensor<?x8xf16>
  %xq = lowbit.quantize %xp : tensor<?x8xf16> -> !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [8, 4], per_token>>
  %y = lowbit.matmul %xq, %wq
      : !lowbit.qtensor<?x8, f16, #lowbit.blocks<4, [8, 4], per_token>>,
        !lowbit.qtensor<8x8, f16, #lowbit.blocks<4, [4, 4], per_group = 4>>
        -> tensor<?x8xf16>
  return %y : tensor<?x8xf16>
}

// KV4 attention of one new token over a 2048-position context, 32 query and
// 32 KV heads of 128 (Llama-2-7B), groups of 32 with f16 scales.
//   scores   = heads * positions = 32*2048                          = 65536
//   fp16 ops = (2*128 for QK + 2*128 for PV) per score = 512*65536  = 33554432
//   fp32 ops = softmax 5*65536 + dequantize 2048*2*4096
//            = 327680 + 16777216                                   = 17104896
//   bytes    = q and out 2*4096*2 + 2048 positions * (2*4096/2 + 2*4096/32*2)
//            = 16384 + 2048*4608                                   = 9453568
//   time     = 9453568 / 3.35e12 s                                 = 2.822 us
//   footprint: 2048 positions * 4608 B                             = 9437184
// CHECK-LABEL: == @kv4_attention | decode
// CHECK: lowbit.kv_attention {{.*}} q=1 L=2048 H=32/32 d=128 KV4 g32 17104896 33554432 - - - 9453568 - 5.36 memory 2.822
// CHECK: footprint: weights 0 B, KV cache 9437184 B
func.func @kv4_attention(%q: tensor<?x4096xf16>, %pos: index,
    %cache: !lowbit.kv_cache<bits = 4, group = 32, heads = 32, head_dim = 128, max_len = 4096>) -> tensor<?x4096xf16> {
  %o = lowbit.kv_attention %q, %cache at %pos {num_heads = 32 : i64}
      : tensor<?x4096xf16>, !lowbit.kv_cache<bits = 4, group = 32, heads = 32, head_dim = 128, max_len = 4096>
  return %o : tensor<?x4096xf16>
}

// Appending one token's keys and values to the KV4 cache.
//   fp32 ops = 3 per stored element = 3*2*4096                      = 24576
//   bytes    = k and v in 2*4096*2 + one position 4608              = 20992
// CHECK-LABEL: == @kv4_append | decode
// CHECK: lowbit.kv_append {{.*}} 1 rows into KV4 g32 H=32 d=128 24576 - - - - 20992 - 1.17 memory 0.006
func.func @kv4_append(%k: tensor<?x4096xf16>, %v: tensor<?x4096xf16>, %pos: index,
    %cache: !lowbit.kv_cache<bits = 4, group = 32, heads = 32, head_dim = 128, max_len = 4096>)
    -> !lowbit.kv_cache<bits = 4, group = 32, heads = 32, head_dim = 128, max_len = 4096> {
  %c = lowbit.kv_append %k, %v into %cache at %pos
      : tensor<?x4096xf16>, tensor<?x4096xf16> -> !lowbit.kv_cache<bits = 4, group = 32, heads = 32, head_dim = 128, max_len = 4096>
  return %c : !lowbit.kv_cache<bits = 4, group = 32, heads = 32, head_dim = 128, max_len = 4096>
}

// An all-reduce over 2 ranks of one token's 4096 f16 partial sums, sent as
// FP4 e2m1 in blocks of 16 with an f16 scale: a quantized all-gather, each
// rank receiving the other N-1 partial results whole.
//   data      = 4096/16 blocks * (16*4 + 16) bits / 8 = 256 * 10       = 2560 B
//   link      = (N-1) * data = 1 * 2560                               = 2560 B
//   time      = 2560 / 450e9 s                                        = 0.006 us
// Uncompressed, a ring sends 2(N-1)/N * 4096*2 = 8192 B (0.018 us).
// CHECK-LABEL: == @all_reduce_fp4_tp2 | decode
// CHECK: lowbit.all_reduce {{.*}} all_reduce 1x4096 fp4_e2m1/16 f16 N=2 - - - - - 0 2560 - link 0.006
// CHECK-NEXT: lowbit.all_reduce {{.*}} all_reduce 1x4096 f16 N=2 - - - - - 0 8192 - link 0.018
func.func @all_reduce_fp4_tp2(%partial: tensor<?x4096xf16>) -> (tensor<?x4096xf16>, tensor<?x4096xf16>) {
  %compressed = lowbit.all_reduce %partial over @tp2 wire <fp4_e2m1, block = 16, scale = f16> : tensor<?x4096xf16>
  %plain = lowbit.all_reduce %partial over @tp2 : tensor<?x4096xf16>
  return %compressed, %plain : tensor<?x4096xf16>, tensor<?x4096xf16>
}

// Over 4 ranks the quantized all-gather receives 3 partial results,
// 3 * 2560 = 7680 B (0.017 us), and the ring 2*3/4 * 8192 = 12288 B
// (0.027 us): compression saves less than its 3.2x ratio as N grows.
// CHECK-LABEL: == @all_reduce_fp4_tp4 | decode
// CHECK: lowbit.all_reduce {{.*}} all_reduce 1x4096 fp4_e2m1/16 f16 N=4 - - - - - 0 7680 - link 0.017
// CHECK-NEXT: lowbit.all_reduce {{.*}} all_reduce 1x4096 f16 N=4 - - - - - 0 12288 - link 0.027
func.func @all_reduce_fp4_tp4(%partial: tensor<?x4096xf16>) -> (tensor<?x4096xf16>, tensor<?x4096xf16>) {
  %compressed = lowbit.all_reduce %partial over @tp4 wire <fp4_e2m1, block = 16, scale = f16> : tensor<?x4096xf16>
  %plain = lowbit.all_reduce %partial over @tp4 : tensor<?x4096xf16>
  return %compressed, %plain : tensor<?x4096xf16>, tensor<?x4096xf16>
}

// Norm and residual of one token: 4 fp32 ops per element for rms_norm
// (square, sum, scale by the reciprocal root, scale by the weight), 1 for
// the addition.
//   rms_norm: 4*4096 = 16384 ops, bytes 8192 in + 8192 weight + 8192 out = 24576
//   addf:       4096 ops,        bytes 2*8192 in + 8192 out              = 24576
// CHECK-LABEL: == @norm_residual | decode
// CHECK: lowbit.rms_norm {{.*}} 1x4096 f16 16384 - - - - 24576 - 0.67 memory
// CHECK-NEXT: arith.addf {{.*}} 1x4096 f16 4096 - - - - 24576 - 0.17 memory
func.func @norm_residual(%h: tensor<?x4096xf16>, %g: tensor<4096xf16>) -> tensor<?x4096xf16> {
  %n = lowbit.rms_norm %h, %g : tensor<?x4096xf16>, tensor<4096xf16>
  %r = arith.addf %h, %n : tensor<?x4096xf16>
  return %r : tensor<?x4096xf16>
}

// The other report formats carry the same numbers.
// CSV: function,phase,index,op,location,shape,fp32_ops,fp16_ops,bf16_ops,int8_ops,int4_ops,bytes,link_bytes,intensity,bound,time_us,weight_bytes,kv_cache_bytes
// CSV: matmul_w4a8,decode,0,lowbit.matmul,roofline.mlir:{{[0-9]+}}:{{[0-9]+}},M=1 N=4096 K=4096 A8 W4 g128,393216,0,0,33554432,0,8663104,0,3.92,memory,2.586,,
// CSV: matmul_w4a8,decode,,total,,,393216,0,0,33554432,0,8663104,0,3.92,memory,2.586,8650752,0
// JSON: "function": "kv4_attention",
// JSON: "shape": "q=1 L=2048 H=32/32 d=128 KV4 g32",
// JSON: "kv_cache_bytes": 9437184
