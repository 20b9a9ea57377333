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
