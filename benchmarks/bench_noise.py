"""Noise corruption speed: pyae vs NumPy vs PyTorch, one thread, same run.

A 1024 x 784 float32 batch (one MNIST-sized mini-batch of 1024) is corrupted
with Gaussian noise (std 0.5) and clipped to [0, 1]; salt-and-pepper and
masking are timed against their NumPy equivalents. Calls alternate between
the implementations round by round; medians in ns per element.

    python benchmarks/bench_noise.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import pyae
from pyae import _core


def timed_rounds(fns, rounds):
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=200)
    args = p.parse_args()

    import torch

    pyae.set_num_threads(1)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.random((1024, 784), dtype=np.float32)
    out = np.empty_like(X)
    Xt = torch.from_numpy(X)
    n = X.size
    gaussian = pyae.noise.Gaussian(0.5)
    sp, mask = pyae.noise.SaltAndPepper(0.2), pyae.noise.Masking(0.3)
    seeds = iter(range(10**9))

    def numpy_salt_and_pepper():
        u = rng.random(X.shape, dtype=np.float32)
        np.where(u < 0.1, 1.0, np.where(u < 0.2, 0.0, X))

    fns = {
        "gaussian: pyae kernel (preallocated out)":
            lambda: _core.corrupt(out, X, 1, 0.5, 0.0, 0.0, 1.0, next(seeds), 0, 0),
        "gaussian: pyae.noise.Gaussian(0.5)(X)": lambda: gaussian(X, seed=next(seeds)),
        "gaussian: NumPy standard_normal(float32)+scale+clip":
            lambda: np.clip(X + 0.5 * rng.standard_normal(X.shape, dtype=np.float32), 0, 1),
        "gaussian: PyTorch randn+scale+clamp":
            lambda: torch.clamp(Xt + 0.5 * torch.randn(Xt.shape), 0, 1),
        "salt-and-pepper: pyae kernel":
            lambda: _core.corrupt(out, X, *sp._kernel_args(), next(seeds), 0, 0),
        "salt-and-pepper: NumPy random+where": numpy_salt_and_pepper,
        "masking: pyae kernel":
            lambda: _core.corrupt(out, X, *mask._kernel_args(), next(seeds), 0, 0),
        "masking: NumPy random+where":
            lambda: np.where(rng.random(X.shape, dtype=np.float32) < 0.3, 0.0, X),
    }
    medians = timed_rounds(fns, args.rounds)
    print(f"# 1024 x 784 float32, 1 thread, median of {args.rounds} alternating rounds; "
          f"pyae {pyae.__version__} (Philox path: {_core.philox_path()}), NumPy {np.__version__}, "
          f"torch {torch.__version__}")
    ns = {k: v / n * 1e9 for k, v in medians.items()}
    print(f"{'implementation':<55} {'ns/element':>10} {'vs pyae kernel':>15}")
    for name, value in ns.items():
        kind = name.split(":")[0]
        ref = ns[f"{kind}: pyae kernel" + (" (preallocated out)" if kind == "gaussian" else "")]
        print(f"{name:<55} {value:>10.3f} {value / ref:>14.2f}x")


if __name__ == "__main__":
    main()
