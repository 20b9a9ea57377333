"""Dask arrays: lazy inference with the right chunks and meta, the model in
the graph once, a LocalCluster of separate worker processes, dask-ml's
Incremental, and fit from a dask array."""

from __future__ import annotations

import numpy as np
import pytest

import pyae

da = pytest.importorskip("dask.array", reason="the Dask tests need dask[array]")


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).random((700, 12)).astype(np.float32)


@pytest.fixture(scope="module")
def models(X):
    common = dict(epochs=2, verbose=False, seed=0)
    return {"ae": pyae.Autoencoder(hidden=(8, 4), **common).fit(X),
            "dae": pyae.DenoisingAutoencoder(hidden=(8,), **common).fit(X),
            "vae": pyae.VAE(hidden=(8,), latent_dim=3, **common).fit(X)}


CALLS = {
    "ae": [("transform", {}), ("reconstruct", {}), ("score_samples", {}),
           ("decision_function", {}), ("predict", {})],
    "dae": [("denoise", {}), ("transform", {}), ("score_samples", {})],
    "vae": [("transform", {}), ("transform", {"sample": True, "seed": 4}), ("reconstruct", {}),
            ("elbo", {"n_samples": 3}), ("log_likelihood", {"k": 4}), ("score_samples", {})],
}


@pytest.mark.parametrize("kind,method,kwargs",
                         [(k, m, kw) for k, calls in CALLS.items() for m, kw in calls])
def test_lazy_results_match_numpy_block_for_block(models, X, kind, method, kwargs):
    model = models[kind]
    Xd = da.from_array(X, chunks=(200, 5))  # column chunks too: rows are made whole
    lazy = getattr(model, method)(Xd, **kwargs)
    expected = getattr(model, method)(X, **kwargs)
    assert isinstance(lazy, da.Array)
    assert lazy.chunks[0] == (200, 200, 200, 100)
    assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
    assert type(lazy._meta) is np.ndarray and lazy._meta.dtype == expected.dtype
    np.testing.assert_array_equal(lazy.compute(), expected)


def test_inverse_transform_and_nothing_runs_until_compute(models, X):
    model = models["ae"]
    computed = []

    def counted(block):
        computed.append(len(block))
        return block

    Xd = da.from_array(X, chunks=(350, 12)).map_blocks(counted, dtype=np.float32,
                                                       meta=np.empty((0, 12), np.float32))
    lazy = model.inverse_transform(model.transform(Xd))
    assert computed == []  # lazy: no block touched yet
    np.testing.assert_array_equal(lazy.compute(), model.inverse_transform(model.transform(X)))
    assert sorted(computed) == [350, 350]


def test_the_model_is_one_key_of_the_graph_that_every_block_needs(models, X):
    from dask._task_spec import DataNode

    lazy = models["vae"].score_samples(da.from_array(X, chunks=(100, 12)))
    graph = dict(lazy.__dask_graph__())
    holders = [k for k, v in graph.items()
               if isinstance(v, DataNode) and isinstance(v.value, pyae.VAE)]
    assert len(holders) == 1
    tasks = [v for k, v in graph.items() if isinstance(k, tuple) and "score_samples" in k[0]]
    assert len(tasks) == 7 and all(holders[0] in t.dependencies for t in tasks)


def test_the_lazy_result_keeps_the_model_as_it_was(X):
    model = pyae.Autoencoder(hidden=(6,), epochs=1, verbose=False).fit(X)
    before = model.reconstruct(X)
    lazy = model.reconstruct(da.from_array(X, chunks=(300, 12)))
    model.partial_fit(X)
    np.testing.assert_array_equal(lazy.compute(), before)


def test_bad_dask_inputs_are_refused_before_anything_runs(models, X):
    model = models["ae"]
    with pytest.raises(ValueError, match=r"\(n_samples, 12\)"):
        model.transform(da.from_array(X[:, :5]))
    with pytest.raises(ValueError, match=r"\(n_samples, 12\)"):
        model.transform(da.from_array(X[0]))
    with pytest.raises(TypeError, match="real numbers"):
        model.transform(da.from_array(X.astype(str)))
    with pytest.raises(ValueError, match="out="):
        model.reconstruct(da.from_array(X), out=np.empty_like(X))
    with pytest.raises(pyae.NotFittedError):
        pyae.Autoencoder().transform(da.from_array(X))
    bad = X.copy()
    bad[5, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.score_samples(da.from_array(bad, chunks=(100, 12))).compute()


def test_fit_from_a_dask_array_equals_fit_from_numpy(X):
    make = lambda: pyae.DenoisingAutoencoder(hidden=(6,), epochs=2, seed=1, verbose=False)
    a = make().fit(da.from_array(X, chunks=(128, 12)),
                   validation_data=da.from_array(X[:50], chunks=(25, 12)))
    b = make().fit(X, validation_data=X[:50])
    np.testing.assert_array_equal(a.network_.params, b.network_.params)
    assert a.history_ == b.history_


def test_partial_fit_under_dask_ml_incremental(X):
    dask_ml = pytest.importorskip("dask_ml.wrappers", reason="needs dask-ml")
    Xd = da.from_array(X, chunks=(100, 12))
    inc = dask_ml.Incremental(pyae.Autoencoder(hidden=(6,), seed=2, verbose=False),
                              shuffle_blocks=False)
    inc.fit(Xd)
    fitted = inc.estimator_
    # The same as partial_fit on each block in turn.
    by_hand = pyae.Autoencoder(hidden=(6,), seed=2, verbose=False)
    for start in range(0, len(X), 100):
        by_hand.partial_fit(X[start:start + 100])
    np.testing.assert_allclose(fitted.network_.params, by_hand.network_.params, rtol=1e-6)
    assert len(fitted.history_["loss"]) == 7
    scores = inc.score_samples(Xd) if hasattr(inc, "score_samples") else \
        fitted.score_samples(Xd)
    np.testing.assert_allclose(np.asarray(scores), by_hand.score_samples(X), rtol=1e-6)


def test_a_local_cluster_of_two_worker_processes(models, X):
    distributed = pytest.importorskip("distributed", reason="needs dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        Xd = da.from_array(X, chunks=(50, 12))
        for kind in ("ae", "vae"):
            model = models[kind]
            got = client.compute(model.score_samples(Xd)).result()
            np.testing.assert_array_equal(got, model.score_samples(X))
        # Both worker processes took part.
        where = client.run(lambda dask_worker: dask_worker.state.executed_count)
        assert len(where) == 2 and all(n > 0 for n in where.values())
        # The model reached each worker at most once per graph (made there,
        # or fetched once), for 14 blocks: from the workers' own logs.
        def model_arrivals(dask_worker):
            counts = {}
            for key, start, finish, *_ in dask_worker.state.log:
                if isinstance(key, str) and key.startswith(("Autoencoder-", "VAE-")) and \
                        finish == "memory" and start in ("executing", "flight"):
                    counts[key] = counts.get(key, 0) + 1
            return counts
        arrivals = client.run(model_arrivals)
        keys = {k for counts in arrivals.values() for k in counts}
        assert len(keys) == 2, arrivals  # one model key per graph (AE, VAE)
        assert all(n == 1 for counts in arrivals.values() for n in counts.values()), arrivals
