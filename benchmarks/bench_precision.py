"""bf16 training, bf16 and int8 inference: pyae precision="bf16"/"int8"
against pyae fp32, PyTorch fp32 eager and bf16 autocast, and ONNX Runtime
fp32 and dynamic int8, all in this one run.

Model: the 784-256-64-256-784 sigmoid autoencoder, MSE, Adam(1e-3), as in
bench_train.py. Training: median samples/s of interleaved epochs (training
steps only, as bench_train.py), per batch size, at --threads threads. Then
the held-out reconstruction MSE of a 20-epoch MNIST AE, bf16 against fp32
(trained on 8,000 rows of the MNIST set, scored on the other 2,000; random
data when PYAE_DATA_DIR is unset). Then batch-1 full-forward latency, and
batch-256 inference on 1 thread with the held-out MSE of each precision.
Last, pyae's precision targets, each against its goal. compare.py runs the
same measurement after its own.

    python benchmarks/bench_precision.py [--threads 2] [--batches 128 256 1024]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import tempfile

import numpy as np

import pyae
from pyae import _core
from bench_train import interleaved_throughput, median_latencies, torch_epoch_runner
from machine import cpu_model, print_targets


@contextlib.contextmanager
def bf16_path(path):
    _core.force_bf16_path(path)
    try:
        yield
    finally:
        _core.force_bf16_path("auto")


def pyae_runner(X, batch, precision, path="auto"):
    with bf16_path(path):
        ae = pyae.Autoencoder(hidden=(256, 64), batch_size=batch, epochs=1, verbose=False,
                              seed=0, precision=precision)
        ae.partial_fit(X[: batch * 2])  # build + warm up
    backend, rng = ae._backend(), np.random.default_rng(0)
    assert precision == "fp32" or ae.network_.gemm_path == (
        _core.bf16_best_path() if path == "auto" else path)
    return lambda: backend.train_epoch(X, rng.permutation(len(X)), batch)


def load_mnist_split():
    data_dir = os.environ.get("PYAE_DATA_DIR")
    if data_dir:
        from pyae.datasets import load_train_test

        Xtr, _, Xte, _, source = load_train_test("mnist", data_dir=data_dir, download=False)
        return Xtr, Xte, source
    rng = np.random.default_rng(0)
    return (rng.random((8000, 784), dtype=np.float32), rng.random((2000, 784), dtype=np.float32),
            "uniform random (PYAE_DATA_DIR unset)")


def held_out_mse(Xtr, Xte, precision, epochs):
    ae = pyae.Autoencoder(hidden=(256, 64), epochs=epochs, batch_size=256, verbose=False,
                          seed=0, precision=precision).fit(Xtr)
    ae.set_params(precision="fp32")  # score both the same way: the training is compared
    return float(((ae.reconstruct(Xte) - Xte) ** 2).mean())


def ort_session(ae, threads, quantise=False):
    """An ONNX Runtime session of pyae's own ONNX export (quantise: its
    dynamic int8 version, onnxruntime.quantization.quantize_dynamic QInt8)."""
    import onnxruntime as ort
    from pyae.export import export_onnx

    path = os.path.join(tempfile.mkdtemp(), "ae.onnx")
    export_onnx(ae, path)
    if quantise:
        import logging
        from onnxruntime.quantization import QuantType, quantize_dynamic

        logging.getLogger().setLevel(logging.ERROR)  # its pre-processing advice
        quantize_dynamic(path, path + ".int8", weight_type=QuantType.QInt8)
        path += ".int8"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def measure(threads=2, batches=(128, 256, 1024), samples=16384, repeats=5, epochs=20,
            calls=2000):
    """The whole measurement, printed as it goes; returns its rows (the JSON)."""
    import torch

    feats = pyae.cpu_features()
    print(f"# {cpu_model()}, {os.cpu_count()} cores; pyae {pyae.__version__}: {feats}; "
          f"torch {torch.__version__}; {threads} threads")
    pyae.set_num_threads(threads)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    X = rng.random((samples, 784), dtype=np.float32)
    paths = [p for p, ok in feats["bf16_paths"].items() if ok]
    rows = []
    names = ["pyae fp32", *[f"pyae bf16 {p}" for p in paths], "torch fp32", "torch bf16 autocast"]
    print("# training samples/s (median of interleaved epochs); ratios: pyae bf16 on the "
          "default path / each baseline")
    print(f"{'batch':>5} " + " ".join(f"{n:>22}" for n in names))
    for b in batches:
        runners = [pyae_runner(X, b, "fp32"), *[pyae_runner(X, b, "bf16", p) for p in paths],
                   torch_epoch_runner(torch, X, b), torch_epoch_runner(torch, X, b, autocast=True)]
        speeds = interleaved_throughput(runners, len(X), repeats)
        best = speeds[1 + paths.index(feats["bf16_path"])] if paths else float("nan")
        print(f"{b:>5} " + " ".join(f"{s:>22.0f}" for s in speeds))
        print(f"{'':>5}  bf16/pyae fp32 {best / speeds[0]:.2f}x, /torch fp32 "
              f"{best / speeds[-2]:.2f}x, /torch autocast {best / speeds[-1]:.2f}x")
        rows.append(dict(kind="train", batch=b, threads=threads, bf16=best,
                         **dict(zip(names, speeds))))

    if paths:
        Xtr, Xte, source = load_mnist_split()
        fp32 = held_out_mse(Xtr, Xte, "fp32", epochs)
        bf16 = held_out_mse(Xtr, Xte, "bf16", epochs)
        print(f"# held-out MSE after {epochs} epochs, {source}: fp32 {fp32:.6f}, "
              f"bf16 {bf16:.6f} ({100 * (bf16 / fp32 - 1):+.2f}%)")
        rows.append(dict(kind="held_out_mse", fp32=fp32, bf16=bf16, epochs=epochs))

    print(f"# batch-1 full forward (raw network.forward), 1 thread, median of {calls} "
          "calls, microseconds")
    pyae.set_num_threads(1)
    fp32_model = pyae.Autoencoder(hidden=(256, 64), epochs=1, verbose=False).fit(X[:512])
    x1 = X[:1].copy()
    fns, labels = [], []
    for prec in ["fp32"] + (["bf16"] if paths else []):
        model = copy.deepcopy(fp32_model).set_params(precision=prec)
        model.transform(x1)  # sets the network's precision
        net, out = model.network_, np.empty_like(x1)
        fns.append(lambda net=net, out=out: net.forward(x1, out, 0, len(net.table)))
        labels.append(f"pyae {prec}")
    sess = ort_session(fp32_model, 1)
    name = sess.get_inputs()[0].name
    fns.append(lambda: sess.run(None, {name: x1}))
    labels.append("onnxruntime fp32")
    times = median_latencies(fns, calls)
    print("  ".join(f"{l}: {t:.1f}" for l, t in zip(labels, times)))
    if paths:
        print(f"  bf16 / pyae fp32 {times[1] / times[0]:.2f}x time, bf16 / onnxruntime fp32 "
              f"{times[1] / times[2]:.2f}x time")
    rows.append(dict(kind="latency_b1_us", **dict(zip(labels, times))))
    print("# batch-256 full forward, 1 thread, median of interleaved calls, microseconds; "
          "reconstruction MSE of the held-out rows" + ("" if paths else " (no bf16 here)"))
    Xtr, Xte, source = load_mnist_split()
    trained = pyae.Autoencoder(hidden=(256, 64), epochs=epochs, batch_size=256,
                               verbose=False, seed=0).fit(Xtr)
    x256 = Xte[:256].copy()
    fns, labels, mses = [], [], []
    precisions = ["fp32"] + (["bf16"] if paths else []) + \
        (["int8"] if feats["int8_path"] != "none" else [])
    for prec in precisions:
        model = copy.deepcopy(trained).set_params(precision=prec)
        mses.append(float(((model.reconstruct(Xte) - Xte) ** 2).mean()))
        net, out = model.network_, np.empty_like(x256)
        fns.append(lambda net=net, out=out: net.forward(x256, out, 0, len(net.table)))
        labels.append(f"pyae {prec}")
    for label, sess in [("onnxruntime fp32", ort_session(trained, 1)),
                        ("onnxruntime int8", ort_session(trained, 1, quantise=True))]:
        name = sess.get_inputs()[0].name
        mses.append(float(((sess.run(None, {name: Xte})[0] - Xte) ** 2).mean()))
        fns.append(lambda sess=sess, name=name: sess.run(None, {name: x256}))
        labels.append(label)
    times = median_latencies(fns, calls // 4, block=25)
    for label, t, mse in zip(labels, times, mses):
        print(f"  {label:>18}: {t:8.1f} us  MSE {mse:.6f} ({100 * (mse / mses[0] - 1):+.2f}% vs "
              "fp32)")
    by = dict(zip(labels, times))
    if "pyae int8" in by:
        print(f"  pyae int8: {by['onnxruntime fp32'] / by['pyae int8']:.2f}x onnxruntime fp32, "
              f"{by['onnxruntime int8'] / by['pyae int8']:.2f}x onnxruntime int8")
    rows.append(dict(kind="infer_b256_us", data=source, **by,
                     mse=dict(zip(labels, mses))))
    return rows


def targets(rows):
    """The precision targets (bf16 training, batch-1 bf16, batch-256 fp32 and
    int8): (what, measured, goal, met) for each one these rows measured."""
    out = []
    for r in rows:
        if r["kind"] == "train" and not math.isnan(r["bf16"]):  # a bf16 path ran
            for base, goal in (("torch fp32", 2.5), ("torch bf16 autocast", 1.5)):
                ratio = r["bf16"] / r[base]
                out.append((f"bf16 training b{r['batch']}, {r['threads']} threads / {base}",
                            f"{ratio:.3f}x", f">= {goal}x", ratio >= goal))
        elif r["kind"] == "held_out_mse":
            change = r["bf16"] / r["fp32"] - 1
            out.append((f"held-out MSE, {r['epochs']} epochs, bf16 / fp32",
                        f"{100 * change:+.2f}%", "within 2%", abs(change) <= 0.02))
        elif r["kind"] == "latency_b1_us" and "pyae bf16" in r:
            for base, goal in (("pyae fp32", 0.6), ("onnxruntime fp32", 0.4)):
                ratio = r["pyae bf16"] / r[base]
                out.append((f"batch-1 bf16 time / {base}", f"{ratio:.3f}x", f"<= {goal}x",
                            ratio <= goal))
        elif r["kind"] == "infer_b256_us":
            pairs = [("fp32", "onnxruntime fp32", 1.0)]
            if "pyae int8" in r:
                pairs += [("int8", "onnxruntime fp32", 1.5), ("int8", "onnxruntime int8", 1.0)]
            for prec, base, goal in pairs:
                speedup = r[base] / r[f"pyae {prec}"]
                out.append((f"batch-256 {prec}, 1 thread, speed / {base}", f"{speedup:.3f}x",
                            f">= {goal}x", speedup >= goal))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batches", type=int, nargs="+", default=[128, 256, 1024])
    p.add_argument("--samples", type=int, default=16384)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--epochs", type=int, default=20, help="epochs of the held-out MSE check")
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--json")
    args = p.parse_args()
    rows = measure(args.threads, args.batches, args.samples, args.repeats, args.epochs,
                   args.calls)
    print_targets(targets(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
