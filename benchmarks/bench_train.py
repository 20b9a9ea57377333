"""Training throughput and batch-1 latency: pyae vs PyTorch eager, same run.

Model: the 784-256-64-256-784 sigmoid autoencoder, MSE, Adam(1e-3).
Both frameworks get the same data, batch size and thread count (pyae via
pyae.set_num_threads, PyTorch via torch.set_num_threads). Medians of
repeated epochs are printed with the ratio pyae / PyTorch.

    python benchmarks/bench_train.py [--threads 1 2] [--batches 128 256]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

import pyae

WIDTHS = [784, 256, 64, 256, 784]


def load_data(n):
    data_dir = os.environ.get("PYAE_DATA_DIR")
    if data_dir:
        from pyae.datasets import load_mnist

        X, _ = load_mnist("test", data_dir=data_dir)
        return X[:n], "MNIST t10k"
    return np.random.default_rng(0).random((n, 784), dtype=np.float32), "uniform random"


def torch_model(torch):
    layers = []
    for a, b in zip(WIDTHS[:-1], WIDTHS[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.Sigmoid()]
    return torch.nn.Sequential(*layers)


def pyae_epoch_runner(X, batch):
    """One training epoch as fit runs it (a fresh shuffle, every step),
    without the anomaly-score statistics fit and partial_fit learn after
    training: the PyTorch side has none."""
    ae = pyae.Autoencoder(hidden=(256, 64), batch_size=batch, epochs=1, verbose=False, seed=0)
    ae.partial_fit(X[: batch * 2])  # build + warm up
    backend, rng = ae._backend(), np.random.default_rng(0)
    return lambda: backend.train_epoch(X, rng.permutation(len(X)), batch)


def torch_epoch_runner(torch, X, batch, autocast=False):
    """One PyTorch training epoch; autocast: under torch.autocast("cpu", bfloat16)."""
    torch.manual_seed(0)
    model = torch_model(torch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()
    Xt = torch.from_numpy(X)
    gen = torch.Generator().manual_seed(0)

    def epoch():
        perm = torch.randperm(len(Xt), generator=gen)
        for s in range(0, len(Xt), batch):
            xb = Xt[perm[s:s + batch]]
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = loss_fn(model(xb).float(), xb)
            loss.backward()
            opt.step()

    epoch()  # warm up
    return epoch


def interleaved_throughput(runners, n_samples, rounds):
    """Times one epoch of each runner per round, alternating, so machine noise
    hits both alike; returns the median samples/s of each."""
    times = [[] for _ in runners]
    for _ in range(rounds):
        for i, run in enumerate(runners):
            t = time.perf_counter()
            run()
            times[i].append(time.perf_counter() - t)
    return [n_samples / statistics.median(ts) for ts in times]


def median_latencies(fns, calls, block=100):
    """Median microseconds per call of each fn, timed in alternating blocks."""
    for fn in fns:
        for _ in range(50):
            fn()
    samples = [[] for _ in fns]
    for _ in range(calls // block):
        for i, fn in enumerate(fns):
            for _ in range(block):
                t = time.perf_counter_ns()
                fn()
                samples[i].append(time.perf_counter_ns() - t)
    return [statistics.median(s) / 1e3 for s in samples]


def latency(torch, X, calls):
    ae = pyae.Autoencoder(hidden=(256, 64), epochs=1, verbose=False).fit(X[:256])
    x1 = X[:1].copy()
    out = np.empty_like(x1)
    net, L = ae.network_, len(ae.network_.table)
    model = torch_model(torch).eval()
    xt = torch.from_numpy(x1)

    def torch_forward():
        with torch.inference_mode():
            model(xt)

    return median_latencies([lambda: ae.reconstruct(x1), lambda: net.forward(x1, out, 0, L),
                             torch_forward], calls)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batches", type=int, nargs="+", default=[128, 256])
    p.add_argument("--samples", type=int, default=8192)
    p.add_argument("--repeats", type=int, default=7, help="interleaved epochs per framework")
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()

    import torch

    X, source = load_data(args.samples)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"pyae {pyae.__version__} ({pyae.simd_level()}), torch {torch.__version__}, "
          f"numpy {np.__version__}; data: {source}, {len(X)} samples")
    print("# training: 784-256-64-256-784 sigmoid AE, MSE, Adam; median of "
          f"{args.repeats} epochs each, pyae and PyTorch epochs alternating")
    rows = []
    print(f"{'threads':>7} {'batch':>5} {'pyae samples/s':>15} {'torch samples/s':>16} {'ratio':>6}")
    for t in args.threads:
        pyae.set_num_threads(t)
        torch.set_num_threads(t)
        for b in args.batches:
            ours, theirs = interleaved_throughput(
                [pyae_epoch_runner(X, b), torch_epoch_runner(torch, X, b)], len(X), args.repeats)
            rows.append(dict(kind="train", threads=t, batch=b, pyae=ours, torch=theirs))
            print(f"{t:>7} {b:>5} {ours:>15.0f} {theirs:>16.0f} {ours / theirs:>5.2f}x")
    print(f"# batch-1 full forward (encoder+decoder), median of {args.calls} calls, microseconds")
    print(f"{'threads':>7} {'pyae reconstruct':>17} {'pyae raw forward':>17} {'torch eager':>12} {'ratio':>6}")
    for t in args.threads:
        pyae.set_num_threads(t)
        torch.set_num_threads(t)
        api, raw, th = latency(torch, X, args.calls)
        rows.append(dict(kind="latency_b1_us", threads=t, pyae=api, pyae_raw=raw, torch=th))
        print(f"{t:>7} {api:>17.1f} {raw:>17.1f} {th:>12.1f} {th / api:>5.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
