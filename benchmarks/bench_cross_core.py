"""What it costs one core to read what the other core just wrote: the
reason a sharded training step gives each shard its own fp32 weight packs.

One thread pinned to core 0 writes B (an 800 KB 784 x 256 float32 weight,
np.copyto), then a thread pinned to core 1 runs pyae's fp32 GEMM
(128 x 784 . 784 x 256, the forward of a 128-row shard) on it. The baseline,
in the same run: core 1 writes B itself before the same GEMM. Also timed: a
plain streaming read (numpy sum) of B after the other core wrote it, against
after core 1 wrote it.

    python benchmarks/bench_cross_core.py [--repeats 300]
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np

import pyae
from pyae import _core

from machine import cpu_model

M, K, N = 128, 784, 256


def timed_reads(writer_core, reader_core, work, repeats):
    """Median seconds of work() on reader_core, each after B was rewritten
    by writer_core (the two threads alternate, never overlap)."""
    rng = np.random.default_rng(0)
    source = rng.random((K, N), dtype=np.float32)
    b = source.copy()
    turn = [threading.Semaphore(0), threading.Semaphore(0)]
    times = []

    def write():
        os.sched_setaffinity(0, {writer_core})
        for _ in range(repeats):
            np.copyto(b, source)
            turn[1].release()
            turn[0].acquire()

    def read():
        os.sched_setaffinity(0, {reader_core})
        for _ in range(repeats):
            turn[1].acquire()
            t = time.perf_counter()
            work(b)
            times.append(time.perf_counter() - t)
            turn[0].release()

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=300)
    args = ap.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs two cores")
    cores = sorted(os.sched_getaffinity(0))[:2]
    a = np.random.default_rng(1).random((M, K), dtype=np.float32)
    c = np.empty((M, N), np.float32)
    if _core.fp32_gemm(a, np.zeros((K, N), np.float32), False, 0.0, c) is None:
        raise SystemExit("pyae's fp32 tile needs AVX-512")
    print(f"CPU: {cpu_model()}; pyae {pyae.__version__} ({pyae.simd_level()}); cores {cores}; "
          f"B {K} x {N} float32 ({K * N * 4 // 1024} KB); median of {args.repeats}")
    tasks = {
        f"fp32 GEMM {M} x {K} . {K} x {N}": lambda b: _core.fp32_gemm(a, b, False, 0.0, c),
        "streaming read of B (numpy sum)": lambda b: b.sum(),
    }
    for label, work in tasks.items():
        for _ in range(3):  # alternated: the machine's noise falls on both
            same = timed_reads(cores[1], cores[1], work, args.repeats)
            other = timed_reads(cores[0], cores[1], work, args.repeats)
            print(f"{label}: B written by the same core {1e6 * same:7.1f} us, by the other "
                  f"core {1e6 * other:7.1f} us -> {other / same:.2f}x "
                  f"({K * N * 4 / (other - same) / 1e9:.1f} GB/s for the difference)")


if __name__ == "__main__":
    main()
