"""Fit time of one anomaly model, pyae against PyOD's AutoEncoder, on the
training images of one Fashion-MNIST class (no test data is read): the same
widths (784-256-64-256-784), epochs (20) and batch (128), the same thread
count for pyae and PyTorch. Rounds alternate the three fits (pyae bf16,
pyae fp32, PyOD); medians. pyae's fit includes its anomaly-score
statistics; its training epochs alone are timed too (the same model
trained again by its backend), which bounds what the statistics may cost.

    PYAE_DATA_DIR=../shared/datasets python benchmarks/bench_fit_time.py [--class 0] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import pyae
from pyae import datasets

from machine import cpu_model

EPOCHS, BATCH, HIDDEN = 20, 128, (256, 64)


def pyae_fit(X, precision):
    """(fit seconds, seconds of the same number of training epochs alone)."""
    model = pyae.Autoencoder(hidden=HIDDEN, epochs=EPOCHS, batch_size=BATCH, verbose=False,
                             precision=precision)
    t = time.perf_counter()
    model.fit(X)
    fit_s = time.perf_counter() - t
    backend, order = model._backend(), np.random.default_rng(0)
    t = time.perf_counter()
    for _ in range(EPOCHS):
        backend.train_epoch(X, order.permutation(len(X)), BATCH)
    return fit_s, time.perf_counter() - t


def pyod_fit(X, threads):
    import torch
    from pyod.models.auto_encoder import AutoEncoder

    torch.set_num_threads(threads)
    model = AutoEncoder(hidden_neuron_list=list(HIDDEN), preprocessing=True, epoch_num=EPOCHS,
                        batch_size=BATCH, verbose=0, random_state=0)
    t = time.perf_counter()
    model.fit(X)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--class", dest="label", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    X, y = datasets.load_fashion_mnist("train", download=False)
    X = np.ascontiguousarray(X[y == args.label])
    threads = pyae.get_num_threads()
    print(f"# {cpu_model()}; pyae {pyae.__version__} ({pyae.simd_level()}, bf16 path "
          f"{pyae.cpu_features()['bf16_path']}); {threads} threads for pyae and PyTorch; "
          f"Fashion-MNIST class {args.label}, {len(X)} training images; {EPOCHS} epochs, "
          f"batch {BATCH}, {args.rounds} rounds")
    fits = {"pyae bf16": [], "pyae fp32": [], "PyOD AutoEncoder": []}
    training = {"pyae bf16": [], "pyae fp32": []}
    for _ in range(args.rounds):
        for precision in ("bf16", "fp32"):
            fit_s, train_s = pyae_fit(X, precision)
            fits[f"pyae {precision}"].append(fit_s)
            training[f"pyae {precision}"].append(train_s)
        fits["PyOD AutoEncoder"].append(pyod_fit(X, threads))
    pyod = statistics.median(fits["PyOD AutoEncoder"])
    print(f"{'model':<18}{'fit s (median)':>16}{'PyOD / it':>11}{'training alone s':>18}"
          f"{'PyOD / it':>11}")
    for name, times in fits.items():
        fit_s = statistics.median(times)
        line = f"{name:<18}{fit_s:>16.3f}{pyod / fit_s:>10.2f}x"
        if name in training:
            train_s = statistics.median(training[name])
            line += f"{train_s:>18.3f}{pyod / train_s:>10.2f}x"
        print(line)


if __name__ == "__main__":
    main()
