"""Writes golden_vae.npz: 20 training steps of a small VAE in PyTorch from
fixed weights, data and eps (BCE summed over features + KL, mean over the
batch, Adam). tests/test_golden.py replays them in pyae.

    pip install torch==2.13.0 && python tests/reference/make_golden_vae.py

Flat parameter layout (pyae's): per layer, weight (D_out, D_in) then bias;
layers: encoder D -> H (relu), head H -> 2Z, decoder Z -> H (relu) -> D.
"""

from pathlib import Path

import numpy as np
import torch

assert torch.__version__.startswith("2.13.0"), torch.__version__
torch.set_num_threads(1)

D, H, Z = 20, 12, 3
STEPS, BATCH, LR = 20, 16, 1e-2
LAYERS = [(D, H), (H, 2 * Z), (Z, H), (H, D)]


def main():
    rng = np.random.default_rng(7)
    X = (rng.random((64, D)) < 0.4).astype(np.float32)
    n = sum(i * o + o for i, o in LAYERS)
    init = rng.uniform(-0.5, 0.5, n).astype(np.float32)
    eps = rng.standard_normal((STEPS, BATCH, Z)).astype(np.float32)
    tensors, off = [], 0
    for d_in, d_out in LAYERS:
        tensors.append(torch.tensor(init[off:off + d_in * d_out].reshape(d_out, d_in),
                                    requires_grad=True))
        off += d_in * d_out
        tensors.append(torch.tensor(init[off:off + d_out], requires_grad=True))
        off += d_out
    w = tensors[0::2]
    b = tensors[1::2]
    opt = torch.optim.Adam(tensors, lr=LR)
    losses = []
    for step in range(STEPS):
        start = (step * BATCH) % len(X)
        xb = torch.from_numpy(X[start:start + BATCH])
        h = torch.relu(xb @ w[0].t() + b[0])
        ml = h @ w[1].t() + b[1]
        mu, logvar = ml[:, :Z], ml[:, Z:]
        z = mu + torch.exp(0.5 * logvar) * torch.from_numpy(eps[step])
        logits = torch.relu(z @ w[2].t() + b[2]) @ w[3].t() + b[3]
        recon = torch.nn.functional.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp())
        loss = (recon + kl) / BATCH
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    final = torch.cat([t.detach().reshape(-1) for t in tensors]).numpy()
    path = Path(__file__).with_name("golden_vae.npz")
    np.savez(path, X=X, init=init, eps=eps, losses=np.array(losses), final=final,
             dims=np.array([D, H, Z, STEPS, BATCH]), lr=LR)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
