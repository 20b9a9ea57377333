"""scale="standard" / "minmax": learnt in fit, applied wherever data enters
and leaves the model (Python on every backend, the model file, ONNX and the
C library), so a scaled model equals an unscaled one trained on data scaled
by hand, bit for bit."""

import numpy as np
import pytest

import pyae
from pyae import _core

RNG = np.random.default_rng(0)
# Tabular columns of very different units.
X = (RNG.standard_normal((300, 5)) * [1, 10, 100, 0.1, 3] + [0, 5, -50, 1, 2]).astype(np.float32)


def by_hand(kind):
    X64 = X.astype(np.float64)
    if kind == "standard":
        offset, spread = X64.mean(0), X64.std(0)
    else:
        offset, spread = X64.min(0), X64.max(0) - X64.min(0)
    return offset.astype(np.float32), (1 / spread).astype(np.float32)


CASES = [(pyae.Autoencoder, dict(hidden=(4, 2), output_activation="identity"), "standard"),
         (pyae.Autoencoder, dict(hidden=(4, 2), loss="bce"), "minmax"),
         (pyae.DenoisingAutoencoder, dict(hidden=(4,), noise=pyae.noise.Gaussian(0.1)),
          "minmax"),
         (pyae.VAE, dict(hidden=(6,), latent_dim=2, loss="gaussian",
                         output_activation="identity"), "standard")]


@pytest.mark.parametrize("cls,kw,kind", CASES)
def test_a_scaled_model_is_an_unscaled_one_on_scaled_data(cls, kw, kind):
    kw = dict(kw, epochs=5, verbose=False)
    scaled = cls(scale=kind, **kw).fit(X)
    offset, factor = by_hand(kind)
    np.testing.assert_allclose(scaled.scaler_[0], offset, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(scaled.scaler_[1], factor, rtol=1e-6)
    offset, factor = scaled.scaler_
    Xs = (X - offset) * factor
    plain = cls(**kw).fit(Xs)
    np.testing.assert_array_equal(scaled.network_.params, plain.network_.params)
    np.testing.assert_array_equal(scaled.transform(X), plain.transform(Xs))
    back = plain.reconstruct(Xs)
    back /= factor
    back += offset
    np.testing.assert_array_equal(scaled.reconstruct(X), back)
    Z = scaled.transform(X[:7])
    np.testing.assert_array_equal(scaled.inverse_transform(Z),
                                  plain.inverse_transform(Z) / factor + offset)
    assert scaled.score(X) == plain.score(Xs)
    if cls is pyae.VAE:
        np.testing.assert_array_equal(scaled.elbo(X), plain.elbo(Xs))
        np.testing.assert_array_equal(scaled.sample(4), plain.sample(4) / factor + offset)
    out = np.empty_like(X)
    assert scaled.reconstruct(X, out=out) is out
    np.testing.assert_array_equal(out, scaled.reconstruct(X))


@pytest.mark.parametrize("cls,kw,kind", CASES)
def test_the_scaling_travels_with_the_model(cls, kw, kind, tmp_path):
    model = cls(scale=kind, epochs=5, verbose=False, **kw).fit(X)
    model.save(tmp_path / "m.safetensors")
    back = pyae.load(tmp_path / "m.safetensors")
    assert back.scale == kind
    np.testing.assert_array_equal(back.reconstruct(X), model.reconstruct(X))
    np.testing.assert_array_equal(back.score_samples(X), model.score_samples(X))
    c = _core.CModel((tmp_path / "m.safetensors").read_bytes())
    np.testing.assert_allclose(c.forward(0, X), model.reconstruct(X), rtol=1e-5, atol=1e-4)
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    pyae.export_onnx(model, tmp_path / "m.onnx")
    got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input": X})[0]
    np.testing.assert_allclose(got, model.reconstruct(X), rtol=1e-5, atol=1e-4)


def test_scaling_runs_on_every_backend(backend):
    kw = dict(hidden=(4, 2), output_activation="identity", scale="standard", epochs=3,
              verbose=False)
    cpu = pyae.Autoencoder(**kw).fit(X)
    other = pyae.Autoencoder(device=backend.device, **kw).fit(X)
    got = other.reconstruct(X)
    got = got.get() if hasattr(got, "get") else np.asarray(got)
    np.testing.assert_allclose(got, cpu.reconstruct(X), rtol=backend.rtol * 10, atol=1e-3)


def test_bad_scales_and_changes_after_fit():
    for bad in ("robust", 1, True, "Standard"):
        with pytest.raises(ValueError, match="scale must be None, 'standard' or 'minmax'"):
            pyae.Autoencoder(scale=bad, verbose=False).fit(X)
    with pytest.raises(ValueError, match="loss='bce' needs data in"):
        pyae.Autoencoder(loss="bce", verbose=False).fit(X)  # raw units: refused
    model = pyae.Autoencoder(hidden=(3,), loss="bce", scale="minmax", epochs=1,
                             verbose=False).fit(X)
    model.set_params(scale="standard")
    with pytest.raises(ValueError, match="scale changed since the model was fitted"):
        model.partial_fit(X)
    scaler = model.scaler_
    model.set_params(scale="minmax").partial_fit(X)  # later calls keep the fitted scaling
    assert model.scaler_ is scaler


def test_a_constant_feature_is_only_shifted():
    X_const = X.copy()
    X_const[:, 2] = 7.0
    model = pyae.Autoencoder(hidden=(3,), output_activation="identity", scale="standard",
                             epochs=1, verbose=False).fit(X_const)
    assert model.scaler_[1][2] == 1.0 and model.scaler_[0][2] == 7.0
    assert np.isfinite(model.reconstruct(X_const)).all()


def test_a_subnormal_spread_is_treated_as_no_spread():
    """Before: 1 / spread overflowed float32 to inf and training 'diverged'."""
    X_tiny = X.copy()
    X_tiny[:, 0] = np.random.default_rng(1).random(len(X)).astype(np.float32) * 1e-39
    model = pyae.Autoencoder(hidden=(3,), loss="bce", scale="minmax", epochs=1,
                             verbose=False).fit(X_tiny)
    assert model.scaler_[1][0] == 1.0 and np.isfinite(model.scaler_[1]).all()
