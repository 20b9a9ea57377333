"""The standalone inference library (csrc/infer): the CMake-built C example
reproduces Python's outputs, and the loader rejects broken files cleanly."""

import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

import pyae
from pyae import _core
from pyae._io import metadata_crc

INFER_DIR = Path(__file__).resolve().parents[1] / "csrc" / "infer"
PARTS = {"full": 0, "encoder": 1, "decoder": 2}


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).random((40, 30), dtype=np.float32)


def models(X):
    kw = dict(epochs=2, verbose=False)
    return {
        "ae": pyae.Autoencoder(hidden=(16, 6), **kw).fit(X),
        "ae_tied_tanh": pyae.Autoencoder(hidden=(16, 6), tied_weights=True, activation="tanh",
                                         output_activation="relu", **kw).fit(X),
        "dae": pyae.DenoisingAutoencoder(hidden=(12,), **kw).fit(X),
        "vae": pyae.VAE(hidden=(16,), latent_dim=3, **kw).fit(X),
        "ae_gelu_elu": pyae.Autoencoder(hidden=(16, 6), activation="gelu",
                                        output_activation="elu", **kw).fit(X),
        "vae_silu_leaky": pyae.VAE(hidden=(16,), latent_dim=3, activation="silu",
                                   output_activation="leaky_relu", loss="gaussian", **kw).fit(X),
    }


def python_outputs(m, X):
    if isinstance(m, pyae.VAE):
        mu, logvar = m._posterior(X)
        return {"full": (X, m.reconstruct(X)), "encoder": (X, np.hstack([mu, logvar])),
                "decoder": (mu.copy(), m.inverse_transform(mu))}
    code = m.transform(X)
    return {"full": (X, m.reconstruct(X)), "encoder": (X, code),
            "decoder": (code, m.inverse_transform(code))}


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    build = tmp_path_factory.mktemp("infer-build")
    subprocess.run(["cmake", "-S", str(INFER_DIR), "-B", str(build)], check=True,
                   capture_output=True)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True)
    return build / "pyae_infer_example"


