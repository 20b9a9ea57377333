"""More than one process: MPI data-parallel training and Dask inference,
each against its own one-process baseline in the same run.

1. MPI: the 784-256-64-256-784 autoencoder, local batch 256 (global 256 x
   ranks), 1 thread per rank, with 1 and then 2 ranks (mpirun): samples/s,
   the Allreduce's time per step and its share of the step. Beside it, a
   model of N machines: each step costs the measured 1-rank compute of 256
   rows plus a ring allreduce of the parameter buffer,
   2 (N-1)/N * bytes / bandwidth + 2 (N-1) * latency.
2. Dask: score_samples (the model's default anomaly score) of ROWS x 784
   rows read from a memory-mapped .npy file, on a LocalCluster of 1 and
   then 2 worker processes (1 thread each): rows/s and the ratio.

    python benchmarks/bench_distributed.py [--rows 1000000] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from machine import cpu_model

HIDDEN, LOCAL_BATCH = (256, 64), 256


def training_rows(n):
    data_dir = os.environ.get("PYAE_DATA_DIR")
    if data_dir:
        from pyae.datasets import load_fashion_mnist

        X, _ = load_fashion_mnist("train", data_dir=data_dir, download=False)
        return X[:n], "Fashion-MNIST train"
    return np.random.default_rng(0).random((n, 784), dtype=np.float32), "uniform random"


# ------------------------------------------------------------------ MPI rank
def mpi_rank(args):
    """One rank of the MPI measurement: prints a JSON line from rank 0."""
    from mpi4py import MPI

    import pyae
    from pyae import _distributed

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    X, source = training_rows(args.train_rows)
    lo, hi = len(X) * rank // size, len(X) * (rank + 1) // size
    waits = []
    real = _distributed.Mpi.sum_gradients

    def timed(self, grads):  # the allreduce, timed where it runs
        t = time.perf_counter()
        result = real(self, grads)
        waits.append(time.perf_counter() - t)
        return result

    _distributed.Mpi.sum_gradients = timed
    model = pyae.Autoencoder(hidden=HIDDEN, batch_size=LOCAL_BATCH, epochs=1, verbose=False,
                             seed=0)
    train = model._train
    times = []

    def timed_train(*a, **k):  # the training epochs alone (fit also learns the
        t = time.perf_counter()  # anomaly-score statistics afterwards)
        train(*a, **k)
        times.append(time.perf_counter() - t)

    model._train = timed_train
    comm_arg = comm if size > 1 else None
    model.fit(X[lo:hi][:LOCAL_BATCH * 4], comm=comm_arg)  # warm-up (and page faults)
    times.clear()
    fits = []
    for _ in range(args.epochs):
        comm.Barrier()
        waits.clear()
        t = time.perf_counter()
        model.fit(X[lo:hi], comm=comm_arg)
        fits.append(time.perf_counter() - t)
    steps = -(-len(X) // (LOCAL_BATCH * size))
    if rank == 0:
        epoch = statistics.median(times)
        print(json.dumps({"ranks": size, "epoch_s": epoch, "rows": len(X), "source": source,
                          "fit_s": statistics.median(fits),
                          "samples_per_s": len(X) / epoch, "steps": steps,
                          "allreduce_ms": 1e3 * statistics.median(waits) if waits else 0.0,
                          "allreduce_share": sum(waits) / times[-1] if waits else 0.0,
                          "params": int(model.network_.params.size)}), flush=True)


def mpi_benchmark(args):
    mpirun = shutil.which("mpirun", path=f"{Path(sys.executable).parent}{os.pathsep}"
                          f"{os.environ.get('PATH', '')}")
    if mpirun is None:
        print("MPI: skipped (no mpirun; pip install 'pyae[mpi]')")
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    results = {}
    for ranks in (1, 2):
        r = subprocess.run([mpirun, "--allow-run-as-root", "--oversubscribe", "-n", str(ranks),
                            sys.executable, __file__, "--mpi-rank", "--epochs", str(args.epochs),
                            "--train-rows", str(args.train_rows)],
                           capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise SystemExit(f"mpirun -n {ranks} failed:\n{r.stdout}\n{r.stderr}")
        results[ranks] = json.loads(r.stdout.strip().splitlines()[-1])
    one, two = results[1], results[2]
    print(f"\nMPI data-parallel training: 784-256-64-256-784 AE, {one['rows']} rows of "
          f"{one['source']}, local batch {LOCAL_BATCH}, 1 thread per rank, median of "
          f"{args.epochs} epochs")
    print(f"{'ranks':>6}{'samples/s':>12}{'epoch s':>9}{'allreduce ms/step':>19}"
          f"{'share of epoch':>16}{'fit s (+ score statistics)':>28}")
    for r in (one, two):
        print(f"{r['ranks']:>6}{r['samples_per_s']:>12.0f}{r['epoch_s']:>9.2f}"
              f"{r['allreduce_ms']:>19.2f}{100 * r['allreduce_share']:>15.1f}%"
              f"{r['fit_s']:>28.2f}")
    print(f"2 ranks / 1 rank: {two['samples_per_s'] / one['samples_per_s']:.2f}x (target 1.7x); "
          "overlap of communication with compute: none (one allreduce after the backward)")
    scaling_model(one, two)


def scaling_model(one, two):
    step_s = one["epoch_s"] / one["steps"]  # 256 rows of compute on one rank
    nbytes = 4 * one["params"]
    latency = 5e-6
    print(f"\nModel of N machines (1 rank each): step = {1e3 * step_s:.2f} ms compute (measured, "
          f"1 rank, {LOCAL_BATCH} rows) + ring allreduce of {nbytes / 1e6:.2f} MB "
          f"(2(N-1)/N x bytes / bandwidth + 2(N-1) x {latency * 1e6:.0f} us)")
    print(f"{'N':>5}" + "".join(f"{f'{g} Gb/s: speed-up':>22}" for g in (10, 25, 100)))
    for n in (2, 4, 8, 16, 64, 256):
        row = f"{n:>5}"
        for gbit in (10, 25, 100):
            ring = 2 * (n - 1) / n * nbytes / (gbit * 1e9 / 8) + 2 * (n - 1) * latency
            row += f"{n * step_s / (step_s + ring):>21.1f}x"
        print(row)
    measured = two["allreduce_ms"] / 1e3
    print(f"(measured here, 2 ranks on one machine: allreduce {1e3 * measured:.2f} ms per step, "
          f"including the wait for the slower rank)")


# --------------------------------------------------------------------- Dask
def read_rows(path, start, stop):
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def rows_from_file(path, n, chunk=20_000):
    """A dask array of the .npy file's rows, each chunk read by its worker."""
    import dask
    import dask.array as da

    return da.concatenate([
        da.from_delayed(dask.delayed(read_rows)(str(path), s, min(s + chunk, n)),
                        shape=(min(s + chunk, n) - s, 784), dtype=np.float32)
        for s in range(0, n, chunk)])


