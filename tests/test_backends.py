"""One body per behaviour, run on every backend a model can use (the
``backend`` fixture of conftest.py): the C++ CPU backend, the GPU backend on
a NumPy stand-in of CudaOps, the GPU backend with pyae's CUDA kernels run by
the CPU emulator, and the real GPU path where one is present. Each must
follow the C++ network's training trajectory and answer like it."""

import numpy as np
import pytest

import pyae


def data(rng, n=101, d=12):
    return rng.uniform(0.0, 1.0, (n, d)).astype(np.float32)


def fit_pair(cls, backend, X, **kw):
    """The same model trained on the CPU and on the backend."""
    kw.setdefault("verbose", False)
    cpu = cls(**kw).fit(X, validation_data=X[:40])
    other = cls(device=backend.device, **kw).fit(X, validation_data=X[:40])
    return cpu, other


def backend_params(model):
    model._sync_to_host()
    return model.network_.params


def assert_same_training(cpu, other, rtol):
    np.testing.assert_allclose(other.history_["loss"], cpu.history_["loss"], rtol=rtol)
    np.testing.assert_allclose(other.history_["val_loss"], cpu.history_["val_loss"], rtol=rtol)
    np.testing.assert_allclose(backend_params(other), cpu.network_.params, rtol=rtol,
                               atol=rtol)


MODELS = [
    (pyae.Autoencoder, dict(hidden=(8, 4))),
    (pyae.Autoencoder, dict(hidden=(8, 4), tied_weights=True, loss="bce")),
    (pyae.Autoencoder, dict(hidden=(7,), activation="relu", output_activation="identity",
                            optimizer="sgd", learning_rate=0.05)),
    (pyae.Autoencoder, dict(hidden=(9, 6, 3), activation="tanh", tied_weights=True)),
    (pyae.Autoencoder, dict(hidden=(8, 4), activation="gelu", output_activation="silu")),
    (pyae.Autoencoder, dict(hidden=(8, 4), activation="silu", output_activation="elu",
                            tied_weights=True)),
    (pyae.Autoencoder, dict(hidden=(8,), activation="leaky_relu")),
    (pyae.DenoisingAutoencoder, dict(hidden=(8, 4), noise=pyae.noise.Gaussian(0.3))),
    (pyae.DenoisingAutoencoder, dict(hidden=(8, 4), noise=pyae.noise.SaltAndPepper(0.2))),
    (pyae.DenoisingAutoencoder, dict(hidden=(8,), noise=pyae.noise.Masking(0.3),
                                     activation="gelu")),
    (pyae.VAE, dict(hidden=(8,), latent_dim=3, loss="bce")),
    (pyae.VAE, dict(hidden=(9, 7), latent_dim=3, loss="gaussian", beta=0.5)),
    (pyae.VAE, dict(hidden=(8,), latent_dim=2, optimizer="sgd", learning_rate=0.01,
                    activation="silu")),
]


@pytest.mark.parametrize("cls,kw", MODELS, ids=lambda v: getattr(v, "__name__", None))
def test_training_follows_the_cpu_trajectory(backend, rng, cls, kw):
    X = data(rng, d=10)
    cpu, other = fit_pair(cls, backend, X, batch_size=32, epochs=3, seed=4, **kw)
    assert_same_training(cpu, other, backend.rtol)
    # 101 rows in batches of 32: three full batches and a remainder, each epoch.
    assert other.network_.step_count == cpu.network_.step_count == 3 * 4


@pytest.mark.parametrize("cls,kw", [MODELS[1], MODELS[4], MODELS[11]],
                         ids=lambda v: getattr(v, "__name__", None))
def test_inference_matches_the_cpu_and_returns_numpy_for_numpy(backend, rng, cls, kw):
    X = data(rng, n=48, d=10)
    cpu, other = fit_pair(cls, backend, X, epochs=2, **kw)
    tol = max(backend.rtol, 2e-5) * 10
    for method in ("transform", "reconstruct", "score_samples"):
        got = getattr(other, method)(X)
        assert isinstance(got, np.ndarray) and got.dtype == np.float32, method
        np.testing.assert_allclose(got, getattr(cpu, method)(X), rtol=tol, atol=tol,
                                   err_msg=method)
    code = cpu.transform(X)
    np.testing.assert_allclose(other.inverse_transform(code), cpu.inverse_transform(code),
                               rtol=tol, atol=tol)
    assert other.score(X) == pytest.approx(cpu.score(X), rel=tol)
    if cls is pyae.VAE:
        np.testing.assert_allclose(other.sample(5), cpu.sample(5), rtol=tol, atol=tol)
        np.testing.assert_allclose(other.elbo(X, n_samples=2), cpu.elbo(X, n_samples=2),
                                   rtol=tol, atol=tol)


