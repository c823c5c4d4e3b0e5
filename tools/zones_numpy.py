#!/usr/bin/env python3
"""The latent-flow encode forward in numpy float32: the bar `lzn bench zones --device cpu` is measured against.

Same workload as `lzn bench zones` (src/LZN.Native/Diagnostics/ZoneWorkload.cs): the queries are the first B of
N anchors (d dims), prior noise scale 0.45, eps 1e-4, K Euler steps of the velocity (x - m) / t with
m = softmax_j(s (x . a_j - (c/2) |a_j|^2)) a_j, c = 1 - t, s = c / t^2; the logits of all rows at once (one GEMM),
the softmax in place, the weighted mean as a second GEMM. Prints the median and minimum of the timed runs.
"""
import argparse
import time

import numpy as np


def encode(anchors, queries, noise, steps, eps=1e-4, noise_scale=0.45):
    sq_norms = np.einsum("nd,nd->n", anchors, anchors)
    x = (eps * noise_scale * noise + (1 - eps) * queries).astype(np.float32)
    t = np.float32(eps)
    h = np.float32((1 - eps) / steps)
    for _ in range(steps):
        c = 1 - t
        s = c / (t * t)
        logits = x @ anchors.T
        logits *= s
        logits -= (s * c / 2) * sq_norms
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        mean = logits @ anchors
        x += h * (x - mean) / t
        t = np.float32(t + h)
    return x


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", required=True, help="B,N,d,K")
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    rows, anchor_count, dim, steps = (int(v) for v in options.size.split(","))
    rng = np.random.default_rng(1)
    anchors = rng.standard_normal((anchor_count, dim), dtype=np.float32)
    noise = rng.standard_normal((rows, dim), dtype=np.float32)
    queries = anchors[:rows].copy()
    encode(anchors, queries, noise, steps)  # warm-up
    times = []
    for _ in range(options.runs):
        start = time.perf_counter()
        encode(anchors, queries, noise, steps)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    print(f"numpy {options.size} median {times[len(times) // 2]:.2f} ms min {times[0]:.2f} ms")


if __name__ == "__main__":
    main()
