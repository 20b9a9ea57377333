"""Model files: exact round trips, and clear errors for bad files."""

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import pyae
from pyae._io import metadata_crc


@pytest.fixture
def model(rng):
    X = rng.random((200, 10), dtype=np.float32)
    return pyae.Autoencoder(hidden=(6, 3), epochs=2, batch_size=32, verbose=False).fit(X), X


@pytest.mark.parametrize("kw", [{}, {"tied_weights": True}, {"loss": "bce"},
                                {"optimizer": "sgd", "learning_rate": 0.1}])
def test_round_trip_is_exact(tmp_path, rng, kw):
    X = rng.random((200, 10), dtype=np.float32)
    ae = pyae.Autoencoder(hidden=(6, 3), epochs=2, batch_size=32, verbose=False, **kw).fit(X)
    path = tmp_path / "m.safetensors"
    ae.save(path)
    back = pyae.load(path)
    assert type(back) is pyae.Autoencoder
    assert back.get_params() == ae.get_params()
    np.testing.assert_array_equal(back.network_.params, ae.network_.params)
    np.testing.assert_array_equal(back.reconstruct(X), ae.reconstruct(X))
    assert back.history_ == ae.history_
    assert back.network_.step_count == ae.network_.step_count


def test_training_resumes_exactly_after_load(tmp_path, rng):
    X = rng.random((200, 10), dtype=np.float32)
    kw = dict(hidden=(6, 3), epochs=1, batch_size=32, verbose=False)
    straight = pyae.Autoencoder(**kw)
    straight.partial_fit(X)
    straight.partial_fit(X)
    first = pyae.Autoencoder(**kw)
    first.partial_fit(X)
    first.save(tmp_path / "m.safetensors")
    resumed = pyae.load(tmp_path / "m.safetensors")
    resumed.partial_fit(X)
    np.testing.assert_array_equal(resumed.network_.params, straight.network_.params)


def test_file_is_safetensors_not_pickle(tmp_path, model):
    ae, _ = model
    ae.save(tmp_path / "m.safetensors")
    raw = (tmp_path / "m.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"]["format"] == "pyae"
    assert b"\x80\x04" not in raw[:2]  # no pickle protocol marker


def test_truncated_file_raises(tmp_path, model):
    ae, _ = model
    p = tmp_path / "m.safetensors"
    ae.save(p)
    raw = p.read_bytes()
    for cut in (0, 4, 20, len(raw) // 2, len(raw) - 1):
        p.write_bytes(raw[:cut])
        with pytest.raises(pyae.ModelFileError):
            pyae.load(p)


def test_corrupt_header_raises(tmp_path, model):
    ae, _ = model
    p = tmp_path / "m.safetensors"
    ae.save(p)
    raw = bytearray(p.read_bytes())
    raw[10:30] = b"#" * 20
    p.write_bytes(bytes(raw))
    with pytest.raises(pyae.ModelFileError):
        pyae.load(p)


def test_foreign_and_missing_files_raise(tmp_path):
    from safetensors.numpy import save_file

    p = tmp_path / "other.safetensors"
    save_file({"w": np.zeros(3, np.float32)}, str(p))
    with pytest.raises(pyae.ModelFileError, match="not a pyae model"):
        pyae.load(p)
    (tmp_path / "junk").write_bytes(os.urandom(1000))
    with pytest.raises(pyae.ModelFileError):
        pyae.load(tmp_path / "junk")
    with pytest.raises(pyae.ModelFileError, match="no model file"):
        pyae.load(tmp_path / "absent.safetensors")


def _rewrite(path, tensors=None, meta_update=None):
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(path), framework="numpy") as f:
        meta = dict(f.metadata())
        ts = {k: f.get_tensor(k) for k in f.keys()}
    ts.update(tensors or {})
    if tensors:  # edited tensors keep valid checksums: the later checks are the ones tested
        meta["checksums"] = json.dumps({k: zlib.crc32(np.ascontiguousarray(v).data)
                                        for k, v in ts.items()})
    meta.update(meta_update or {})
    meta["metadata_checksum"] = str(metadata_crc(meta))  # as for tensors: a consistent edit
    save_file(ts, str(path), metadata=meta)


