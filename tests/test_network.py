"""The whole C++ training step: gradients of every architecture against
float64 central differences of the reference network, and determinism."""

import numpy as np
import pytest

import pyae
from pyae import _core, _reference as ref
from pyae._enums import ACTIVATIONS, LAYER_ROLES, LOSSES, OPTIMIZERS


def autoencoder_table(widths, acts, tied=False):
    """A mirrored autoencoder's table written row by row (not by the
    builder), so these tests also cover LayerTable's own checks."""
    L = len(widths) - 1
    rows = [_core.LayerSpec(widths[l], widths[l + 1], ACTIVATIONS[acts[l]],
                            LAYER_ROLES["encoder" if l < L // 2 else "decoder"],
                            L - 1 - l if tied and l >= L // 2 else -1) for l in range(L)]
    return _core.LayerTable(rows)


def make_network(widths, acts, tied=False, loss="mse", optimizer="sgd", lr=0.1, seed=0):
    net = _core.Network(autoencoder_table(widths, acts, tied), LOSSES[loss],
                        OPTIMIZERS[optimizer], lr, 0.9, 0.999, 1e-8, 0.0)
    rng = np.random.default_rng(seed)
    net.mutable_params()[:] = rng.uniform(-0.8, 0.8, net.params.size).astype(np.float32)
    return net


ARCHS = [
    ([4, 3, 2, 3, 4], ["sigmoid"] * 4, False, "mse"),
    ([4, 3, 2, 3, 4], ["sigmoid"] * 4, True, "mse"),
    ([5, 4, 5], ["tanh", "sigmoid"], False, "bce"),
    ([6, 5, 3, 2, 3, 5, 6], ["relu"] * 5 + ["identity"], False, "mse"),
    ([6, 4, 2, 4, 6], ["tanh"] * 3 + ["sigmoid"], True, "bce"),
    ([5, 4, 3, 4, 5], ["leaky_relu", "elu", "gelu", "silu"], False, "mse"),
    ([6, 4, 2, 4, 6], ["gelu", "silu", "elu", "sigmoid"], True, "bce"),
]


@pytest.mark.parametrize("widths,acts,tied,loss", ARCHS)
def test_network_gradient_matches_central_differences(widths, acts, tied, loss):
    net = make_network(widths, acts, tied, loss)
    rng = np.random.default_rng(1)
    X = rng.random((7, widths[0]), dtype=np.float32)
    rows = np.array([3, 0, 6, 6, 2], dtype=np.int64)
    got_loss = net.compute_gradients(X, rows)[0]
    grads = net.grads.copy()
    xb = X[rows].astype(np.float64)
    p0 = net.params.astype(np.float64)

    def loss_at(p):
        ws, bs, ts, _ = ref.unpack(net.table, p)
        return ref.network_loss(ws, bs, ts, acts, xb, loss)

    assert got_loss == pytest.approx(loss_at(p0), rel=1e-5)
    num = ref.central_difference_gradient(loss_at, p0)
    np.testing.assert_allclose(grads, num, rtol=1e-3, atol=2e-6)


def test_sgd_step_applies_the_gradient():
    widths, acts = [5, 3, 5], ["sigmoid", "sigmoid"]
    net = make_network(widths, acts, lr=0.5)
    X = np.random.default_rng(2).random((4, 5), dtype=np.float32)
    rows = np.arange(4, dtype=np.int64)
    net.compute_gradients(X, rows)
    grads, before = net.grads.copy(), net.params.copy()
    net.train_step(X, rows)  # momentum 0: p -= lr * g
    np.testing.assert_allclose(net.params, before - 0.5 * grads, rtol=1e-6, atol=1e-7)
    assert net.step_count == 1


def test_train_step_rejects_bad_rows_and_changes_nothing():
    net = make_network([4, 2, 4], ["sigmoid"] * 2)
    X = np.zeros((3, 4), np.float32)
    before = net.params.copy()
    with pytest.raises(IndexError, match="outside the data"):
        net.train_step(X, np.array([0, 3], dtype=np.int64))
    np.testing.assert_array_equal(net.params, before)
    assert net.step_count == 0


def train_weights(threads, seed=0, loss="mse"):
    pyae.set_num_threads(threads)
    X = np.random.default_rng(3).random((600, 50), dtype=np.float32)
    ae = pyae.Autoencoder(hidden=(40, 8), epochs=3, batch_size=64, seed=seed, verbose=False,
                          loss=loss).fit(X)
    return ae.network_.params.copy()


@pytest.mark.parametrize("threads_n", [1, 2])
def test_same_seed_same_threads_is_bitwise_identical(threads, threads_n):
    a = train_weights(threads_n)
    b = train_weights(threads_n)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, train_weights(threads_n, seed=1))
