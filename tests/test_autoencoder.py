"""The scikit-learn style API: shapes, conventions, training features and
bad input (which must raise clearly and leave the model as it was)."""

import numpy as np
import pytest

import pyae


@pytest.fixture
def X(rng):
    """Data in [0, 1] with 3-dimensional structure, so a code can capture it."""
    latent = rng.standard_normal((300, 3))
    mix = rng.standard_normal((3, 12)) * 2
    return (1 / (1 + np.exp(-latent @ mix))).astype(np.float32)


def small(**kw):
    args = dict(hidden=(8, 3), epochs=2, batch_size=32, verbose=False, seed=0)
    args.update(kw)
    return pyae.Autoencoder(**args)


def test_mirrored_architecture_and_shapes(X):
    ae = small(hidden=(3, 2)).fit(X[:, :4])
    assert ae.layer_widths_ == [4, 3, 2, 3, 4]
    Z = ae.transform(X[:, :4])
    assert Z.shape == (300, 2) and Z.dtype == np.float32
    assert ae.inverse_transform(Z).shape == (300, 4)
    np.testing.assert_allclose(ae.inverse_transform(Z), ae.reconstruct(X[:, :4]), atol=1e-6)
    assert ae.score_samples(X[:, :4]).shape == (300,)


def test_score_samples_is_per_sample_mse(X):
    ae = small(anomaly_score="reconstruction").fit(X)
    want = ((ae.reconstruct(X).astype(np.float64) - X) ** 2).mean(axis=1)
    np.testing.assert_allclose(ae.score_samples(X), want, rtol=1e-5)


def test_bce_score_is_per_sample_bce(X):
    ae = small(loss="bce", anomaly_score="reconstruction").fit(X)
    r = ae.reconstruct(X).astype(np.float64)
    want = -(X * np.log(r) + (1 - X) * np.log(1 - r)).mean(axis=1)
    np.testing.assert_allclose(ae.score_samples(X), want, rtol=1e-4)


def test_tied_weights_share_the_encoder_matrix(X):
    ae = small(tied_weights=True).fit(X)
    specs = ae.network_.table.layers
    assert [s.owns_weight for s in specs] == [True, True, False, False]
    assert [s.tied_to for s in specs] == [-1, -1, 1, 0]
    assert specs[3].weight_offset == specs[0].weight_offset
    untied = small().fit(X)
    assert ae.network_.params.size < untied.network_.params.size


def test_training_reduces_loss_and_records_history(X):
    ae = small(epochs=30, learning_rate=1e-2).fit(X, validation_data=X[:50])
    h = ae.history_
    assert len(h["loss"]) == 30 and len(h["val_loss"]) == 30
    assert h["loss"][-1] < 0.3 * h["loss"][0]


def test_partial_fit_continues_training(X):
    ae = small(epochs=1)
    ae.partial_fit(X)
    steps = ae.network_.step_count
    ae.partial_fit(X)
    assert ae.network_.step_count == 2 * steps
    assert len(ae.history_["loss"]) == 2


def test_early_stopping_stops_and_restores_best(X):
    # A huge learning rate makes the loss bounce; patience 2 must stop early.
    ae = small(epochs=60, learning_rate=2.0, optimizer="sgd", momentum=0.95, patience=2)
    ae.fit(X, validation_data=X[:100])
    val = ae.history_["val_loss"]
    assert len(val) < 60
    assert min(val) < val[-1]  # it stopped after epochs without improvement
    # val_loss is measured at the end of each epoch, so the restored best
    # weights reproduce the best value exactly.
    ae.set_params(anomaly_score="reconstruction")  # the training loss, per sample
    assert float(ae.score_samples(X[:100]).mean()) == pytest.approx(min(val), rel=1e-6)


def test_sgd_and_adam_both_train(X):
    for opt, lr in (("sgd", 0.5), ("adam", 1e-2)):
        ae = small(optimizer=opt, learning_rate=lr, epochs=10).fit(X)
        assert ae.history_["loss"][-1] < ae.history_["loss"][0]


def test_integer_and_float64_input_is_converted_once(X):
    ae = small().fit(X.astype(np.float64))
    ints = (X * 10).astype(np.int64)
    assert ae.transform(ints).dtype == np.float32
    assert ae.reconstruct(X[:, ::1].T.T).shape == X.shape


def test_non_contiguous_input_works(X):
    ae = small().fit(X)
    wide = np.repeat(X, 2, axis=1)[:, ::2]  # a strided view
    assert not wide.flags.c_contiguous
    np.testing.assert_array_equal(ae.reconstruct(wide), ae.reconstruct(X))


def test_get_set_params_and_sklearn_clone_pipeline(X):
    from sklearn.base import clone
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline

    ae = small(hidden=(6, 4))
    assert ae.get_params()["hidden"] == (6, 4)
    ae.set_params(epochs=3)
    assert ae.epochs == 3
    with pytest.raises(ValueError, match="no parameter"):
        ae.set_params(depth=3)
    c = clone(ae)
    assert c.get_params() == ae.get_params() and not hasattr(c, "network_")
    pipe = Pipeline([("ae", small(hidden=(8, 5))), ("pca", PCA(2))]).fit(X)
    assert pipe.transform(X).shape == (300, 2)