def test_out_is_for_the_cpu_backend_only(backend, rng):
    X = data(rng)
    model = pyae.Autoencoder(hidden=(4,), epochs=1, verbose=False, device=backend.device).fit(X)
    out = np.empty_like(X)
    if backend.device == "cpu":
        assert model.reconstruct(X, out=out) is out
    else:
        with pytest.raises(ValueError, match="out= is supported on device='cpu' only"):
            model.reconstruct(X, out=out)


def test_moving_between_devices_keeps_training_state(backend, rng, tmp_path):
    X = data(rng)
    common = dict(hidden=(8, 4), batch_size=40, verbose=False)
    cpu = pyae.Autoencoder(**common)
    mixed = pyae.Autoencoder(**common)
    for device in ("cpu", backend.device, backend.device, "cpu", backend.device):
        cpu.partial_fit(X)
        mixed.to(device).partial_fit(X)
    mixed.save(tmp_path / "m.safetensors")  # from the backend's copy
    loaded = pyae.load(tmp_path / "m.safetensors")
    assert loaded.device == "cpu"
    np.testing.assert_allclose(loaded.network_.params, cpu.network_.params,
                               rtol=backend.rtol, atol=backend.rtol)
    assert loaded.network_.step_count == cpu.network_.step_count
    # set_params(device="cpu") without to() still brings the state back.
    mixed.set_params(device="cpu")
    np.testing.assert_allclose(mixed.transform(X), loaded.transform(X), rtol=1e-6)


def test_patience_restores_the_best_weights(backend, rng):
    X = data(rng)
    common = dict(hidden=(8, 4), epochs=6, patience=1, tol=10.0, verbose=False)
    cpu = pyae.Autoencoder(**common).fit(X)
    other = pyae.Autoencoder(device=backend.device, **common).fit(X)
    assert len(other.history_["loss"]) == len(cpu.history_["loss"]) == 2
    np.testing.assert_allclose(backend_params(other), cpu.network_.params, rtol=backend.rtol,
                               atol=backend.rtol)


def test_device_arrays_in_device_arrays_out(backend, rng):
    """On a real GPU: CuPy in, CuPy out."""
    if backend.name != "cuda":
        pytest.skip("needs the real GPU path (CuPy arrays)")
    X = data(rng)
    model = pyae.Autoencoder(hidden=(8, 4), epochs=1, verbose=False, device="cuda").fit(X)
    Xd = backend.ops.xp.asarray(X)
    out = model.transform(Xd)
    assert isinstance(out, backend.ops.xp.ndarray)
    np.testing.assert_allclose(backend.ops.to_host(out), model.to("cpu").transform(X),
                               rtol=1e-4, atol=1e-5)


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


@pytest.mark.parametrize("cls,kw", [(pyae.Autoencoder, dict(hidden=(8,))),
                                    (pyae.DenoisingAutoencoder, dict(hidden=(8,))),
                                    (pyae.VAE, dict(hidden=(8,), latent_dim=2,
                                                    loss="gaussian", anomaly_score="elbo"))])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the NumPy stand-ins overflow too
def test_finite_inputs_too_large_for_float32_never_give_nan(backend, cls, kw):
    """Before: DAE and VAE transform answered NaN for rows of 3e38. Now the
    autoencoders' saturating sigmoids give finite codes and reconstructions
    and a score of +inf (the squared error itself is past float32); the
    VAE's code (W x, unbounded) overflows, which is a FloatingPointError
    naming the cause, for every method that needs that code."""
    X = data(np.random.default_rng(0))
    model = cls(device=backend.device, epochs=1, verbose=False, **kw).fit(X)
    huge = np.full((3, X.shape[1]), 3e38, np.float32)
    if cls is pyae.VAE:
        for method in ("transform", "score_samples"):
            with pytest.raises(FloatingPointError, match=r"overflowed float32.*3e\+38"):
                getattr(model, method)(huge)
        return
    assert np.isfinite(_host(model.transform(huge))).all()
    assert np.isfinite(_host(model.reconstruct(huge))).all()
    assert (_host(model.score_samples(huge)) == np.inf).all()


def test_weights_too_large_for_float32_sums_are_a_floating_point_error():
    """Found by fuzzing the loader: a file may hold finite weights whose sums
    overflow on ordinary inputs; the VAE's code is then a clear error."""
    X = data(np.random.default_rng(0))
    model = pyae.VAE(hidden=(8,), latent_dim=2, epochs=1, verbose=False).fit(X)
    model.network_.mutable_params()[:] = 3e38
    with pytest.raises(FloatingPointError, match="the weights are too large"):
        model.transform(X)
