"""scikit-learn conformance: the common estimator checks, Pipelines,
clone, GridSearchCV (also with n_jobs), cross_val_score, score; and pyae
without scikit-learn installed (a subprocess that cannot import it)."""

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pyae

try:
    import sklearn
    from sklearn.utils.fixes import parse_version
except ImportError:
    sklearn = None

if sklearn is not None and parse_version(sklearn.__version__) < parse_version("1.6"):
    sklearn = None  # estimator tags need 1.6

needs_sklearn = pytest.mark.skipif(sklearn is None, reason="needs scikit-learn >= 1.6")

FAST = dict(hidden=(4,), epochs=2, batch_size=16, verbose=False)


def ae(**kw):
    return pyae.Autoencoder(**{**FAST, **kw})


def dae(**kw):
    return pyae.DenoisingAutoencoder(**{**FAST, **kw})


def vae(**kw):
    # loss="gaussian": the checks' data is not in [0, 1] (which "bce" needs).
    # activation="tanh": some checks fit on unscaled data around 100, where this
    # small ReLU encoder's log-variance overflows exp() and training stops with
    # FloatingPointError (a VAE needs scaled data).
    return pyae.VAE(**{**FAST, "latent_dim": 2, "loss": "gaussian", "activation": "tanh", **kw})


@pytest.fixture
def X():
    return np.random.default_rng(0).uniform(size=(200, 16)).astype(np.float32)


# ------------------------------------------------------------ common checks
if sklearn is not None:
    from sklearn.utils.estimator_checks import parametrize_with_checks

    # small and fast models, and the defaults (the VAE's with loss="gaussian");
    # the VAE's Monte Carlo bound as its score too: its draws are the same for
    # every row, so a row's score does not depend on its batch.
    @parametrize_with_checks([ae(), dae(), vae(), vae(anomaly_score="elbo"),
                              pyae.Autoencoder(verbose=False),
                              pyae.DenoisingAutoencoder(verbose=False),
                              pyae.VAE(loss="gaussian", verbose=False)])
    def test_sklearn_common_checks(estimator, check):
        check(estimator)
else:
    @needs_sklearn
    def test_sklearn_common_checks():
        pass


@needs_sklearn
@pytest.mark.parametrize("make", [pyae.Autoencoder, pyae.DenoisingAutoencoder, pyae.VAE])
def test_default_estimators_are_sklearn_estimators(make):
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.utils import get_tags

    model = make()
    assert isinstance(model, BaseEstimator) and isinstance(model, TransformerMixin)
    tags = get_tags(model)
    assert tags.transformer_tags.preserves_dtype == ["float32"]
    assert tags.requires_fit and not tags.target_tags.required
    assert not tags.input_tags.allow_nan and not tags.input_tags.sparse


@needs_sklearn
def test_not_fitted_error_is_sklearns(X):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    model = ae()
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    with pytest.raises(NotFittedError):
        model.transform(X)
    # pyae's own contract is unchanged: still a RuntimeError.
    with pytest.raises(RuntimeError):
        model.score(X)
    check_is_fitted(model.fit(X))


# ----------------------------------------------------------------- score
def test_score_is_negative_mean_reconstruction_loss(X):
    for model in (ae(anomaly_score="reconstruction").fit(X),
                  dae(anomaly_score="reconstruction").fit(X)):
        assert model.score(X) == pytest.approx(-model.score_samples(X).mean(), rel=1e-6)
        model.set_params(anomaly_score="combined")  # score() stays the objective
        assert model.score(X) == pytest.approx(
            -model.set_params(anomaly_score="reconstruction").score_samples(X).mean(), rel=1e-6)
        assert isinstance(model.score(X), float)
    assert ae(epochs=30).fit(X).score(X) > ae(epochs=1).fit(X).score(X)  # higher is better


def test_vae_score_is_mean_elbo_and_deterministic(X):
    model = vae(anomaly_score="elbo").fit(X)
    score = model.score(X)
    assert score == model.score(X)
    assert score == pytest.approx(model.elbo(X, n_samples=10).mean(), rel=1e-6)
    assert score == pytest.approx(-model.score_samples(X).mean(), rel=1e-6)


