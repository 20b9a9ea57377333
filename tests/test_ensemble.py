"""pyae.AnomalyEnsemble: the sum of its members' combined scores, the
outlier-detector API, its file, and bad input."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import pyae


def rows(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.5, 0.15, (n, 16)), 0, 1).astype(np.float32)


def members():
    common = dict(epochs=2, verbose=False, seed=1)
    return (pyae.Autoencoder(hidden=(8, 3), **common),
            pyae.VAE(hidden=(8,), latent_dim=3, **common))


@pytest.fixture(scope="module")
def ensemble():
    return pyae.AnomalyEnsemble(members=members(), contamination=0.05).fit(rows())


def test_the_score_is_the_sum_of_the_members_combined_scores(ensemble):
    X = rows(200, seed=1)
    assert [m.anomaly_score for m in ensemble.members_] == ["combined", "combined"]
    want = sum(m.score_samples(X).astype(np.float64) for m in ensemble.members_)
    np.testing.assert_allclose(ensemble.score_samples(X), want, rtol=1e-6)
    # The same as fitting the members by hand.
    by_hand = [type(m)(**m.get_params()).set_params(anomaly_score="combined").fit(rows())
               for m in members()]
    np.testing.assert_array_equal(
        ensemble.score_samples(X),
        np.sum([m.score_samples(X).astype(np.float64) for m in by_hand], axis=0)
        .astype(np.float32))
    # The templates themselves stay unfitted.
    assert not hasattr(ensemble.members[0], "network_")


def test_threshold_and_labels_follow_the_models_conventions(ensemble):
    train = ensemble.training_scores_
    assert ensemble.threshold_ == pytest.approx(np.quantile(train.astype(np.float64), 0.95))
    assert np.mean(train > ensemble.threshold_) == pytest.approx(0.05, abs=0.002)
    X = np.vstack([rows(100, seed=2), np.ones((5, 16), np.float32)])  # 5 far rows
    d = ensemble.decision_function(X)
    np.testing.assert_allclose(d, np.float32(ensemble.threshold_) - ensemble.score_samples(X))
    np.testing.assert_array_equal(ensemble.predict(X), np.where(d < 0, -1, 1))
    assert (ensemble.predict(X)[-5:] == -1).all()


def test_calibration_and_pvalues_survive_save_and_load(tmp_path):
    e = pyae.AnomalyEnsemble(members=members()).fit(rows())
    e.calibrate(rows(400, seed=3), fpr=0.05)
    X = rows(50, seed=4)
    path = tmp_path / "ensemble.safetensors"
    e.save(path)
    f = pyae.load(path)
    assert isinstance(f, pyae.AnomalyEnsemble)
    np.testing.assert_array_equal(f.score_samples(X), e.score_samples(X))
    np.testing.assert_array_equal(f.pvalues(X), e.pvalues(X))
    np.testing.assert_array_equal(f.predict(X), e.predict(X))
    assert f.threshold_ == e.threshold_ and f.get_params()["contamination"] == "auto"
    assert [type(m) for m in f.members_] == [pyae.Autoencoder, pyae.VAE]


def _header(path):
    blob = path.read_bytes()
    n = struct.unpack("<Q", blob[:8])[0]
    return blob, n, json.loads(blob[8:8 + n])


def test_damaged_ensemble_files_are_refused(tmp_path, ensemble):
    path = tmp_path / "e.safetensors"
    ensemble.save(path)
    blob, n, header = _header(path)
    (tmp_path / "short.safetensors").write_bytes(blob[:len(blob) // 2])
    with pytest.raises(pyae.ModelFileError):
        pyae.load(tmp_path / "short.safetensors")
    flipped = bytearray(blob)
    flipped[8 + n + 100] ^= 0xFF  # a byte of member 0's tensors
    (tmp_path / "flipped.safetensors").write_bytes(bytes(flipped))
    with pytest.raises(pyae.ModelFileError, match="checksum|corrupt"):
        pyae.load(tmp_path / "flipped.safetensors")


def test_a_failed_save_keeps_the_previous_file(tmp_path, ensemble, monkeypatch):
    path = tmp_path / "e.safetensors"
    ensemble.save(path)
    before = path.read_bytes()
    from pyae import _model_file

    def broken(model):
        raise MemoryError("interrupted while gathering the tensors")
    monkeypatch.setattr("pyae.ensemble.file_payload", broken)
    with pytest.raises(MemoryError):
        ensemble.save(path)
    assert path.read_bytes() == before
    assert _model_file.file_payload is not broken


def test_bad_members_and_unfitted_use_are_clear_errors():
    X = rows(100)
    for bad in ([], ["ae"], pyae.Autoencoder(), (pyae.Autoencoder(), object())):
        with pytest.raises(TypeError, match="members must be"):
            pyae.AnomalyEnsemble(members=bad).fit(X)
    with pytest.raises(ValueError, match="contamination"):
        pyae.AnomalyEnsemble(members=members(), contamination=0.9).fit(X)
    with pytest.raises(pyae.NotFittedError):
        pyae.AnomalyEnsemble().score_samples(X)
    with pytest.raises(pyae.NotFittedError):
        pyae.AnomalyEnsemble().save("never.safetensors")


def test_defaults_clone_and_dask(ensemble):
    sklearn = pytest.importorskip("sklearn.base", reason="needs scikit-learn")
    default = pyae.AnomalyEnsemble()
    assert [type(m) for m in default._templates()] == [
        pyae.Autoencoder, pyae.DenoisingAutoencoder, pyae.VAE]
    clone = sklearn.clone(ensemble)
    assert not hasattr(clone, "members_") and clone.contamination == 0.05
    da = pytest.importorskip("dask.array", reason="needs dask[array]")
    X = rows(300, seed=5)
    lazy = ensemble.score_samples(da.from_array(X, chunks=(100, 16)))
    np.testing.assert_array_equal(lazy.compute(), ensemble.score_samples(X))


def _resigned(blob, n, header, path):
    """The file with its (edited) metadata re-signed, as a careful forger would."""
    from pyae._io import metadata_crc

    meta = header["__metadata__"]
    meta["metadata_checksum"] = str(metadata_crc(meta))
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + blob[8 + n:])
    return path


def test_edited_member_settings_are_refused_even_when_re_signed(tmp_path, ensemble):
    path = tmp_path / "e.safetensors"
    ensemble.save(path)
    blob, n, header = _header(path)
    members = json.loads(header["__metadata__"]["members"])
    members[1]["config"]["anomaly_score"] = "reconstruction"
    header["__metadata__"]["members"] = json.dumps(members)
    with pytest.raises(pyae.ModelFileError, match="combined"):
        pyae.load(_resigned(blob, n, header, tmp_path / "edited.safetensors"))
    blob, n, header = _header(path)
    header["__metadata__"]["outlier"] = json.dumps({"threshold": 1e999, "score": "ensemble"})
    with pytest.raises(pyae.ModelFileError, match="threshold"):
        pyae.load(_resigned(blob, n, header, tmp_path / "huge.safetensors"))


def test_save_checks_the_contamination_and_members_must_be_a_list_or_tuple(tmp_path):
    e = pyae.AnomalyEnsemble(members=members(), contamination=np.float32(0.05)).fit(rows(300))
    e.save(tmp_path / "ok.safetensors")
    assert pyae.load(tmp_path / "ok.safetensors").contamination == pytest.approx(0.05)
    e.set_params(contamination=0.9)
    with pytest.raises(ValueError, match="contamination"):
        e.save(tmp_path / "bad.safetensors")
    assert not (tmp_path / "bad.safetensors").exists()
    with pytest.raises(TypeError, match="list or tuple"):
        pyae.AnomalyEnsemble(members=(m for m in members())).fit(rows(300))


def test_the_command_line_scores_and_describes_an_ensemble(tmp_path, ensemble):
    import subprocess
    import sys

    ensemble.save(tmp_path / "e.safetensors")
    np.save(tmp_path / "x.npy", rows(5, seed=9))
    run = lambda *a: subprocess.run([sys.executable, "-m", "pyae", *a], capture_output=True,
                                    text=True, cwd=tmp_path)
    r = run("score", "e.safetensors", "x.npy", "--score", "ensemble")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "row,score,label" and len(lines) == 6
    got = np.array([float(line.split(",")[1]) for line in lines[1:]])
    np.testing.assert_allclose(got, ensemble.score_samples(rows(5, seed=9)), rtol=1e-6)
    r = run("info", "e.safetensors")
    assert r.returncode == 0 and "AnomalyEnsemble of 2 members" in r.stdout, r.stderr
