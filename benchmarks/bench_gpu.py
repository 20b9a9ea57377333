"""GPU training throughput and noise-kernel bandwidth, pyae vs PyTorch.

Models (the issue's): AE 784-256-64-256-784 (sigmoid, MSE, Adam) and VAE
784-400-(20)-400-784 (ReLU, Bernoulli decoder, Adam), at batch 128 and 1024,
on 16,384 random rows held on the GPU. Each contender runs whole epochs and
synchronises once per epoch; epochs of all contenders alternate, and the
table reports the median samples/s over --repeats epochs:

  pyae (extension)  pyae._cuda kernels, step captured in a CUDA graph
  pyae (NVRTC)      the CuPy fallback: same source compiled at run time
  PyTorch eager     nn.Sequential + torch.optim.Adam (foreach), no syncs
  PyTorch graphs    the same step captured with torch.cuda.graph
                    (capturable Adam), batch copied in before each replay

Noise: Gaussian / salt-and-pepper / masking corruption of 64M float32
elements (read 4 B + write 4 B each) against a device-to-device copy.

    python benchmarks/bench_gpu.py [--repeats 7] [--rows 16384]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import pyae


# ------------------------------------------------------------------- pyae
def pyae_network(kind, source, use_graphs=True):
    """A DeviceNetwork for the benchmark model on kernels from `source`."""
    from pyae._gpu.network import DeviceNetwork
    from pyae._gpu.ops import CudaOps

    X = np.random.default_rng(0).random((4, 784), dtype=np.float32)
    if kind == "ae":
        model = pyae.Autoencoder(hidden=(256, 64), epochs=1, verbose=False)
    else:
        model = pyae.VAE(hidden=(400,), latent_dim=20, epochs=1, verbose=False)
    model.fit(X)
    net = model.network_
    gpu = DeviceNetwork(CudaOps(source), net.table, use_graphs=use_graphs,
                        **model._backend_config())
    gpu.load_state(net.params, net.optimizer_state(0), net.optimizer_state(1), 0)
    return gpu


def pyae_epoch(gpu, X, batch, rng):
    order = rng.permutation(X.shape[0])
    start = time.perf_counter()
    gpu.train_epoch(X, order, batch)  # returns after its one synchronisation
    return time.perf_counter() - start


# ---------------------------------------------------------------- PyTorch
def torch_model(kind):
    import torch
    from torch import nn

    if kind == "ae":
        net = nn.Sequential(nn.Linear(784, 256), nn.Sigmoid(), nn.Linear(256, 64), nn.Sigmoid(),
                            nn.Linear(64, 256), nn.Sigmoid(), nn.Linear(256, 784), nn.Sigmoid())

        def loss_fn(x):
            return nn.functional.mse_loss(net(x), x)
        return net, loss_fn
    enc = nn.Sequential(nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 40))
    dec = nn.Sequential(nn.Linear(20, 400), nn.ReLU(), nn.Linear(400, 784))
    net = nn.ModuleList([enc, dec])

    def loss_fn(x):
        mu, logvar = enc(x).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = nn.functional.binary_cross_entropy_with_logits(dec(z), x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu * mu - logvar.exp())
        return (recon + kl) / x.shape[0]
    return net, loss_fn


class TorchEager:
    def __init__(self, kind):
        import torch

        self.torch = torch
        net, self.loss_fn = torch_model(kind)
        self.net = net.cuda()
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)

    def epoch(self, X, batch, rng):
        torch = self.torch
        perm = torch.as_tensor(rng.permutation(X.shape[0]), device="cuda")
        torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(0, X.shape[0], batch):
            x = X[perm[i:i + batch]]
            self.opt.zero_grad(set_to_none=True)
            self.loss_fn(x).backward()
            self.opt.step()
        torch.cuda.synchronize()
        return time.perf_counter() - start


class TorchGraphs:
    """Whole-step capture as in PyTorch's CUDA-graphs recipe."""

    def __init__(self, kind, batch):
        import torch

        self.torch = torch
        net, loss_fn = torch_model(kind)
        self.net = net.cuda()
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3, capturable=True)
        self.static_x = torch.rand(batch, 784, device="cuda")
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up, as the recipe asks
            for _ in range(3):
                self.opt.zero_grad(set_to_none=True)
                loss_fn(self.static_x).backward()
                self.opt.step()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        self.opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(self.graph):
            self.static_loss = loss_fn(self.static_x)
            self.static_loss.backward()
            self.opt.step()
        self.batch = batch

    def epoch(self, X, batch, rng):
        torch = self.torch
        n_full = X.shape[0] // batch * batch  # the graph has one batch size
        perm = torch.as_tensor(rng.permutation(X.shape[0])[:n_full], device="cuda")
        torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(0, n_full, batch):
            torch.index_select(X, 0, perm[i:i + batch], out=self.static_x)
            self.graph.replay()
        torch.cuda.synchronize()
        return (time.perf_counter() - start) * X.shape[0] / n_full


