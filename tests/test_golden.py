"""pyae's training trajectory against PyTorch's (golden file written by
tests/reference/make_golden.py with torch 2.13.0; torch is not needed here)."""

from pathlib import Path

import numpy as np
import pytest

from pyae import _core
from pyae._enums import ACTIVATIONS, LOSSES, OPTIMIZERS

GOLDEN = np.load(Path(__file__).parent / "reference" / "golden_training.npz")
CASES = {
    "mse_sgd": dict(loss="mse", optimizer="sgd", lr=0.5, momentum=0.9, tied=False),
    "mse_adam": dict(loss="mse", optimizer="adam", lr=1e-2, momentum=0.0, tied=False),
    "bce_adam_tied": dict(loss="bce", optimizer="adam", lr=1e-2, momentum=0.0, tied=True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_trajectory_matches_pytorch(name):
    case = CASES[name]
    widths = [int(w) for w in GOLDEN["widths"]]
    X = GOLDEN["X"]
    steps, batch = int(GOLDEN["steps"]), int(GOLDEN["batch"])
    hidden = widths[1:len(widths) // 2 + 1]
    table = _core.LayerTable.autoencoder(widths[0], hidden, ACTIVATIONS["sigmoid"],
                                         ACTIVATIONS["sigmoid"], case["tied"])
    net = _core.Network(table, LOSSES[case["loss"]], OPTIMIZERS[case["optimizer"]], case["lr"],
                        0.9, 0.999, 1e-8, case["momentum"])
    net.mutable_params()[:] = GOLDEN[f"{name}/init"]
    losses = []
    for step in range(steps):
        start = (step * batch) % len(X)
        rows = np.arange(start, start + batch, dtype=np.int64)
        losses.append(net.train_step(X, rows)[0])
    # Same float32 arithmetic up to summation order: agreement to ~1e-6.
    np.testing.assert_allclose(losses, GOLDEN[f"{name}/losses"], rtol=2e-6)
    np.testing.assert_allclose(net.params, GOLDEN[f"{name}/final"], rtol=1e-4, atol=2e-6)


def test_vae_trajectory_matches_pytorch():
    g = np.load(Path(__file__).parent / "reference" / "golden_vae.npz")
    D, H, Z, steps, batch = (int(v) for v in g["dims"])
    table = _core.LayerTable.vae(D, [H], Z, ACTIVATIONS["relu"], ACTIVATIONS["sigmoid"])
    net = _core.Network(table, LOSSES["bce"], OPTIMIZERS["adam"], float(g["lr"]), 0.9, 0.999,
                        1e-8, 0.0, beta=1.0)
    net.mutable_params()[:] = g["init"]
    X = g["X"]
    losses = []
    for step in range(steps):
        start = (step * batch) % len(X)
        rows = np.arange(start, start + batch, dtype=np.int64)
        losses.append(net.train_step(X, rows, g["eps"][step])[0])
    np.testing.assert_allclose(losses, g["losses"], rtol=1e-5)
    np.testing.assert_allclose(net.params, g["final"], rtol=1e-4, atol=1e-5)
