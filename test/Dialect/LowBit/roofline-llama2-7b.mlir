// The Llama-2-7B layer of examples/ on the H100 model, as docs/roofline.md
// shows it: when the example or the cost model changes, these totals and the
// tables in the docs change together.
// RUN: lowbit-opt %lowbit_src/examples/llama2-7b-decoder-layer.mlir -o /dev/null --lowbit-roofline="hw=h100-sxm hw-dir=%lowbit_src/share/lowbit/hardware phase=decode context=2048" | FileCheck %s --check-prefix=DECODE
// RUN: lowbit-opt %lowbit_src/examples/llama2-7b-decoder-layer.mlir -o /dev/null --lowbit-roofline="hw=h100-sxm hw-dir=%lowbit_src/share/lowbit/hardware phase=prefill seq=2048" | FileCheck %s --check-prefix=PREFILL

// f16 weights of one layer: 4*4096*4096*2 + 3*11008*4096*2 + 2*4096*2 bytes
// = 404766720; W4 g128: 4*4096*(2048 + 32*2) + 2*11008*(2048 + 64)
// + 4096*(5504 + 86*2) + 2*4096*2 = 104366080. The KV cache at 2048
// positions: f16 2048*2*4096*2 = 33554432, KV4 2048*4608 = 9437184.

// DECODE-LABEL: == @decoder_layer_fp16 | decode
// DECODE: total 437248 438304768 - - - 438707208 - 1.00 memory 130.957
// DECODE-NEXT: footprint: weights 404766720 B, KV cache 33554432 B
// DECODE-LABEL: == @decoder_layer_w4ax_kv4 | decode
// DECODE: total 22052096 33554432 - 47710208 357040128 114186656 - 4.03 memory 34.086
// DECODE-NEXT: footprint: weights 104366080 B, KV cache 9437184 B

// PREFILL-LABEL: == @decoder_layer_fp16 | prefill
// PREFILL: lowbit.linear {{.*}} M=2048 N=11008 K=4096 f16 - 184683593728 - - - 152043520 - 1214.68 compute(fp16) 186.643
// PREFILL: total 560103424 863305203712 - - - 1228963840 - 702.92 compute 1008.011
// PREFILL-LABEL: == @decoder_layer_w4ax_kv4 | prefill
// PREFILL: lowbit.matmul {{.*}} M=2048 N=11008 K=4096 A4/8(4 of 32) W4 g128 2164260864 - - 23085449216 161598144512 73187328 - 2553.01 compute(int8) 125.624
// PREFILL: total 10484350976 34376515584 - 97710505984 731218182144 898990080 - 971.97 compute 763.794
