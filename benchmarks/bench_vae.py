"""VAE training: pyae vs PyTorch eager, same data, threads and epochs, one run.

The 784-400-(20)-400-784 VAE of PyTorch's classic example: ReLU hidden
layers, Bernoulli decoder (BCE summed over pixels) + KL, Adam 1e-3, batch
128. Both minimise the batch *mean* of the per-sample loss (the example sums
over the batch; Adam is invariant to that scale up to its eps). Epochs of
the two frameworks alternate; the table gives median seconds per epoch,
samples/s, and held-out -ELBO (nats, 10 Monte Carlo draws per digit) after
the last epoch.

    PYAE_DATA_DIR=../shared/datasets python benchmarks/bench_vae.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import pyae


def load_digits():
    if not os.environ.get("PYAE_DATA_DIR"):
        raise SystemExit("set PYAE_DATA_DIR to the datasets folder (MNIST is needed for -ELBO)")
    X_tr, _, X_te, _, desc = pyae.datasets.load_train_test("mnist")
    return X_tr, X_te, desc


class TorchVAE:
    def __init__(self, torch, seed):
        nn = torch.nn
        torch.manual_seed(seed)
        self.torch = torch
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)
        params = [p for m in (self.fc1, self.fc21, self.fc22, self.fc3, self.fc4)
                  for p in m.parameters()]
        self.opt = torch.optim.Adam(params, lr=1e-3)
        self.gen = torch.Generator().manual_seed(seed)

    def loss(self, x, per_sample=False):
        F, torch = self.torch.nn.functional, self.torch
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=self.gen)
        logits = self.fc4(F.relu(self.fc3(z)))
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
        return bce + kl if per_sample else (bce + kl).mean()

    def epoch(self, Xt, batch):
        perm = self.torch.randperm(len(Xt), generator=self.gen)
        for s in range(0, len(Xt), batch):
            self.opt.zero_grad(set_to_none=True)
            self.loss(Xt[perm[s:s + batch]]).backward()
            self.opt.step()

    def neg_elbo(self, Xt, draws=10):
        with self.torch.no_grad():
            return float(np.mean([self.loss(Xt, per_sample=True).mean().item()
                                  for _ in range(draws)]))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[2])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    args = p.parse_args()

    import torch

    X_tr, X_te, desc = load_digits()
    Xt_tr, Xt_te = torch.from_numpy(X_tr), torch.from_numpy(X_te)
    print(f"# data: {desc}; {args.epochs} epochs, batch {args.batch}; pyae {pyae.__version__} "
          f"({pyae.simd_level()}), torch {torch.__version__}")
    print(f"{'threads':>7} {'framework':>10} {'s/epoch':>8} {'samples/s':>10} "
          f"{'held-out -ELBO':>15}")
    for t in args.threads:
        pyae.set_num_threads(t)
        torch.set_num_threads(t)
        vae = pyae.VAE(hidden=(400,), latent_dim=20, loss="bce", epochs=1,
                       batch_size=args.batch, verbose=False, seed=0)
        ref = TorchVAE(torch, seed=0)
        times = {"pyae": [], "torch": []}
        vae.partial_fit(X_tr[:args.batch])  # builds the network (and the score statistics)
        backend, rng = vae._backend(), np.random.default_rng(0)
        for _ in range(args.epochs):  # training epochs alone, as the PyTorch side
            s = time.perf_counter()
            backend.train_epoch(X_tr, rng.permutation(len(X_tr)), args.batch)
            times["pyae"].append(time.perf_counter() - s)
            s = time.perf_counter()
            ref.epoch(Xt_tr, args.batch)
            times["torch"].append(time.perf_counter() - s)
        results = {"pyae": -float(vae.elbo(X_te, n_samples=10).mean()),
                   "torch": ref.neg_elbo(Xt_te)}
        med = {k: statistics.median(v) for k, v in times.items()}
        for name in ("pyae", "torch"):
            print(f"{t:>7} {name:>10} {med[name]:>8.3f} {len(X_tr) / med[name]:>10.0f} "
                  f"{results[name]:>15.2f}")
        print(f"{t:>7} {'ratio':>10} {'':>8} {med['torch'] / med['pyae']:>9.2f}x "
              f"{results['pyae'] / results['torch']:>14.4f}x")


if __name__ == "__main__":
    main()
