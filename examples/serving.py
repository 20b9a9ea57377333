"""Serving: one trained model, three runtimes, the same answers.

Trains a small denoising autoencoder, saves it, and runs it
- in pyae itself (``model.reconstruct``),
- as ONNX in ONNX Runtime (``pyae.export.export_onnx``), and
- from the C library in csrc/infer, with no Python at all: the script builds
  its example program with CMake and runs it on the saved file.
It prints the largest difference between each runtime and pyae, and each
one's time for a batch of 256 rows (on this machine, in this run).

    python examples/serving.py [--quick] [--out FOLDER]
"""

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

import pyae
from pyae.datasets import load_digits_train_test
from pyae.export import export_onnx

from _args import parse

ROOT = Path(__file__).resolve().parent.parent  # the checkout: csrc/infer is here


def best_of(fn, repeats=20):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


args = parse(__doc__.splitlines()[0])
out = Path(args.out)
X_train, _, X_test, _, source = load_digits_train_test(seed=0)
print(f"data: {source}")
model = pyae.DenoisingAutoencoder(hidden=(128, 32), epochs=2 if args.quick else 20, seed=0,
                                  verbose=False).fit(X_train[:1000] if args.quick else X_train)
model.save(out / "dae.safetensors")
X = np.ascontiguousarray(X_test[:256])
want = model.reconstruct(X)
print(f"pyae:          {1e6 * best_of(lambda: model.reconstruct(X)):8.0f} us per 256 rows")

try:
    import onnxruntime as ort

    export_onnx(model, out / "dae.onnx")
    session = ort.InferenceSession(str(out / "dae.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": X})[0]
    seconds = best_of(lambda: session.run(None, {"input": X}))
    print(f"ONNX Runtime:  {1e6 * seconds:8.0f} us per 256 rows, max |difference| "
          f"{np.abs(got - want).max():.2e}")
except ImportError as e:
    print(f"ONNX skipped: {e} (pip install onnx onnxruntime)")

if shutil.which("cmake") is None:
    print("C library skipped: cmake not found")
else:
    build = out / "infer-build"
    subprocess.run(["cmake", "-S", str(ROOT / "csrc" / "infer"), "-B", str(build),
                    "-DCMAKE_BUILD_TYPE=Release"], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build), "--target", "pyae_infer_example"],
                   check=True, capture_output=True)
    X.tofile(out / "input.f32")
    run = [str(build / "pyae_infer_example"), str(out / "dae.safetensors"), "full",
           str(out / "input.f32"), str(out / "output.f32")]
    subprocess.run(run, check=True, capture_output=True)
    got = np.fromfile(out / "output.f32", dtype=np.float32).reshape(want.shape)
    print(f"C library:     max |difference| {np.abs(got - want).max():.2e} "
          "(its plain loops, no BLAS: a reference, not a race)")