# -------------------------------------------------------------- pipelines
@needs_sklearn
def test_pipeline_autoencoder_first_middle_and_last(X):
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    first = make_pipeline(ae(hidden=(6,)), PCA(2)).fit(X)
    assert first.transform(X).shape == (200, 2)

    middle = make_pipeline(MinMaxScaler(), dae(hidden=(5,)), StandardScaler()).fit(X)
    Z = middle.transform(X)
    assert Z.shape == (200, 5)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-5)

    last = make_pipeline(MinMaxScaler(), ae(hidden=(5,)))
    Z = last.fit_transform(X)
    assert Z.shape == (200, 5) and Z.dtype == np.float32
    np.testing.assert_array_equal(Z, last.transform(X))
    model = last[-1]
    Xs = last[0].transform(X)
    assert last.score(X) == pytest.approx(model.score(Xs))
    np.testing.assert_allclose(last.score_samples(X), model.score_samples(Xs))
    # inverse_transform goes back through the autoencoder and the scaler
    back = last.inverse_transform(Z)
    np.testing.assert_allclose(back, last[0].inverse_transform(model.inverse_transform(Z)),
                               rtol=1e-5)

    vae_last = make_pipeline(MinMaxScaler(), pyae.VAE(hidden=(8,), latent_dim=2, **{
        k: v for k, v in FAST.items() if k != "hidden"})).fit(X)  # bce on [0, 1] data
    assert vae_last.transform(X).shape == (200, 2)
    assert np.isfinite(vae_last.score(X))


# ------------------------------------------------------------------ clone
@needs_sklearn
def test_clone_gives_an_unfitted_copy_with_the_same_params(X):
    from sklearn.base import clone

    from pyae.noise import Masking

    for model in (ae(hidden=(6, 3), learning_rate=0.01), dae(noise=Masking(0.3)),
                  vae(beta=0.5)):
        model.fit(X)
        c = clone(model)
        assert type(c) is type(model) and c.get_params() == model.get_params()
        assert not hasattr(c, "network_") and not hasattr(c, "n_features_in_")
        np.testing.assert_array_equal(c.fit(X).transform(X), model.transform(X))
    assert repr(ae(hidden=(6, 3))) == "Autoencoder(batch_size=16, epochs=2, hidden=(6, 3), " \
                                      "verbose=False)"


def test_set_params_validates_names():
    model = ae()
    assert model.set_params(epochs=3, learning_rate=0.01) is model
    assert model.get_params()["epochs"] == 3
    with pytest.raises(ValueError, match="has no parameter 'depth'"):
        model.set_params(depth=3)
    with pytest.raises(ValueError, match="has no parameter 'tied_weights'"):
        pyae.VAE().set_params(tied_weights=True)
    assert "tied_weights" not in pyae.VAE().get_params()


# ------------------------------------------------------------ model search
GRID = {"hidden": [(2,), (8,)], "learning_rate": [1e-3, 1e-2]}


@needs_sklearn
def test_grid_search_with_and_without_n_jobs(X):
    from sklearn.model_selection import GridSearchCV, KFold

    searches = [GridSearchCV(ae(epochs=5), GRID, cv=KFold(3), n_jobs=n_jobs).fit(X)
                for n_jobs in (None, 2)]
    search = searches[0]
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.all(np.isfinite(scores)) and np.all(scores < 0)
    # worker processes (models pickled through safetensors bytes) give the same scores
    np.testing.assert_allclose(searches[1].cv_results_["mean_test_score"], scores, rtol=1e-6)
    assert searches[1].best_params_ == search.best_params_
    # the scores are the models' own score: refit one by hand and compare
    train, test = next(KFold(3).split(X))
    one = ae(epochs=5, hidden=(2,), learning_rate=1e-3).fit(X[train])
    assert search.cv_results_["split0_test_score"][0] == pytest.approx(one.score(X[test]))
    best = search.best_estimator_
    assert best.hidden == search.best_params_["hidden"] and best.n_features_in_ == 16
    assert search.transform(X).shape == (200, best.hidden[-1])
    assert search.score(X) == pytest.approx(best.score(X))