def test_unfitted_model_raises():
    with pytest.raises(pyae.NotFittedError):
        small().transform(np.zeros((2, 3), np.float32))


BAD_DATA = [
    (np.zeros(12, np.float32), ValueError, "2-D"),
    (np.zeros((0, 12), np.float32), ValueError, "empty"),
    (np.full((4, 12), np.nan, np.float32), ValueError, "NaN"),
    (np.full((4, 12), np.inf, np.float32), ValueError, "infinite"),
    (np.full((4, 12), 1e300), ValueError, r"up to 1e\+300, past float32's range"),
    (np.array([["a"] * 12] * 4), TypeError, "real numbers"),
    (np.zeros((4, 5), np.float32), ValueError, "expecting 12"),
]


@pytest.mark.parametrize("bad,exc,msg", BAD_DATA)
def test_bad_input_raises_and_leaves_model_unchanged(X, bad, exc, msg):
    ae = small().fit(X)
    before = ae.network_.params.copy()
    history = [list(v) for v in ae.history_.values()]
    for call in (ae.transform, ae.reconstruct, ae.score_samples, ae.partial_fit):
        with pytest.raises(exc, match=msg):
            call(bad)
    np.testing.assert_array_equal(ae.network_.params, before)
    assert [list(v) for v in ae.history_.values()] == history


def test_input_conventions_of_sklearns_checks(X):
    model = small().fit(X)
    # object arrays of numbers are converted, as scikit-learn does
    np.testing.assert_array_equal(model.transform(X.astype(object)), model.transform(X))
    bad = X.astype(object)
    bad[0, 0] = {"foo": "bar"}
    with pytest.raises(TypeError, match="X must hold real numbers: .*argument must be"):
        model.transform(bad)
    # complex: a TypeError as before, and the ValueError scikit-learn expects
    for exc in (TypeError, ValueError):
        with pytest.raises(exc, match="real numbers.*Complex data not supported"):
            model.transform(X + 1j)
    with pytest.raises(ValueError, match=r"X has 3 features, but Autoencoder is expecting 12 "
                                         "features as input"):
        model.transform(X[:, :3])
    with pytest.raises(ValueError, match=r"0 feature\(s\) \(shape=\(4, 0\)\) while a minimum"):
        small().fit(np.zeros((4, 0)))
    with pytest.raises(ValueError, match="Reshape your data"):
        model.transform(X[0])
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="sparse"):
        model.transform(sparse.csr_matrix(X))


@pytest.mark.parametrize("params,msg", [
    (dict(hidden=()), "at least one"),
    (dict(hidden=(4, 0)), "positive integer"),
    (dict(hidden="abc"), "positive integer"),
    (dict(activation="swish"), "activation"),
    (dict(loss="l1"), "loss"),
    (dict(loss="bce", output_activation="identity"), "sigmoid"),
    (dict(optimizer="rmsprop"), "optimizer"),
    (dict(learning_rate=-1), "learning_rate"),
    (dict(learning_rate=float("nan")), "learning_rate"),
    (dict(batch_size=0), "batch_size"),
    (dict(epochs=1.5), "epochs"),
    (dict(beta1=1.0), "beta1"),
    (dict(patience=0), "patience"),
    (dict(tied_weights=True, hidden=(4,)), None),  # valid: 12-4-12 tied
])
def test_invalid_hyperparameters_raise_before_training(X, params, msg):
    ae = small(**params)
    if msg is None:
        ae.fit(X)
        return
    with pytest.raises(ValueError, match=msg):
        ae.fit(X)
    assert not hasattr(ae, "network_")


def test_bce_rejects_data_outside_unit_interval(X):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        small(loss="bce").fit(X * 2)


def test_failed_fit_keeps_previous_model(X):
    ae = small().fit(X)
    before = ae.network_.params.copy()
    with pytest.raises(ValueError):
        ae.fit(np.zeros((0, 12)))
    np.testing.assert_array_equal(ae.network_.params, before)


def test_gpu_arrays_are_refused_clearly():
    class FakeCupy:
        __cuda_array_interface__ = {}

    ae = small()
    with pytest.raises(TypeError, match="GPU"):
        ae.fit(FakeCupy())


def test_progress_bar_follows_verbose(X, capsys):
    small(verbose=True).fit(X)
    assert "epoch" in capsys.readouterr().err
    small(verbose=False).fit(X)
    assert capsys.readouterr().err == ""


def test_concurrent_inference_matches_serial(X):
    from concurrent.futures import ThreadPoolExecutor

    ae = small().fit(X)
    want = ae.reconstruct(X)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: ae.reconstruct(X), range(16)))
    for r in results:
        np.testing.assert_array_equal(r, want)
