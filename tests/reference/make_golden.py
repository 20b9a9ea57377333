"""Writes golden_training.npz: loss trajectories and final weights of small
autoencoders trained 20 steps by PyTorch, from fixed initial weights and
data. The tests replay the same steps in pyae and compare.

    pip install torch==2.13.0 && python tests/reference/make_golden.py

The flat parameter layout is pyae's: for each layer, its weight (D_out, D_in)
unless the layer is a tied decoder layer, then its bias.
"""

from pathlib import Path

import numpy as np
import torch

assert torch.__version__.startswith("2.13.0"), torch.__version__
torch.set_num_threads(1)

WIDTHS = [20, 12, 5, 12, 20]
CASES = {
    "mse_sgd": dict(loss="mse", optimizer="sgd", lr=0.5, momentum=0.9, tied=False),
    "mse_adam": dict(loss="mse", optimizer="adam", lr=1e-2, momentum=0.0, tied=False),
    "bce_adam_tied": dict(loss="bce", optimizer="adam", lr=1e-2, momentum=0.0, tied=True),
}
STEPS, BATCH = 20, 16


def layout(tied):
    """[(d_in, d_out, owns_weight, mirror_layer)] per layer."""
    L = len(WIDTHS) - 1
    return [(WIDTHS[l], WIDTHS[l + 1], not (tied and l >= L // 2), L - 1 - l) for l in range(L)]


def run(case, X, init):
    layers = layout(case["tied"])
    tensors, weights, biases, offset = [], [], [], 0
    for l, (d_in, d_out, owns, mirror) in enumerate(layers):
        if owns:
            w = torch.tensor(init[offset:offset + d_in * d_out].reshape(d_out, d_in),
                             requires_grad=True)
            offset += d_in * d_out
            tensors.append(w)
            weights.append(lambda w=w: w)
        else:
            weights.append(lambda m=mirror: weights_own[m].t())
        b = torch.tensor(init[offset:offset + d_out], requires_grad=True)
        offset += d_out
        tensors.append(b)
        biases.append(b)
    weights_own = {l: w() for l, w in enumerate(weights) if layers[l][2]}
    if case["optimizer"] == "sgd":
        opt = torch.optim.SGD(tensors, lr=case["lr"], momentum=case["momentum"])
    else:
        opt = torch.optim.Adam(tensors, lr=case["lr"])
    Xt = torch.from_numpy(X)
    losses = []
    for step in range(STEPS):
        start = (step * BATCH) % len(X)
        xb = Xt[start:start + BATCH]
        h = xb
        for l in range(len(layers)):
            h = h @ weights[l]().t() + biases[l]
            if l < len(layers) - 1 or case["loss"] == "mse":
                h = torch.sigmoid(h)
        if case["loss"] == "mse":
            loss = torch.nn.functional.mse_loss(h, xb)
        else:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(h, xb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    final = torch.cat([t.detach().reshape(-1) for t in tensors]).numpy()
    return np.array(losses), final


def main():
    rng = np.random.default_rng(2024)
    X = rng.random((64, WIDTHS[0]), dtype=np.float32)
    out = {"X": X, "widths": np.array(WIDTHS), "steps": STEPS, "batch": BATCH}
    for name, case in CASES.items():
        n = sum((d_in * d_out if owns else 0) + d_out for d_in, d_out, owns, _ in layout(case["tied"]))
        init = rng.uniform(-0.5, 0.5, n).astype(np.float32)
        losses, final = run(case, X, init)
        out[f"{name}/init"] = init
        out[f"{name}/losses"] = losses
        out[f"{name}/final"] = final
    path = Path(__file__).with_name("golden_training.npz")
    np.savez(path, **out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