@pytest.mark.parametrize("change,msg", [
    (dict(meta_update={"format_version": "99"}), "version"),
    (dict(meta_update={"model": '"Transformer"'}), "unknown model"),
    (dict(meta_update={"config": "{broken"}), "corrupt metadata"),
    (dict(tensors={"layers.0.weight": np.zeros((5, 5), np.float32)}), "expected float32"),
    (dict(tensors={"layers.0.bias": np.zeros(6, np.float64)}), "expected float32"),
    (dict(tensors={"layers.0.bias": np.full(6, np.nan, np.float32)}), "NaN"),
    (dict(tensors={"extra": np.zeros(1, np.float32)}), "unexpected"),
    (dict(meta_update={"layers": "[]"}), "layer table does not match"),
    (dict(meta_update={"layers": "{broken"}), "corrupt metadata"),
    (dict(meta_update={"training": '{"step_count": 2}'}), "object of history, step_count and"),
])
def test_inconsistent_files_raise(tmp_path, model, change, msg):
    ae, _ = model
    p = tmp_path / "m.safetensors"
    ae.save(p)
    _rewrite(p, **change)
    with pytest.raises(pyae.ModelFileError, match=msg):
        pyae.load(p)


def test_failed_save_keeps_the_previous_file(tmp_path, model, monkeypatch):
    ae, _ = model
    p = tmp_path / "m.safetensors"
    ae.save(p)
    before = p.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        ae.save(p)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["m.safetensors"]  # no temp left


def test_saving_unfitted_model_raises(tmp_path):
    with pytest.raises(pyae.NotFittedError):
        pyae.Autoencoder().save(tmp_path / "m.safetensors")


@pytest.mark.parametrize("make", [
    lambda: pyae.Autoencoder(hidden=(6, 3), epochs=2, verbose=False),
    lambda: pyae.DenoisingAutoencoder(hidden=(6,), noise=pyae.noise.Masking(0.2), epochs=2,
                                      verbose=False),
    lambda: pyae.VAE(hidden=(6,), latent_dim=2, epochs=2, verbose=False),
])
def test_pickle_and_deepcopy_round_trip(rng, make):
    import copy
    import pickle

    X = rng.random((100, 10), dtype=np.float32)
    unfitted = pickle.loads(pickle.dumps(make()))
    assert not hasattr(unfitted, "network_")
    m = make().fit(X)
    for clone in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert clone.get_params() == m.get_params()
        np.testing.assert_array_equal(clone.network_.params, m.network_.params)
        np.testing.assert_array_equal(clone.reconstruct(X), m.reconstruct(X))
        clone.partial_fit(X)  # training continues independently of the original
    m.partial_fit(X)
    np.testing.assert_array_equal(clone.network_.params, m.network_.params)


def test_dae_file_with_corrupt_noise_config_raises(tmp_path, rng):
    X = rng.random((50, 10), dtype=np.float32)
    p = tmp_path / "d.safetensors"
    pyae.DenoisingAutoencoder(hidden=(4,), epochs=1, verbose=False).fit(X).save(p)
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(p), framework="numpy") as f:
        meta = dict(f.metadata())
        ts = {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta["config"])
    config["noise"] = {"type": "gaussian", "std": -1}
    meta["config"] = json.dumps(config)
    meta["metadata_checksum"] = str(metadata_crc(meta))
    save_file(ts, str(p), metadata=meta)
    with pytest.raises(pyae.ModelFileError, match="invalid config"):
        pyae.load(p)


FORMAT1 = Path(__file__).resolve().parent / "fixtures" / "format1"