def dask_benchmark(args):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("Dask: skipped (pip install 'pyae[dask]')")
        return
    import pyae

    X_fit, source = training_rows(20000)
    model = pyae.Autoencoder(hidden=HIDDEN, epochs=2, verbose=False, seed=0).fit(X_fit)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.npy"
        rows = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                         shape=(args.rows, 784))
        for s in range(0, args.rows, 100_000):  # the training rows, repeated, plus noise
            block = X_fit[np.arange(s, min(s + 100_000, args.rows)) % len(X_fit)]
            rows[s:s + len(block)] = np.clip(block + np.float32(0.01), 0, 1)
        rows.flush()
        del rows
        print(f"\nDask score_samples ({model.anomaly_score}) of {args.rows} x 784 rows "
              f"(memory-mapped .npy, chunks of 20,000 rows), LocalCluster, 1 thread per "
              "worker process")
        os.environ["OMP_NUM_THREADS"] = "1"  # the workers' pyae threads
        rates = {}
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                X = rows_from_file(path, args.rows)
                client.compute(model.score_samples(X[:40_000])).result()  # warm-up
                times = []
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    scores = client.compute(model.score_samples(X)).result()
                    times.append(time.perf_counter() - t)
                assert len(scores) == args.rows and np.isfinite(scores).all()
                rates[workers] = args.rows / statistics.median(times)
                print(f"{workers} worker(s): {rates[workers]:,.0f} rows/s "
                      f"(median {statistics.median(times):.1f} s of {args.repeats})")
        print(f"2 workers / 1 worker: {rates[2] / rates[1]:.2f}x (target 1.7x)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows for the Dask measurement")
    ap.add_argument("--train-rows", type=int, default=60_000, help="rows for MPI training")
    ap.add_argument("--epochs", type=int, default=3, help="timed MPI epochs (median)")
    ap.add_argument("--repeats", type=int, default=3, help="timed Dask runs (median)")
    ap.add_argument("--mpi-rank", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--skip-dask", action="store_true")
    args = ap.parse_args()
    if args.mpi_rank:
        return mpi_rank(args)
    import pyae

    print(f"CPU: {cpu_model()}; {os.cpu_count()} cores; pyae {pyae.__version__} "
          f"({pyae.simd_level()})")
    mpi_benchmark(args)
    if not args.skip_dask:
        dask_benchmark(args)


if __name__ == "__main__":
    main()
