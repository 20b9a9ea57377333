"""A/B of two pyae builds: bench_train.py and compare.py of each build's own
checkout, run alternately (the order flips every round) so machine noise
hits both alike; prints the median of every pyae number per build and the
ratio candidate / baseline.

    python benchmarks/ab_builds.py --baseline OLD_CHECKOUT OLD_PYTHON \\
        --candidate . .venv/bin/python [--rounds 5]

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
    subprocess.run([python, str(checkout / "benchmarks" / "compare.py"), "--quick", "--no-compile",
                    "--out", str(work)], check=True, capture_output=True, cwd=work)
    for r in json.loads((work / "compare.json").read_text())["rows"]:
        if r["framework"] != "pyae":
            continue
        if r["kind"] == "train":
            metrics[f"compare {r['model']} samples/s t{r['threads']} b{r['batch']}"] = \
                r["samples_per_s"]
        else:
            metrics[f"compare inference us t{r['threads']} b{r['batch']}"] = r["microseconds"]
    return metrics


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", nargs=2, metavar=("CHECKOUT", "PYTHON"), required=True)
    p.add_argument("--candidate", nargs=2, metavar=("CHECKOUT", "PYTHON"), required=True)
    p.add_argument("--rounds", type=int, default=5)
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
                for k, v in run_build(Path(checkout).resolve(), python, Path(tmp)).items():
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
