"""The roofline of each instruction path, measured: peaks.cpp (compiled here
with g++) times a register-resident loop of each path's multiply-accumulate
on one core, and pyae's bf16 GEMM on that path (256 x 256 x 784, one
thread, both operands packed per call as in training) runs in the same run,
as a share of that peak.

    python benchmarks/bench_peaks.py
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import pyae
from pyae import _core
from machine import cpu_model

SOURCE = Path(__file__).resolve().with_name("peaks.cpp")
M, N, K = 256, 256, 784


def peaks() -> dict:
    if shutil.which("g++") is None:
        raise SystemExit("bench_peaks needs g++ to build peaks.cpp")
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "peaks"
        subprocess.run(["g++", "-O2", "-std=c++20", str(SOURCE), "-o", str(exe)], check=True)
        out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {name: float(value) for name, value in (line.split() for line in out.splitlines())}


def median_gflops(fn, flops, repeats=30):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return flops / statistics.median(times) / 1e9


def main():
    pyae.set_num_threads(1)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    flops = 2.0 * M * N * K
    print(f"# {cpu_model()}; {pyae.cpu_features()}; one core; GEMM {M} x {N} x {K}")
    peak = peaks()
    ours = {}
    for path, ok in _core.bf16_paths().items():
        if ok:
            ours[{"avx512_bf16": "avx512_bf16", "amx": "amx_bf16"}[path]] = median_gflops(
                lambda: _core.bf16_gemm(a, b, path=path), flops)
    print(f"{'path':>18} {'peak G(FL)OP/s':>15} {'pyae GEMM':>10} {'share':>6}")
    for name, value in peak.items():
        mine = ours.get(name)
        cells = f"{mine:>10.0f} {100 * mine / value:>5.0f}%" if mine else f"{'':>10} {'':>6}"
        print(f"{name:>18} {value:>15.0f} {cells}")
    print("(fp32: pyae's fp32 GEMMs are OpenBLAS's and its packed inference kernel; "
          "bench_roofline.py measures them. int8: GOP/s; its GEMM runs on weights quantised "
          "once, timed at the model level by bench_precision.py)")


if __name__ == "__main__":
    main()
