"""How a training step shares a batch between threads: rows against columns.

Network.step_split picks how a multi-threaded step divides its work (see
StepSplit in csrc/models/network.h): "rows" gives each thread a contiguous
shard of the batch with every weight (data parallel), "columns" gives each
thread a strip of every layer's outputs for the whole batch (model
parallel; a VAE's latent head on one thread). "auto" takes columns only
where shards of 64 rows would leave a thread idle. This benchmark is the
evidence for that rule: epochs over random rows of the 784-256-64-256-784
autoencoder (MSE) and of the 784-400-(20)-400-784 VAE (BCE), both splits on
the same model, alternated so machine noise hits both alike; medians, and
the ratio columns / rows (> 1: columns faster), per model, precision and
batch size.

    python benchmarks/bench_step_split.py [--threads 2] [--batches 32 64 128 256 1024]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import pyae
from machine import cpu_model

ROWS = 8192
MODELS = {
    "AE": lambda **kw: pyae.Autoencoder(hidden=(256, 64), **kw),
    "VAE": lambda **kw: pyae.VAE(hidden=(400,), latent_dim=20, loss="bce", **kw),
}


def epoch_seconds(model, X, batch, split, rng):
    model.network_.step_split = split
    backend = model._backend()
    order = rng.permutation(len(X)).astype(np.int64)
    t = time.perf_counter()
    backend.train_epoch(X, order, batch)
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batches", type=int, nargs="+", default=[32, 64, 128, 256, 1024])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    pyae.set_num_threads(args.threads)
    features = pyae.cpu_features()
    precisions = ["fp32"] + (["bf16"] if features["bf16_path"] != "none" else [])
    print(f"# {cpu_model()}; {features['simd_level']}; bf16 path {features['bf16_path']}; "
          f"{args.threads} threads; epochs of {ROWS} random rows, median of {args.repeats}")
    print(f"{'model':>5} {'precision':>9} {'batch':>5} {'auto':>7} {'rows samples/s':>15} "
          f"{'columns samples/s':>18} {'columns/rows':>12}")
    X = np.random.default_rng(0).random((ROWS, 784), dtype=np.float32)
    rng = np.random.default_rng(1)
    runs = [(name, make, precision, batch) for name, make in MODELS.items()
            for precision in precisions for batch in args.batches]
    for name, make, precision, batch in runs:
        model = make(batch_size=batch, epochs=1, seed=0, verbose=False, precision=precision)
        model.partial_fit(X[: 2 * batch])  # build and warm up
        times = {"rows": [], "columns": []}
        for r in range(args.repeats):
            for split in (("rows", "columns") if r % 2 == 0 else ("columns", "rows")):
                times[split].append(epoch_seconds(model, X, batch, split, rng))
        rate = {k: ROWS / statistics.median(v) for k, v in times.items()}
        model.network_.step_split = "auto"
        auto = "columns" if model.network_.splits_columns(batch) else "rows"
        print(f"{name:>5} {precision:>9} {batch:>5} {auto:>7} {rate['rows']:>15,.0f} "
              f"{rate['columns']:>18,.0f} {rate['columns'] / rate['rows']:>12.2f}")

if __name__ == "__main__":
    main()
