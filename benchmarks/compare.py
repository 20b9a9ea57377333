"""Framework comparison: pyae vs PyTorch eager, torch.compile, ONNX Runtime
and NumPy, in one process and one run.

Training throughput (samples/s) of the AE (784-256-64-256-784 sigmoid, MSE),
the DAE (same, Gaussian noise 0.5 drawn every batch) and the VAE
(784-400-(20)-400-784, BCE + KL), Adam 1e-3, batch 128 and 256. Inference
latency of the AE's full forward at batch 1, 16 and 256. Threads 1 and 2,
set for every framework alike. The implementations alternate round by round
and medians are reported, with the ratio framework / pyae (time) or
pyae / framework (throughput), so > 1 means pyae is faster.

Then, unless --no-precision, the measurements of bench_precision.py (bf16
training, bf16 and int8 inference against PyTorch and ONNX Runtime) and
bench_roofline.py (fp32 training against the sgemm ceiling, 1 and 2
threads; medians of 3 runs), and pyae's targets, met or not, on this CPU.

    python benchmarks/compare.py [--quick] [--no-compile] [--no-precision] [--out results/]

writes results/compare.json and results/compare.png and prints the table.
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
from machine import cpu_model, print_targets

AE_WIDTHS = [784, 256, 64, 256, 784]


# ----------------------------------------------------------------- models
def torch_ae(torch):
    layers = []
    for a, b in zip(AE_WIDTHS[:-1], AE_WIDTHS[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.Sigmoid()]
    return torch.nn.Sequential(*layers)


def torch_vae(torch):
    nn, F = torch.nn, torch.nn.functional

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
            self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

        def forward(self, x):
            h = F.relu(self.fc1(x))
            mu, logvar = self.fc21(h), self.fc22(h)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            logits = self.fc4(F.relu(self.fc3(z)))
            bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            return (bce + kl) / x.shape[0]

    return VAE()


def torch_trainer(torch, kind, X, batch, steps, compiled):
    torch.manual_seed(0)
    model = torch_vae(torch) if kind == "vae" else torch_ae(torch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    Xt = torch.from_numpy(X)

    def loss_fn(xb):
        if kind == "vae":
            return model(xb)
        inp = xb if kind == "ae" else torch.clamp(xb + 0.5 * torch.randn_like(xb), 0, 1)
        return torch.nn.functional.mse_loss(model(inp), xb)

    step_loss = torch.compile(loss_fn, dynamic=False) if compiled else loss_fn
    gen = torch.Generator().manual_seed(0)

    def run():
        for _ in range(steps):
            idx = torch.randint(0, len(Xt), (batch,), generator=gen)
            opt.zero_grad(set_to_none=True)
            step_loss(Xt[idx]).backward()
            opt.step()

    return run


def pyae_trainer(kind, X, batch, steps):
    kw = dict(epochs=1, batch_size=batch, verbose=False, seed=0)
    model = {"ae": lambda: pyae.Autoencoder(hidden=(256, 64), **kw),
             "dae": lambda: pyae.DenoisingAutoencoder(hidden=(256, 64), **kw),
             "vae": lambda: pyae.VAE(hidden=(400,), latent_dim=20, **kw)}[kind]()
    model.partial_fit(X[:batch])
    net = model.network_
    rng = np.random.default_rng(0)

    def run():
        for _ in range(steps):
            net.train_step(X, rng.integers(0, len(X), batch))

    return run


def inference_fns(torch, ort, ae, x, threads, compiled_model):
    fns = {"pyae": lambda: ae.reconstruct(x)}
    out = np.empty_like(x)
    net = ae.network_
    fns["pyae (raw forward)"] = lambda: net.forward(x, out, 0, len(net.table))
    model = torch_ae(torch).eval()
    xt = torch.from_numpy(x)

    def eager():
        with torch.inference_mode():
            model(xt)

    fns["PyTorch eager"] = eager
    if compiled_model is not None:
        def compiled():
            with torch.inference_mode():
                compiled_model(xt)

        fns["torch.compile"] = compiled
    if ort is not None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(ae._onnx_path, opts, providers=["CPUExecutionProvider"])
        fns["ONNX Runtime"] = lambda: sess.run(None, {"input": x})
    params = [(p[0], p[1]) for p in ae._numpy_layers]

    def numpy_forward():
        h = x
        for W, b in params:
            h = h @ W.T + b
            np.negative(h, out=h)
            np.exp(h, out=h)
            h += 1
            np.reciprocal(h, out=h)

    fns["NumPy"] = numpy_forward
    return fns


# -------------------------------------------------------------- measuring
def interleaved(fns, rounds, calls_per_round=1, settle=0.15):
    """Median seconds per call of each fn, rounds alternating between them.
    Before each block of calls the process idles for `settle` seconds: the
    previous library's worker threads spin-wait after their work (OpenBLAS
    for ~0.1 s) and would otherwise steal the cores from the next one. The
    order rotates every round so no library always goes first."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    names = list(fns)
    for r in range(rounds):
        for k in names[r % len(names):] + names[:r % len(names)]:  # rotate who goes first
            fn = fns[k]
            time.sleep(settle)
            fn()  # one untimed call wakes this library's threads after the pause
            t = time.perf_counter()
            for _ in range(calls_per_round):
                fn()
            times[k].append((time.perf_counter() - t) / calls_per_round)
    return {k: statistics.median(v) for k, v in times.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--no-precision", action="store_true",
                   help="skip the bf16 / int8 and roofline measurements and the targets")
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    # Every trainer compiles the same loss_fn code object for another model
    # or batch size; without room for those recompilations Dynamo silently
    # falls back to eager after 8 of them.
    torch._dynamo.config.recompile_limit = 256
    torch._dynamo.config.accumulated_recompile_limit = 1024

    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    os.makedirs(args.out, exist_ok=True)
    rounds = 3 if args.quick else 9
    steps = 10 if args.quick else 30
    X = np.random.default_rng(0).random((8192, 784), dtype=np.float32)

    ae = pyae.Autoencoder(hidden=(256, 64), epochs=1, verbose=False).fit(X[:2048])
    ae._onnx_path = os.path.join(args.out, "ae.onnx")
    if ort is not None:
        pyae.export_onnx(ae, ae._onnx_path)
    ae._numpy_layers = [(t[1].astype(np.float32), t[4].astype(np.float32))
                        for t in pyae.export._layer_tensors(ae)]

    env = dict(cpu=cpu_model(), machine=platform.machine(), cores=os.cpu_count(),
               python=platform.python_version(), features=pyae.cpu_features(),
               pyae=pyae.__version__, torch=torch.__version__,
               numpy=np.__version__, onnxruntime=getattr(ort, "__version__", None))
    print("#", ", ".join(f"{k} {v}" for k, v in env.items()))
    rows = []
    for threads in (1, 2):
        pyae.set_num_threads(threads)
        torch.set_num_threads(threads)
        with threadpool_limits(threads):
            for kind in ("ae", "dae", "vae"):
                for batch in (128, 256):
                    fns = {"pyae": pyae_trainer(kind, X, batch, steps),
                           "PyTorch eager": torch_trainer(torch, kind, X, batch, steps, False)}
                    if not args.no_compile:
                        try:
                            fns["torch.compile"] = torch_trainer(torch, kind, X, batch, steps, True)
                            fns["torch.compile"]()  # compile outside the timing
                        except Exception as e:  # noqa: BLE001 - report and go on
                            print(f"# torch.compile failed for {kind} training: {e!r:.120}")
                            fns.pop("torch.compile", None)
                    med = interleaved(fns, rounds)
                    for name, sec in med.items():
                        rows.append(dict(kind="train", model=kind, threads=threads, batch=batch,
                                         framework=name, samples_per_s=batch * steps / sec,
                                         ratio=sec / med["pyae"]))
            compiled = None
            if not args.no_compile:
                try:
                    compiled = torch.compile(torch_ae(torch).eval(), dynamic=False)
                except Exception as e:  # noqa: BLE001
                    print(f"# torch.compile failed for inference: {e!r:.120}")
            for batch in (1, 16, 256):
                x = np.ascontiguousarray(X[:batch])
                fns = inference_fns(torch, ort, ae, x, threads, compiled)
                calls = 400 if batch == 1 else (100 if batch == 16 else 10)
                med = interleaved(fns, rounds, calls)
                for name, sec in med.items():
                    rows.append(dict(kind="inference", model="ae", threads=threads, batch=batch,
                                     framework=name, microseconds=sec * 1e6,
                                     ratio=sec / med["pyae"]))
    print_table(rows)
    precision, targets = [], []
    if not args.no_precision and ort is None:
        print("# onnxruntime missing: no precision measurement and no targets")
    elif not args.no_precision:
        import bench_precision
        import bench_roofline

        quick = dict(samples=4096, repeats=2, epochs=2, calls=400) if args.quick else {}
        precision = bench_precision.measure(threads=2, **quick)
        roofline = bench_roofline.measure(runs=1 if args.quick else 3)
        targets = bench_roofline.targets(roofline) + bench_precision.targets(precision)
        print_targets(targets)
    with open(os.path.join(args.out, "compare.json"), "w") as f:
        json.dump(dict(environment=env, rows=rows, precision=precision,
                       targets=[dict(zip(("what", "measured", "goal", "met"), t))
                                for t in targets]), f, indent=1)
    draw(rows, os.path.join(args.out, "compare.png"))
    print(f"# wrote {args.out}/compare.json and {args.out}/compare.png")