@pytest.mark.parametrize("name", ["ae_tied", "dae_bce", "vae"])
def test_format1_files_still_load_and_resave_as_format2(tmp_path, name):
    """Files written by pyae before the layer table was stored (format 1,
    made by fixtures/format1/make_format1.py with that version)."""
    want = np.load(FORMAT1 / "expected.npz")
    model = pyae.load(FORMAT1 / f"{name}.safetensors")
    np.testing.assert_allclose(model.reconstruct(want["X"]), want[name], rtol=1e-6, atol=1e-7)
    model.save(tmp_path / "m.safetensors")
    with open(tmp_path / "m.safetensors", "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        meta = json.loads(f.read(n))["__metadata__"]
    assert meta["format_version"] == "2"
    assert json.loads(meta["layers"])[0]["d_in"] == want["X"].shape[1]
    np.testing.assert_array_equal(pyae.load(tmp_path / "m.safetensors").reconstruct(want["X"]),
                                  model.reconstruct(want["X"]))


# --------------------------------------------- saving's side effects (issue 11)
def test_a_new_file_gets_the_umask_mode_and_an_old_one_keeps_its_own(tmp_path, model):
    ae, _ = model
    new = tmp_path / "new.safetensors"
    old_mask = os.umask(0o027)
    try:
        ae.save(new)
    finally:
        os.umask(old_mask)
    assert new.stat().st_mode & 0o777 == 0o640  # was always 0600
    shared = tmp_path / "shared.safetensors"
    ae.save(shared)
    shared.chmod(0o644)
    ae.save(shared)
    assert shared.stat().st_mode & 0o777 == 0o644  # overwriting made it 0600


def test_saving_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path, model):
    ae, _ = model
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "m.safetensors"
    target.write_bytes(b"old")
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    ae.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert pyae.load(target).n_features_in_ == ae.n_features_in_
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["m.safetensors"]


def test_anything_but_a_regular_file_is_refused_before_writing(tmp_path, model):
    ae, _ = model
    with pytest.raises(OSError, match="not a regular file"):
        ae.save("/dev/null")  # was replaced by a regular file
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    with pytest.raises(OSError, match="not a regular file"):
        ae.save(tmp_path)  # a folder


def test_save_errors_name_the_users_path(tmp_path, model):
    ae, _ = model
    missing = tmp_path / "no" / "such" / "m.safetensors"
    with pytest.raises(OSError) as info:
        ae.save(missing)
    assert str(missing) in str(info.value) and ".pyae-" not in str(info.value)


def test_a_flipped_byte_in_the_data_is_caught_by_both_loaders(tmp_path, model):
    """Issue 11: 693 of 4,000 byte flips loaded silently different weights."""
    from pyae import _core

    ae, _ = model
    p = tmp_path / "m.safetensors"
    ae.save(p)
    blob = bytearray(p.read_bytes())
    blob[-7] ^= 0x10  # a bit of the last tensor's data
    p.write_bytes(bytes(blob))
    with pytest.raises(pyae.ModelFileError, match="checksum"):
        pyae.load(p)
    with pytest.raises(ValueError, match="checksum"):
        _core.CModel(bytes(blob))


@pytest.mark.parametrize("edit", [lambda c: c.pop("activation"),
                                  lambda c: c.update(aktivation=c.pop("activation"))])
def test_a_lost_or_misspelt_config_key_is_an_error_not_a_default(tmp_path, model, edit):
    ae, _ = model
    p = tmp_path / "m.safetensors"
    ae.save(p)
    from safetensors import safe_open

    with safe_open(str(p), framework="numpy") as f:
        config = json.loads(f.metadata()["config"])
    edit(config)
    _rewrite(p, meta_update={"config": json.dumps(config)})
    with pytest.raises(pyae.ModelFileError, match="activation"):
        pyae.load(p)


def test_a_changed_metadata_byte_is_caught_by_both_loaders(tmp_path, model):
    """A flipped byte in the config or training state (e.g. "tol": 0.0 to
    0.9) was a silently different model; the loaders now agree on it."""
    from pyae import _core

    ae, _ = model
    p = tmp_path / "m.safetensors"
    ae.save(p)
    blob = p.read_bytes()
    edited = blob.replace(b'\\"tol\\": 0.0', b'\\"tol\\": 0.9', 1)
    assert edited != blob
    p.write_bytes(edited)
    with pytest.raises(pyae.ModelFileError, match="metadata does not match its checksum"):
        pyae.load(p)
    with pytest.raises(ValueError, match="metadata does not match its checksum"):
        _core.CModel(edited)
