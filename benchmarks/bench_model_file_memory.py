"""Peak memory of saving and loading a large model: pyae's streaming model
files against the safetensors package's bytes API on the same tensors (what
pyae did before: the whole file as a bytes object, then the tensors decoded
from it; the old load then also built the network), in the same run.

    python benchmarks/bench_model_file_memory.py [--features 20000 --hidden 4096]

Each operation runs in a fresh process; a thread samples the resident set
size every millisecond, and the peak growth over the RSS just before the
operation is printed in units of the model's size (weights + Adam state).
Loading a model allocates its network (parameters, Adam state and the
gradient buffer: 1.33 model sizes) whatever the file code does.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import cpu_model

CHILD = r"""
import os, sys, threading, time, numpy as np
import pyae
from pyae._model_file import model_tensors

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def peak_growth(fn):
    base, peak, done = rss(), [0], [False]
    def watch():
        while not done[0]:
            peak[0] = max(peak[0], rss()); time.sleep(0.001)
    t = threading.Thread(target=watch); t.start()
    try:
        t0 = time.perf_counter(); out = fn(); seconds = time.perf_counter() - t0
    finally:
        done[0] = True; t.join()
    return max(peak[0], rss()) - base, seconds, out

op, path, features, hidden = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if op == "make":
    X = np.random.default_rng(0).random((8, features), dtype=np.float32)
    pyae.Autoencoder(hidden=(hidden,), epochs=1, batch_size=8, verbose=False).fit(X).save(path)
    sys.exit()
if op.startswith("save"):
    # Loaded (streamed) rather than trained here, so no freed training
    # buffers are still resident to hide the save's own allocations.
    model = pyae.load(sys.argv[5])
    size = sum(t.nbytes for t in model_tensors(model).values())
    if op == "save-pyae":
        grow, s, _ = peak_growth(lambda: model.save(path))
    else:
        from safetensors.numpy import save  # pyae's save before streaming
        tensors = model_tensors(model)
        grow, s, _ = peak_growth(lambda: open(path, "wb").write(save(tensors)))
else:
    if op == "load-pyae":
        grow, s, model = peak_growth(lambda: pyae.load(path))
        size = sum(t.nbytes for t in model_tensors(model).values())
    else:
        from safetensors.numpy import load

        def before():  # pyae's load before streaming: the file's bytes, the tensors
            blob = open(path, "rb").read()  # decoded from them, and the network, all alive
            tensors = load(blob)
            return pyae.load(path), blob, tensors
        grow, s, (model, _, _) = peak_growth(before)
        size = sum(t.nbytes for t in model_tensors(model).values())
print(size, grow, s)
"""


def run(op, path, features, hidden, source=""):
    out = subprocess.run([sys.executable, "-c", CHILD, op, str(path), str(features), str(hidden),
                          str(source)], check=True, capture_output=True, text=True).stdout.split()
    return (int(out[0]), int(out[1]), float(out[2])) if out else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=int, default=20000)
    ap.add_argument("--hidden", type=int, default=4096)
    args = ap.parse_args()
    import pyae

    print(f"CPU: {cpu_model()}; pyae {pyae.__version__} ({pyae.simd_level()}); "
          f"model: Autoencoder {args.features}-{args.hidden}-{args.features} with Adam state")
    with tempfile.TemporaryDirectory(dir=".") as d:
        trained = Path(d) / "trained.safetensors"
        pyae_file, st_file = Path(d) / "pyae.safetensors", Path(d) / "st.safetensors"
        run("make", trained, args.features, args.hidden)
        rows = []
        for op, path in (("save-pyae", pyae_file), ("save-before", st_file),
                         ("load-pyae", pyae_file), ("load-before", pyae_file)):
            size, grow, seconds = run(op, path, args.features, args.hidden, trained)
            rows.append((op, size, grow, seconds))
    print(f"{'operation':<18}{'model MB':>10}{'peak growth MB':>16}{'x model':>9}{'seconds':>9}")
    for op, size, grow, seconds in rows:
        print(f"{op:<18}{size / 1e6:>10.0f}{grow / 1e6:>16.0f}{grow / size:>9.2f}{seconds:>9.2f}")
    by = {op: grow for op, _, grow, _ in rows}
    print(f"peak growth streaming / before: save {by['save-pyae'] / by['save-before']:.2f}, "
          f"load {by['load-pyae'] / by['load-before']:.2f}")


if __name__ == "__main__":
    main()