# ------------------------------------------------------------------ noise
def noise_bandwidth(source):
    import cupy as cp

    from pyae._gpu.ops import CudaOps

    ops = CudaOps(source)
    n = 64 * 2**20
    with ops.activate():
        x = cp.random.random(n, dtype=cp.float32)
        out = cp.empty_like(x)

        def gbps(fn, repeats=20):
            fn()
            start, stop = cp.cuda.Event(), cp.cuda.Event()
            start.record()
            for _ in range(repeats):
                fn()
            stop.record()
            stop.synchronize()
            return 2 * x.nbytes * repeats / (cp.cuda.get_elapsed_time(start, stop) / 1e3) / 1e9

        copy = gbps(lambda: cp.copyto(out, x))
        rows = [("device-to-device copy", copy, 100.0)]
        for name, args in (("gaussian 0.5 + clip", (1, 0.5, 0.0, 0.0, 1.0, True)),
                           ("salt-and-pepper 0.2", (2, 0.2, 0.5, 0.0, 1.0, False)),
                           ("masking 0.3", (3, 0.3, 0.0, 0.0, 0.0, False))):
            value = gbps(lambda a=args: ops.noise(out, x, n, *a, 1, 0, None, 0))
            rows.append((f"{name} ({source})", value, 100 * value / copy))
    return rows


# ------------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, default=16384)
    args = parser.parse_args()
    import cupy as cp
    import torch

    status = pyae.cuda_available()
    sources = ["extension", "nvrtc"] if status.state != "not built" else ["nvrtc"]
    print(f"# {status.reason}; torch {torch.__version__}, cupy {cp.__version__}")
    X_np = np.random.default_rng(1).random((args.rows, 784), dtype=np.float32)
    X_cp, X_torch = cp.asarray(X_np), torch.as_tensor(X_np, device="cuda")
    results = []
    for kind in ("ae", "vae"):
        for batch in (128, 1024):
            contenders = {f"pyae ({s})": (pyae_network(kind, s), "pyae") for s in sources}
            contenders["pyae (no graph)"] = (pyae_network(kind, sources[0], False), "pyae")
            contenders["PyTorch eager"] = (TorchEager(kind), "torch")
            contenders["PyTorch graphs"] = (TorchGraphs(kind, batch), "torch")
            times = {name: [] for name in contenders}
            rng = np.random.default_rng(2)
            for rep in range(args.repeats + 1):  # the first round warms up
                for name, (runner, lib) in contenders.items():
                    if lib == "pyae":
                        t = pyae_epoch(runner, X_cp, batch, rng)
                    else:
                        t = runner.epoch(X_torch, batch, rng)
                    if rep:
                        times[name].append(t)
            rate = {name: args.rows / statistics.median(t) for name, t in times.items()}
            results.append((kind, batch, rate))
    noise = [row for s in sources for row in noise_bandwidth(s)[(0 if s == sources[0] else 1):]]

    print(f"\n{'model':<5} {'batch':>5} {'contender':<18} {'samples/s':>12} "
          f"{'vs eager':>9} {'vs graphs':>10}")
    for kind, batch, rate in results:
        for name, value in rate.items():
            print(f"{kind:<5} {batch:>5} {name:<18} {value:>12,.0f} "
                  f"{value / rate['PyTorch eager']:>8.2f}x {value / rate['PyTorch graphs']:>9.2f}x")
    print(f"\n{'noise kernel':<34} {'GB/s':>8} {'% of copy':>10}")
    for name, value, pct in noise:
        print(f"{name:<34} {value:>8.0f} {pct:>9.0f}%")


if __name__ == "__main__":
    main()
