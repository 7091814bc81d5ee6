#!/usr/bin/env python3
"""cuBLAS peers of the matmul benchmark, timed the same way.

For each Llama-2-7B linear shape (fused QKV included) and token count: fp16
`F.linear` (cuBLAS GEMM/GEMV) and int8 `torch._int_mm` (cuBLASLt; it needs
more than 16 rows, so small token counts are padded to 32 rows and say so). Weights rotate through
copies that overflow the L2 cache, as lowbit-bench-matmul does, and CUDA
events time a loop of calls. Prints markdown rows.
"""
import sys

import torch

ROTATION_BYTES = 512 << 20
SHAPES = [(4096, 4096), (12288, 4096), (11008, 4096), (4096, 11008)]


def time_us(call, copies, iterations):
    for i in range(copies):
        call(i)
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for i in range(iterations):
        call(i % copies)
    stop.record()
    stop.synchronize()
    return 1000.0 * start.elapsed_time(stop) / iterations


def main():
    tokens_list = [int(t) for t in (sys.argv[1] if len(sys.argv) > 1 else "1,4,16").split(",")]
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"{iterations} iterations per case\n")
    print("| N | K | tokens | peer | us | GB/s (weights) | TOPS |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n, k in SHAPES:
        copies16 = max(1, ROTATION_BYTES // (n * k * 2))
        w16 = [torch.randn(n, k, device="cuda", dtype=torch.float16) for _ in range(copies16)]
        copies8 = max(1, ROTATION_BYTES // (n * k))
        w8 = [torch.randint(-127, 128, (k, n), device="cuda", dtype=torch.int8).t().contiguous().t()
              for _ in range(copies8)]
        for tokens in tokens_list:
            x16 = torch.randn(tokens, k, device="cuda", dtype=torch.float16)
            us = time_us(lambda i: torch.nn.functional.linear(x16, w16[i]), copies16, iterations)
            tops = 2 * tokens * n * k / us / 1e6
            print(f"| {n} | {k} | {tokens} | cuBLAS fp16 | {us:.2f} | {n * k * 2 / us / 1e3:.0f} | {tops:.1f} |")
            rows = max(tokens, 32)
            x8 = torch.randint(-127, 128, (rows, k), device="cuda", dtype=torch.int8)
            us = time_us(lambda i: torch._int_mm(x8, w8[i]), copies8, iterations)
            padded = f" (M padded to {rows})" if rows != tokens else ""
            tops = 2 * tokens * n * k / us / 1e6
            print(f"| {n} | {k} | {tokens} | cuBLASLt int8{padded} | {us:.2f} | {n * k / us / 1e3:.0f} | {tops:.1f} |")
        del w16, w8
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
