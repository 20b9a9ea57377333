"""Serving: per-thread scratch reused between calls, caller-provided outputs,
and many threads calling one model at once."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import pyae
from pyae import _core


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(0)
    X = rng.random((300, 40), dtype=np.float32)
    kw = dict(epochs=2, batch_size=32, verbose=False, seed=0)
    return X, {
        "ae": pyae.Autoencoder(hidden=(24, 8), **kw).fit(X),
        "ae_bce_tied": pyae.Autoencoder(hidden=(24, 8), loss="bce", tied_weights=True,
                                        **kw).fit(X),
        "dae": pyae.DenoisingAutoencoder(hidden=(24, 8), **kw).fit(X),
        "vae": pyae.VAE(hidden=(24,), latent_dim=4, **kw).fit(X),
    }


CALLS = ["transform", "inverse_transform", "reconstruct", "score_samples"]


def call(model, name, X):
    if name == "inverse_transform":
        return model.inverse_transform(model.transform(X))
    return getattr(model, name)(X)


@pytest.mark.parametrize("name", ["ae", "ae_bce_tied", "dae", "vae"])
def test_repeated_calls_allocate_no_scratch(models, name):
    X, ms = models
    m = ms[name]
    for batch in (1, 7, 256):
        xb = X[:batch]
        for c in ("transform", "reconstruct", "inverse_transform"):
            call(m, c, xb)  # first call at this size may grow the scratch
        before = _core.scratch_allocations()
        for _ in range(20):
            for c in ("transform", "reconstruct", "inverse_transform"):
                call(m, c, xb)
        assert _core.scratch_allocations() == before


def test_out_parameter_is_filled_in_place(models):
    X, ms = models
    ae = ms["ae"]
    out = np.empty((5, 40), np.float32)
    assert ae.reconstruct(X[:5], out=out) is out
    np.testing.assert_array_equal(out, ae.reconstruct(X[:5]))
    scores = np.empty(5, np.float32)
    assert ae.score_samples(X[:5], out=scores) is scores
    with pytest.raises(ValueError, match="shape"):
        ae.reconstruct(X[:5], out=np.empty((4, 40), np.float32))
    with pytest.raises(TypeError, match="float32"):
        ae.reconstruct(X[:5], out=np.empty((5, 40)))
    v = ms["vae"]
    z = np.empty((5, 4), np.float32)
    assert v.transform(X[:5], out=z) is z


@pytest.mark.parametrize("name", ["ae", "ae_bce_tied", "dae", "vae"])
def test_many_threads_match_serial(models, name, threads):
    X, ms = models
    m = ms[name]
    pyae.set_num_threads(2)
    jobs = [(c, int(b)) for c in CALLS for b in (1, 3, 64, 300)] * 4
    serial = [call(m, c, X[:b]) for c, b in jobs]
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(lambda job: call(m, job[0], X[:job[1]]), jobs))
    for s, p in zip(serial, parallel):
        np.testing.assert_array_equal(s, p)


def test_out_must_be_writeable(models):
    X, ms = models
    out = np.empty((5, 40), np.float32)
    out.flags.writeable = False
    with pytest.raises(TypeError, match="writeable"):
        ms["ae"].reconstruct(X[:5], out=out)