def test_example_program_reproduces_python(tmp_path, X, example):
    for name, m in models(X).items():
        path = tmp_path / f"{name}.safetensors"
        m.save(path)
        for part, (inp, want) in python_outputs(m, X).items():
            (tmp_path / "in.f32").write_bytes(np.ascontiguousarray(inp).tobytes())
            r = subprocess.run([str(example), str(path), part, str(tmp_path / "in.f32"),
                                str(tmp_path / "out.f32")], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            got = np.frombuffer((tmp_path / "out.f32").read_bytes(), np.float32)
            np.testing.assert_allclose(got.reshape(want.shape), want, atol=2e-6,
                                       err_msg=f"{name} {part}")


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_example_program_runs_low_precision(tmp_path, X, example, precision):
    best = _core.bf16_best_path() if precision == "bf16" else _core.int8_best_path()
    if best == "none":
        pytest.skip(f"this CPU has no {precision} path ({pyae.cpu_features()})")
    m = models(X)["ae_tied_tanh"].set_params(precision=precision)
    m.save(tmp_path / "m.safetensors")
    (tmp_path / "in.f32").write_bytes(X.tobytes())
    r = subprocess.run([str(example), str(tmp_path / "m.safetensors"), "full",
                        str(tmp_path / "in.f32"), str(tmp_path / "out.f32"), precision],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = np.frombuffer((tmp_path / "out.f32").read_bytes(), np.float32).reshape(X.shape)
    want = m.reconstruct(X)  # its own build of the same kernels: equal up to the activations'
    np.testing.assert_allclose(got, want, atol=2e-6)  # vectorisation; fp32 differs by ~1e-3
    r = subprocess.run([str(example), str(tmp_path / "m.safetensors"), "full",
                        str(tmp_path / "in.f32"), str(tmp_path / "out.f32"), "fp8"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "unknown precision" in r.stderr


def test_example_reports_errors(tmp_path, example):
    (tmp_path / "junk").write_bytes(b"not a model at all")
    r = subprocess.run([str(example), str(tmp_path / "junk"), "full", "x", "y"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "cannot load model" in r.stderr


def test_binding_matches_python(tmp_path, X):
    for m in models(X).values():
        m.save(tmp_path / "m.safetensors")
        c = _core.CModel((tmp_path / "m.safetensors").read_bytes())
        for part, (inp, want) in python_outputs(m, X).items():
            np.testing.assert_allclose(c.forward(PARTS[part], inp), want, atol=2e-6)


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_binding_matches_python_in_low_precision(tmp_path, X, precision):
    """pyae_model_set_precision runs the kernels pyae's models run: the
    same bits as the model with that precision setting, on every part."""
    best = _core.bf16_best_path() if precision == "bf16" else _core.int8_best_path()
    if best == "none":
        pytest.skip(f"this CPU has no {precision} path ({pyae.cpu_features()})")
    for m in models(X).values():
        m.save(tmp_path / "m.safetensors")
        c = _core.CModel((tmp_path / "m.safetensors").read_bytes())
        c.set_precision(precision)
        m.set_params(precision=precision)
        for part, (inp, want) in python_outputs(m, X).items():
            np.testing.assert_array_equal(c.forward(PARTS[part], inp), want)
        c.set_precision("fp32")
        m.set_params(precision="fp32")
        for part, (inp, want) in python_outputs(m, X).items():
            np.testing.assert_allclose(c.forward(PARTS[part], inp), want, atol=2e-6)


def test_set_precision_refuses_unknown_names_and_keeps_the_model(tmp_path, X):
    c = _core.CModel(saved_bytes(X, tmp_path))
    before = c.forward(PARTS["full"], X)
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        c.set_precision("fp16")
    np.testing.assert_array_equal(c.forward(PARTS["full"], X), before)


def saved_bytes(X, tmp_path):
    p = tmp_path / "m.safetensors"
    pyae.Autoencoder(hidden=(8, 4), epochs=1, verbose=False).fit(X).save(p)
    return p.read_bytes()


def rewrite_header(blob, edit):
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    edit(header)
    meta = header.get("__metadata__")
    if isinstance(meta, dict) and "metadata_checksum" in meta:  # a consistent edit
        meta["metadata_checksum"] = str(metadata_crc(meta))
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + blob[8 + n:]


@pytest.mark.parametrize("edit,msg", [
    (lambda h: h["layers.0.weight"].update(dtype="F64"), "does not match its shape"),
    (lambda h: h["layers.0.weight"].update(dtype="Q7"), "unknown dtype"),
    (lambda h: h["layers.0.weight"].update(shape=[8, 31]), "does not match its shape"),
    (lambda h: h["layers.0.weight"].update(dtype="I32"), "not float32"),
    (lambda h: h["layers.0.weight"].update(data_offsets=[0, 10**9]), "data_offsets"),
    (lambda h: h["layers.0.bias"].update(data_offsets=[0, 4]), "does not match"),
    (lambda h: h.pop("layers.1.bias"), "overlap or leave gaps"),
    (lambda h: h["__metadata__"].update(format="other"), "not a pyae model"),
    (lambda h: h["__metadata__"].update(format_version="7"), "version"),
    (lambda h: h["__metadata__"].update(model='"GAN"'), "unknown model"),
    (lambda h: h["__metadata__"].update(layers="{"), "malformed JSON"),
    (lambda h: h["__metadata__"].update(n_features="-3"), "n_features"),
    (lambda h: h["__metadata__"].update(n_features="29"), "n_features"),
    (lambda h: h["__metadata__"].update(layers="[]"), "bad layer table"),
    (lambda h: h["__metadata__"].update(layers=h["__metadata__"]["layers"].replace(
        '"sigmoid"', '"swish"', 1)), "unknown activation 'swish'"),
    (lambda h: h["__metadata__"].update(layers=h["__metadata__"]["layers"].replace(
        '"encoder"', '"decoder"')), "encoder layer"),
    (lambda h: h["__metadata__"].update(layers=h["__metadata__"]["layers"].replace(
        '"d_out": 8', '"d_out": 9', 1)), "does not match"),
    (lambda h: h["__metadata__"].update(layers=h["__metadata__"]["layers"].replace(
        '"tied_to": -1', '"tied_to": 3', 1)), "tied"),
    (lambda h: h["__metadata__"].update(layers=h["__metadata__"]["layers"].replace(
        '"tied_to": -1', '"tied_to": -1, "extra": 1', 1)), "bad layer table row"),
])
def test_loader_rejects_inconsistent_headers(tmp_path, X, edit, msg):
    blob = rewrite_header(saved_bytes(X, tmp_path), edit)
    with pytest.raises(ValueError, match=msg):
        _core.CModel(blob)


def test_loader_rejects_truncated_and_oversized(tmp_path, X):
    blob = saved_bytes(X, tmp_path)
    for cut in (0, 7, 8, 20, len(blob) // 2, len(blob) - 1):
        with pytest.raises(ValueError, match="cannot load model"):
            _core.CModel(blob[:cut])
    with pytest.raises(ValueError, match="16 MiB"):
        _core.CModel(struct.pack("<Q", 1 << 40) + blob[8:])
    deep = b"[" * 100000
    with pytest.raises(ValueError, match="nested too deeply|malformed"):
        _core.CModel(struct.pack("<Q", len(deep)) + deep)


def test_random_mutations_never_crash(tmp_path, X):
    """A short in-process fuzz run: every mutant loads or raises ValueError."""
    blob = bytearray(saved_bytes(X, tmp_path))
    rng = np.random.default_rng(7)
    (n,) = struct.unpack("<Q", blob[:8])
    for _ in range(3000):
        mutant = bytearray(blob)
        for _ in range(rng.integers(1, 6)):
            pos = int(rng.integers(0, 8 + n))  # mostly the header, where parsing happens
            mutant[pos] = int(rng.integers(0, 256))
        if rng.random() < 0.2:
            mutant = mutant[: int(rng.integers(0, len(mutant)))]
        try:
            m = _core.CModel(bytes(mutant))
        except ValueError:
            continue
        for part in (0, 1, 2):
            m.forward(part, np.zeros((1, m.input_dim(part)), np.float32))


def test_c_model_forward_rejects_bad_calls(tmp_path, X):
    c = _core.CModel(saved_bytes(X, tmp_path))
    with pytest.raises(ValueError, match="wrong shape"):
        c.forward(0, np.zeros((2, 29), np.float32))
    with pytest.raises(ValueError, match="unknown part"):
        c.forward(7, np.zeros((2, 30), np.float32))
    assert c.input_dim(7) == -1


FORMAT1 = Path(__file__).resolve().parent / "fixtures" / "format1"


@pytest.mark.parametrize("name", ["ae_tied", "dae_bce", "vae"])
def test_format1_files_still_load(name):
    """Files written before the layer table was stored (format 1): the C
    library builds their table from the config, as pyae did."""
    want = np.load(FORMAT1 / "expected.npz")
    c = _core.CModel((FORMAT1 / f"{name}.safetensors").read_bytes())
    np.testing.assert_allclose(c.forward(PARTS["full"], want["X"]), want[name], atol=2e-6)