def print_table(rows):
    print(f"{'kind':<9} {'model':<5} {'thr':>3} {'batch':>5} {'framework':<20} "
          f"{'median':>14} {'time / pyae':>12}")
    for r in rows:
        value = (f"{r['samples_per_s']:>9.0f} smp/s" if r["kind"] == "train"
                 else f"{r['microseconds']:>11.1f} us")
        print(f"{r['kind']:<9} {r['model']:<5} {r['threads']:>3} {r['batch']:>5} "
              f"{r['framework']:<20} {value:>14} {r['ratio']:>11.2f}x")


def draw(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("# matplotlib missing: no chart")
        return
    fig, axes = plt.subplots(2, 1, figsize=(13, 8))
    for ax, kind, key, label in ((axes[0], "train", "samples_per_s", "training samples/s"),
                                 (axes[1], "inference", "microseconds", "forward latency (us)")):
        sel = [r for r in rows if r["kind"] == kind]
        groups = sorted({(r["model"], r["threads"], r["batch"]) for r in sel})
        names = list(dict.fromkeys(r["framework"] for r in sel))
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            vals = [next((r[key] for r in sel if (r["model"], r["threads"], r["batch"]) == g
                          and r["framework"] == name), 0.0) for g in groups]
            ax.bar(np.arange(len(groups)) + i * width, vals, width, label=name)
        ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2)
        ax.set_xticklabels([f"{m} t{t} b{b}" for m, t, b in groups], fontsize=8)
        ax.set_ylabel(label)
        if kind == "inference":
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    axes[0].set_title("pyae vs frameworks (medians; higher is better)")
    axes[1].set_title("AE full forward latency (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
