"""DenoisingAutoencoder: corruption inside the step, reproducibility,
files, and denoising quality on real digits."""

import numpy as np
import pytest

import pyae
from pyae import _core
from pyae.noise import Gaussian, Masking, SaltAndPepper


@pytest.fixture
def X(rng):
    latent = rng.standard_normal((400, 4))
    return (1 / (1 + np.exp(-latent @ rng.standard_normal((4, 20)) * 2))).astype(np.float32)


def dae(**kw):
    args = dict(hidden=(16, 6), epochs=3, batch_size=32, verbose=False, seed=0)
    args.update(kw)
    return pyae.DenoisingAutoencoder(**args)


def test_default_noise_and_params(X):
    m = dae()
    assert m.get_params()["noise"] is None
    m.fit(X)
    assert m._checked_config()["noise"] == Gaussian(0.5)
    np.testing.assert_array_equal(m.denoise(X), m.reconstruct(X))


def test_training_uses_the_corrupted_input():
    # With the same seed and data, a DAE and a plain AE start identically;
    # their first step differs only through the corruption.
    X = np.random.default_rng(0).random((64, 20), dtype=np.float32)
    kw = dict(hidden=(8, 4), epochs=1, batch_size=64, verbose=False, seed=0, shuffle=False)
    ae = pyae.Autoencoder(**kw).fit(X)
    d = pyae.DenoisingAutoencoder(noise=Gaussian(1e-30, clip=None), **kw).fit(X)
    np.testing.assert_array_equal(ae.network_.params, d.network_.params)  # ~no noise
    d2 = pyae.DenoisingAutoencoder(noise=Masking(0.5), **kw).fit(X)
    assert not np.array_equal(ae.network_.params, d2.network_.params)


def test_gradient_is_for_corrupted_input_and_clean_target():
    X = np.random.default_rng(1).random((8, 6), dtype=np.float32)
    sigmoid = _core.Activation.sigmoid
    table = _core.LayerTable.autoencoder(6, [4], sigmoid, sigmoid, False)
    net = _core.Network(table, _core.Loss.mse, _core.OptimizerKind.sgd, 0.1, 0.9, 0.999, 1e-8,
                        0.0)
    net.mutable_params()[:] = np.random.default_rng(2).uniform(-1, 1, net.params.size).astype(np.float32)
    noise = Masking(0.5)
    net.set_noise(*noise._kernel_args(), 11)
    rows = np.arange(8, dtype=np.int64)
    loss = net.compute_gradients(X, rows)[0]
    corrupted = noise(X, seed=11, stream=0)  # step 0, batch elements 0..47
    W1 = net.params[:24].reshape(4, 6)
    b1 = net.params[24:28]
    W2 = net.params[28:52].reshape(6, 4)
    b2 = net.params[52:58]
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    out = sig(sig(corrupted.astype(np.float64) @ W1.T + b1) @ W2.T + b2)
    assert loss == pytest.approx(((out - X) ** 2).mean(), rel=1e-5)


def test_reproducible_and_fresh_noise_per_step(X, threads):
    runs = []
    for t in (1, 2, 1):
        pyae.set_num_threads(t)
        runs.append(dae(noise=SaltAndPepper(0.2)).fit(X).network_.params.copy())
    np.testing.assert_array_equal(runs[0], runs[2])
    assert not np.array_equal(runs[0], dae(noise=SaltAndPepper(0.2), seed=1).fit(X)
                              .network_.params)


def test_save_load_keeps_noise_and_resumes_exactly(tmp_path, X):
    kw = dict(noise=SaltAndPepper(0.1, salt_ratio=0.3), epochs=1)
    straight = dae(**kw)
    straight.partial_fit(X)
    straight.partial_fit(X)
    first = dae(**kw)
    first.partial_fit(X)
    first.save(tmp_path / "d.safetensors")
    back = pyae.load(tmp_path / "d.safetensors")
    assert type(back) is pyae.DenoisingAutoencoder
    assert back.noise == SaltAndPepper(0.1, salt_ratio=0.3)
    back.partial_fit(X)
    np.testing.assert_array_equal(back.network_.params, straight.network_.params)


def test_bad_noise_is_rejected_before_training(X):
    m = dae(noise="gaussian")
    with pytest.raises(ValueError, match="noise must be"):
        m.fit(X)
    assert not hasattr(m, "network_")


def test_sklearn_clone(X):
    from sklearn.base import clone

    m = dae(noise=Masking(0.25))
    c = clone(m)
    assert c.get_params()["noise"] == Masking(0.25)


def test_denoising_mnist(data_dir):
    X, _ = pyae.datasets.load_mnist("test", data_dir=data_dir)
    order = np.random.default_rng(0).permutation(len(X))
    train, held_out = X[order[:8000]], X[order[8000:]]
    m = pyae.DenoisingAutoencoder(hidden=(256, 64), noise=Gaussian(0.5), epochs=15,
                                  learning_rate=2e-3, verbose=False, seed=0).fit(train)
    noisy = Gaussian(0.5)(held_out, seed=123)
    mse_noisy = float(((noisy - held_out) ** 2).mean())
    mse_denoised = float(((m.denoise(noisy) - held_out) ** 2).mean())
    assert mse_denoised < 0.5 * mse_noisy
