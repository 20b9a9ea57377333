"""What this machine allows for the 784-256-64-256-784 autoencoder.

Measures, with NumPy's OpenBLAS: sgemm GFLOP/s at 1 and 2 threads, and the
time to stream the model's weights through gemv (batch-1 inference is a
chain of matrix-vector products, bound by memory bandwidth, not FLOPs).
Prints the resulting ceilings (best of the repeats: what the machine can do)
next to what pyae reaches in the same run (medians). The row "2 x 1" is two
models trained at once, one thread each, at half the batch: two threads
that share nothing, what a two-thread step at the full batch would reach if
its cores exchanged nothing (each of them still runs its own optimiser
update).

    python benchmarks/bench_roofline.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np
from threadpoolctl import threadpool_limits

import pyae
from machine import cpu_model, print_targets

WIDTHS = [784, 256, 64, 256, 784]
MACS = sum(a * b for a, b in zip(WIDTHS[:-1], WIDTHS[1:]))  # per sample, one forward
# Training per sample: forward + backward (dW and dinp, no dinp for layer 0).
TRAIN_FLOP = 2 * MACS * 3 - 2 * WIDTHS[0] * WIDTHS[1]
BATCHES = (128, 256, 1024)


def seconds(fn, repeats, inner=1, stat=statistics.median):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t) / inner)
    return stat(times)


def epoch_runner(X, batch, seed=0):
    """One training epoch of a fresh AE (the training steps alone, not the
    anomaly-score statistics partial_fit learns after)."""
    ae = pyae.Autoencoder(hidden=(256, 64), batch_size=batch, epochs=1, verbose=False)
    ae.partial_fit(X[:2 * batch])
    backend, order = ae._backend(), np.random.default_rng(seed)
    return ae, lambda: backend.train_epoch(X, order.permutation(len(X)), batch)


def side_by_side(fns):
    """Runs the functions at once, each in its own Python thread (training
    releases the GIL)."""
    threads = [threading.Thread(target=fn) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def one_run(X, a, weights, gemv_chain):
    """One pass over both thread counts: prints a row per thread count and
    one for two models trained side by side on one thread each, at half the
    batch; returns {threads or "pair": {batch: (samples/s, share of the
    ceiling)}}."""
    shares = {}
    for t in (1, 2):
        with threadpool_limits(t):
            # Ceilings are what the machine can do: the best of the repeats.
            gflops = 2 * 2048**3 / seconds(lambda: a @ a, 10, stat=min) / 1e9
            chain_us = seconds(gemv_chain, 200, inner=10, stat=min) * 1e6
        pyae.set_num_threads(t)
        ceiling = gflops * 1e9 / TRAIN_FLOP
        cells, shares[t] = [], {}
        for batch in BATCHES:
            ae, epoch = epoch_runner(X, batch)
            ours = len(X) / seconds(epoch, 5)
            shares[t][batch] = (ours, ours / ceiling)
            cells.append(f"{ours:>15.0f} {100 * ours / ceiling:>8.0f}%")
        x1, out = X[:1].copy(), np.empty((1, 784), np.float32)
        net = ae.network_
        b1_us = seconds(lambda: net.forward(x1, out, 0, 4), 200, inner=10) * 1e6
        print(f"{t:>7} {gflops:>14.0f} {ceiling:>20.0f} " + " ".join(cells)
              + f" {chain_us:>14.1f} {b1_us:>16.1f}", flush=True)
    # What two threads give when they share nothing: two models, each on one
    # thread at half the batch (two Adam updates per step's worth of samples,
    # no gradient or weights crossing between the cores), against the
    # two-thread ceiling.
    pyae.set_num_threads(1)
    cells, shares["pair"] = [], {}
    for batch in BATCHES:
        pair = [epoch_runner(X, batch // 2, seed)[1] for seed in (0, 1)]
        ours = 2 * len(X) / seconds(lambda: side_by_side(pair), 5)
        shares["pair"][batch] = (ours, ours / ceiling)
        cells.append(f"{ours:>15.0f} {100 * ours / ceiling:>8.0f}%")
    print(f"{'2 x 1':>7} {'':>14} {'':>20} " + " ".join(cells), flush=True)
    return shares


def measure(runs=1):
    """Prints the header and a row per thread count and run; returns the
    runs (one_run's results)."""
    rng = np.random.default_rng(0)
    a = rng.random((2048, 2048), dtype=np.float32)
    weights = [rng.random((b, a_), dtype=np.float32) for a_, b in zip(WIDTHS[:-1], WIDTHS[1:])]
    x = rng.random(784, dtype=np.float32)
    weight_bytes = sum(w.nbytes for w in weights)

    def gemv_chain():
        h = x
        for w in weights:
            h = w @ h

    X = rng.random((8192, 784), dtype=np.float32)
    print(f"# {cpu_model()}; model weights {weight_bytes / 1e6:.2f} MB; training "
          f"{TRAIN_FLOP / 1e6:.2f} MFLOP/sample; pyae {pyae.__version__} ({pyae.simd_level()})")
    print(f"{'threads':>7} {'sgemm GFLOP/s':>14} {'max train samples/s':>20} "
          + " ".join(f"{f'b{b} samples/s':>15} {'% of max':>9}" for b in BATCHES)
          + f" {'gemv chain us':>14} {'pyae batch-1 us':>16}")
    return [one_run(X, a, weights, gemv_chain) for _ in range(runs)]


def medians(runs, batch):
    """Two threads at this batch over the runs: the medians of their share of
    the ceiling, of their speed over one thread and over the "2 x 1" pair."""
    share = statistics.median(r[2][batch][1] for r in runs)
    ratio = statistics.median(r[2][batch][0] / r[1][batch][0] for r in runs)
    pair = statistics.median(r[2][batch][0] / r["pair"][batch][0] for r in runs)
    return share, ratio, pair


def targets(runs):
    """pyae's fp32 two-thread target at batch >= 256, the medians over the
    runs: (what, measured, goal, met)."""
    out = []
    for batch in BATCHES:
        if batch < 256:
            continue
        share, ratio, _ = medians(runs, batch)
        what = f"fp32 training b{batch}, 2 threads"
        out.append((f"{what}, share of the sgemm ceiling", f"{100 * share:.1f}%", ">= 70%",
                    share >= 0.70))
        out.append((f"{what} / 1 thread", f"{ratio:.3f}x", ">= 1.8x", ratio >= 1.8))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1,
                    help="repeat the whole measurement; the targets are the medians over the runs")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    runs = measure(args.runs)
    print(f"# two threads, medians over {len(runs)} run(s)")
    for batch in BATCHES:
        share, ratio, pair = medians(runs, batch)
        print(f"b{batch}: {100 * share:.0f}% of the ceiling, {ratio:.2f}x one thread, "
              f"{pair:.2f}x two threads that share nothing")
    print_targets(targets(runs))


if __name__ == "__main__":
    main()
