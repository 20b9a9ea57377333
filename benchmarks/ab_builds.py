"""A/B of two pyae builds: bench_train.py and compare.py of each build's own
checkout, run alternately (the order flips every round) so machine noise
hits both alike; prints the median of every pyae number per build and the
ratio candidate / baseline.

    python benchmarks/ab_builds.py --baseline OLD_CHECKOUT OLD_PYTHON \\
        --candidate . .venv/bin/python [--rounds 5]

With --epochs, each build instead trains the 784-256-64-256-784 AE on the
training images of one Fashion-MNIST class (PYAE_DATA_DIR), fp32 and bf16,
at --batches and --split (best of 3 epochs of the backend's train_epoch,
2 threads): the same measurement code under both builds' Pythons.

Each build's Python must have that build installed (pip install OLD_CHECKOUT
into a second virtual environment). Throughput ratios > 1 and latency
ratios < 1 favour the candidate; rows slower by more than 3% are marked.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

from machine import cpu_model


def run_build(checkout: Path, python: str, work: Path) -> dict:
    """One bench_train.py and one compare.py run: metric -> value."""
    metrics = {}
    train_json = work / "train.json"
    subprocess.run([python, str(checkout / "benchmarks" / "bench_train.py"), "--repeats", "5",
                    "--calls", "2000", "--json", str(train_json)], check=True,
                   capture_output=True, cwd=work)
    for r in json.loads(train_json.read_text()):
        if r["kind"] == "train":
            metrics[f"bench_train samples/s t{r['threads']} b{r['batch']}"] = r["pyae"]
        else:
            metrics[f"bench_train batch-1 reconstruct us t{r['threads']}"] = r["pyae"]
    compare = checkout / "benchmarks" / "compare.py"
    # (builds before --no-precision lack it, and the bf16 measurement with it)
    skip = ["--no-precision"] if "--no-precision" in compare.read_text() else []
    subprocess.run([python, str(compare), "--quick", "--no-compile", *skip, "--out", str(work)],
                   check=True, capture_output=True, cwd=work)
    for r in json.loads((work / "compare.json").read_text())["rows"]:
        if r["framework"] != "pyae":
            continue
        if r["kind"] == "train":
            metrics[f"compare {r['model']} samples/s t{r['threads']} b{r['batch']}"] = \
                r["samples_per_s"]
        else:
            metrics[f"compare inference us t{r['threads']} b{r['batch']}"] = r["microseconds"]
    return metrics


# Run under each build's Python: samples/s of training epochs, as JSON.
EPOCHS_SNIPPET = """
import json, sys, time, numpy as np, pyae
from pyae import datasets
batches, split, precisions = [int(b) for b in sys.argv[1].split(",")], sys.argv[2], sys.argv[3]
X, y = datasets.load_fashion_mnist("train", download=False)
X = np.ascontiguousarray(X[y == 0])
pyae.set_num_threads(2)
out = {}
for precision in precisions.split(","):
    pyae._core.force_bf16_path("avx512_bf16" if precision == "bf16-avx512" else "auto")
    for batch in batches:
        model = pyae.Autoencoder(hidden=(256, 64), epochs=1, batch_size=batch, verbose=False,
                                 precision=precision.split("-")[0]).fit(X)
        model.network_.step_split = split
        backend, order = model._backend(), np.random.default_rng(0).permutation(len(X))
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            backend.train_epoch(X, order, batch)
            best = min(best, time.perf_counter() - t)
        out[f"epochs {precision} {split} b{batch} samples/s"] = len(X) / best
print(json.dumps(out))
"""


def run_epochs(python: str, batches: str, split: str, precisions: str) -> dict:
    done = subprocess.run([python, "-c", EPOCHS_SNIPPET, batches, split, precisions], check=True,
                          capture_output=True, text=True, cwd="/")
    return json.loads(done.stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", nargs=2, metavar=("CHECKOUT", "PYTHON"), required=True)
    p.add_argument("--candidate", nargs=2, metavar=("CHECKOUT", "PYTHON"), required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--epochs", action="store_true",
                   help="training epochs of one Fashion-MNIST class instead of the benchmarks")
    p.add_argument("--batches", default="128,256,1024", help="with --epochs")
    p.add_argument("--split", default="auto", choices=["auto", "rows", "columns"],
                   help="with --epochs")
    p.add_argument("--precisions", default="fp32,bf16",
                   help="with --epochs: fp32, bf16, bf16-avx512 (the AVX512-BF16 path forced)")
    args = p.parse_args()
    builds = {"baseline": args.baseline, "candidate": args.candidate}
    results = {name: {} for name in builds}
    print(f"# {cpu_model()}; threads 1 and 2 as each benchmark sets them; "
          f"{args.rounds} alternating rounds")
    for name, (_, python) in builds.items():
        path = subprocess.run([python, "-c", "import pyae; print(pyae.simd_level())"],
                              check=True, capture_output=True, text=True, cwd="/").stdout.strip()
        print(f"# {name}: {python}, pyae's instruction path {path}")
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(builds) if r % 2 == 0 else list(reversed(builds))
            for name in order:
                checkout, python = builds[name]
                found = (run_epochs(python, args.batches, args.split, args.precisions)
                         if args.epochs else run_build(Path(checkout).resolve(), python, Path(tmp)))
                for k, v in found.items():
                    results[name].setdefault(k, []).append(v)
            print(f"# round {r + 1} done", flush=True)
    print(f"{'metric':<44} {'baseline':>11} {'candidate':>11} {'cand/base':>9}")
    for key in results["baseline"]:
        base = statistics.median(results["baseline"][key])
        cand = statistics.median(results["candidate"][key])
        ratio = cand / base
        slower = ratio < 0.97 if "samples/s" in key else ratio > 1.03
        print(f"{key:<44} {base:>11.1f} {cand:>11.1f} {ratio:>8.3f}{'  <-- >3% slower' if slower else ''}")


if __name__ == "__main__":
    main()
