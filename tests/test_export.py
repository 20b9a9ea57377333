"""ONNX export: the checker accepts every graph and ONNX Runtime reproduces
pyae's outputs within 1e-5."""

import numpy as np
import pytest

import pyae

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).random((64, 30), dtype=np.float32)


def run(path, **inputs):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, inputs)))


MODELS = {
    "ae": lambda: pyae.Autoencoder(hidden=(16, 6), epochs=2, verbose=False),
    "ae_relu_tanh_tied": lambda: pyae.Autoencoder(hidden=(16, 6), activation="tanh",
                                                  output_activation="relu", tied_weights=True,
                                                  epochs=2, verbose=False),
    "dae": lambda: pyae.DenoisingAutoencoder(hidden=(12,), epochs=2, verbose=False),
    **{f"ae_{act}": (lambda act=act: pyae.Autoencoder(hidden=(16, 6), activation=act,
                                                      output_activation=act, epochs=2,
                                                      verbose=False))
       for act in ("leaky_relu", "elu", "gelu", "silu")},
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("part", ["full", "encoder", "decoder"])
def test_autoencoders_match_onnxruntime(tmp_path, X, name, part):
    m = MODELS[name]().fit(X)
    path = tmp_path / "m.onnx"
    pyae.export_onnx(m, path, part=part)
    onnx.checker.check_model(onnx.load(str(path)))
    inp = m.transform(X) if part == "decoder" else X
    want = {"full": m.reconstruct, "encoder": m.transform,
            "decoder": m.inverse_transform}[part](inp)
    np.testing.assert_allclose(run(path, input=inp)["output"], want, atol=1e-5)


@pytest.mark.parametrize("hidden", [(16,), (20, 10), ()])
def test_vae_parts_match_onnxruntime(tmp_path, X, hidden):
    v = pyae.VAE(hidden=hidden, latent_dim=3, epochs=2, verbose=False).fit(X)
    pyae.export_onnx(v, tmp_path / "enc.onnx", part="encoder")
    got = run(tmp_path / "enc.onnx", input=X)
    mu, logvar = v._posterior(X)
    np.testing.assert_allclose(got["mu"], mu, atol=1e-5)
    np.testing.assert_allclose(got["logvar"], logvar, atol=1e-5)
    z = np.random.default_rng(1).standard_normal((10, 3)).astype(np.float32)
    pyae.export_onnx(v, tmp_path / "dec.onnx", part="decoder")
    np.testing.assert_allclose(run(tmp_path / "dec.onnx", z=z)["output"],
                               v.inverse_transform(z), atol=1e-5)
    pyae.export_onnx(v, tmp_path / "full.onnx", part="full")
    np.testing.assert_allclose(run(tmp_path / "full.onnx", input=X)["output"], v.reconstruct(X),
                               atol=1e-5)


def test_export_errors(tmp_path, X):
    with pytest.raises(pyae.NotFittedError):
        pyae.export_onnx(pyae.Autoencoder(), tmp_path / "m.onnx")
    m = MODELS["ae"]().fit(X)
    with pytest.raises(ValueError, match="part"):
        pyae.export_onnx(m, tmp_path / "m.onnx", part="middle")
