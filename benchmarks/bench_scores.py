"""Anomaly-score cost: each score of a fitted model on N rows, and the
neighbours score's kernel against the NumPy search it replaced (float32
GEMM by blocks of 1024 rows + argpartition + exact float64 distances), same
run, same threads.

    PYAE_DATA_DIR=../shared/datasets python benchmarks/bench_scores.py [--rows 20000]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import pyae
from pyae import _core

from machine import cpu_model
from timing import median_time


def exact_neighbours(codes, bank, k):
    """Mean distance to the k nearest, all in float64 (blocks of 1024 rows)."""
    bank64 = bank.astype(np.float64)
    bank_sq = np.einsum("ij,ij->i", bank64, bank64)
    out = np.empty(len(codes))
    for a in range(0, len(codes), 1024):
        block = codes[a:a + 1024]
        d2 = np.maximum(bank_sq[None, :] - 2.0 * block @ bank64.T +
                        np.einsum("ij,ij->i", block, block)[:, None], 0.0)
        out[a:a + 1024] = np.sqrt(np.partition(d2, k, axis=1)[:, :k]).mean(axis=1)
    return out


def numpy_neighbours(codes, bank, k):
    """The NumPy baseline: the same candidates and exact distances."""
    bank_sq = np.einsum("ij,ij->i", bank, bank)
    bank64 = bank.astype(np.float64)
    out = np.empty(len(codes))
    for a in range(0, len(codes), 1024):
        block = codes[a:a + 1024]
        b32 = block.astype(np.float32)
        d2 = bank_sq[None, :] - 2.0 * b32 @ bank.T
        idx = np.argpartition(d2, k, axis=1)[:, :k + 1]
        near = np.sqrt(((block[:, None, :] - bank64[idx]) ** 2).sum(axis=2))
        near.sort(axis=1)
        out[a:a + 1024] = near[:, :k].mean(axis=1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    data_dir = os.environ.get("PYAE_DATA_DIR")
    if data_dir:
        X, _ = pyae.datasets.load_fashion_mnist("train", data_dir=data_dir, download=False)
        source = "Fashion-MNIST train"
    else:
        X, source = np.random.default_rng(0).random((60000, 784), dtype=np.float32), "random"
    print(f"CPU: {cpu_model()}; pyae {pyae.__version__} ({pyae.simd_level()}), "
          f"{pyae.get_num_threads()} threads; {source}")
    fit_rows, rows = X[:20000], X[-args.rows:]
    model = pyae.Autoencoder(hidden=(256, 64), epochs=1, verbose=False, seed=0).fit(fit_rows)
    for name, bank, queries in (("codes", model.outlier_stats_["code_bank"], model.transform),
                                ("first-layer outputs", model.outlier_stats_["hidden_bank"],
                                 lambda r: model._forward(r, 0, 1, r.shape[1]))):
        codes = np.asarray(queries(rows), dtype=np.float64)
        ours = median_time(lambda: _core.nearest_mean_distance(codes, bank, 5), args.repeats)
        base = median_time(lambda: numpy_neighbours(codes, bank, 5), args.repeats)
        # How many rows each gets off the exact search: the NumPy search takes
        # float32's k + 1 best as they are, and can miss a near tie.
        exact = exact_neighbours(codes, bank, 5)
        off = [int(np.sum(~np.isclose(f(codes, bank, 5), exact, rtol=1e-9)))
               for f in (_core.nearest_mean_distance, numpy_neighbours)]
        print(f"\nneighbours search, {args.rows} {name} of width {codes.shape[1]} against a bank "
              f"of {len(bank)}: pyae kernel {1e3 * ours:.0f} ms, NumPy {1e3 * base:.0f} ms "
              f"-> {base / ours:.1f}x; rows off the exact search: {off[0]} and {off[1]}")
    print(f"\nscore_samples of {args.rows} rows (784-256-64-256-784 AE), median of "
          f"{args.repeats}:")
    for kind in model.anomaly_scores():
        model.set_params(anomaly_score=kind)
        s = median_time(lambda: model.score_samples(rows), args.repeats)
        print(f"  {kind:<16}{1e3 * s:>8.0f} ms  ({args.rows / s:,.0f} rows/s)")


if __name__ == "__main__":
    main()