@needs_sklearn
def test_grid_search_vae_and_dae_in_parallel(X):
    from sklearn.model_selection import GridSearchCV

    from pyae.noise import Gaussian, Masking

    search = GridSearchCV(vae(epochs=3), {"latent_dim": [1, 3], "beta": [0.5, 1.0]}, cv=2,
                          n_jobs=2).fit(X)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert isinstance(search.best_estimator_, pyae.VAE)
    search = GridSearchCV(dae(), {"noise": [Gaussian(0.1), Masking(0.3)]}, cv=2,
                          n_jobs=2).fit(X)
    assert search.best_params_["noise"] in (Gaussian(0.1), Masking(0.3))
    assert search.best_estimator_.noise == search.best_params_["noise"]


@needs_sklearn
def test_cross_val_score(X):
    from sklearn.model_selection import KFold, cross_val_score

    cv = KFold(4, shuffle=True, random_state=0)
    for model in (ae(), dae(), vae()):
        scores = cross_val_score(model, X, cv=cv)
        assert scores.shape == (4,) and np.all(np.isfinite(scores))
        train, test = next(cv.split(X))
        manual = pickle.loads(pickle.dumps(model)).fit(X[train]).score(X[test])
        assert scores[0] == pytest.approx(manual)
    # parallel folds give the same scores
    np.testing.assert_allclose(cross_val_score(ae(), X, cv=cv, n_jobs=2),
                               cross_val_score(ae(), X, cv=cv), rtol=1e-6)


# --------------------------------------------------- without scikit-learn
WITHOUT_SKLEARN = textwrap.dedent("""
    import importlib.abc, pickle, sys

    class NoSklearn(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "sklearn" or name.startswith("sklearn."):
                raise ImportError(f"{name} is blocked in this test")

    sys.meta_path.insert(0, NoSklearn())
    import numpy as np
    import pyae
    from pyae._sklearn_compat import HAVE_SKLEARN
    from pyae.noise import Masking

    assert not HAVE_SKLEARN and "sklearn" not in sys.modules
    X = np.random.default_rng(0).uniform(size=(60, 6)).astype(np.float32)
    fast = dict(hidden=(3,), epochs=2, batch_size=16, verbose=False)
    for model in (pyae.Autoencoder(**fast), pyae.DenoisingAutoencoder(noise=Masking(0.2), **fast),
                  pyae.VAE(latent_dim=2, **fast)):
        name = type(model).__name__
        params = model.get_params()
        assert list(params) == [p for p in type(model).__init__.__code__.co_varnames[
            1:type(model).__init__.__code__.co_argcount]], params
        assert repr(model).startswith(name + "(hidden=(3,), ")
        try:
            model.transform(X)
        except pyae.NotFittedError as e:
            assert isinstance(e, (RuntimeError)) and isinstance(e, ValueError) \\
                and isinstance(e, AttributeError)
        else:
            raise AssertionError("transform before fit")
        try:
            model.set_params(depth=3)
        except ValueError as e:
            assert "has no parameter 'depth'" in str(e)
        else:
            raise AssertionError("set_params(depth=3)")
        assert model.set_params(epochs=3) is model and model.epochs == 3
        Z = model.fit_transform(X)
        assert Z.shape == (60, model.get_params().get("latent_dim", 3))
        np.testing.assert_array_equal(Z, model.transform(X))
        assert np.isfinite(model.score(X))
        back = pickle.loads(pickle.dumps(model))
        np.testing.assert_array_equal(back.transform(X), Z)
        assert back.get_params() == model.get_params()
    print("ok")
""")


def test_pyae_works_without_sklearn(tmp_path):
    # from outside the checkout, so that the installed package is imported
    r = subprocess.run([sys.executable, "-c", WITHOUT_SKLEARN], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
