"""The outlier-detector API on every model: IsolationForest's conventions
(checked side by side on the same scores), conformal calibration (its
false-alarm rate within binomial error, uniform p-values), and scores that
are the same across calls and across save/load."""

import numpy as np
import pytest

import pyae

RNG = np.random.default_rng(0)


def normal_rows(n, rng, d=8):
    """Normal data near a 3-D subspace, in [0, 1] (sigmoid outputs)."""
    basis = np.random.default_rng(123).standard_normal((3, d))
    z = rng.standard_normal((n, 3))
    return (1 / (1 + np.exp(-(z @ basis) / 2))).astype(np.float32)


MODELS = [
    (pyae.Autoencoder, dict(hidden=(6, 3))),
    (pyae.DenoisingAutoencoder, dict(hidden=(6, 3), noise=pyae.noise.Gaussian(0.05))),
    (pyae.VAE, dict(hidden=(6,), latent_dim=3)),
]


def fitted(cls, kw, X, **more):
    return cls(epochs=30, batch_size=64, learning_rate=1e-2, verbose=False, **kw, **more).fit(X)


@pytest.mark.parametrize("contamination", [0.05, 0.2, "auto"])
def test_isolation_forest_conventions_side_by_side(contamination):
    """An IsolationForest whose scores are the negated pyae scores gives
    the same offset_, decision_function and predict."""
    from sklearn.ensemble import IsolationForest

    X = normal_rows(400, np.random.default_rng(1))
    X_new = np.vstack([normal_rows(50, np.random.default_rng(2)),
                       np.random.default_rng(3).random((10, 8), dtype=np.float32)])
    # (The convention, on a score whose training values are those of new
    # rows: "combined" leaves each training row out of its own neighbours.)
    model = fitted(pyae.Autoencoder, dict(hidden=(6, 3)), X, contamination=contamination,
                   anomaly_score="standardized")

    class SameScores(IsolationForest):
        def score_samples(self, X):
            return -model.score_samples(X).astype(np.float64)

        def _score_samples(self, X):
            return self.score_samples(X)

    forest = SameScores(contamination=0.01 if contamination == "auto" else contamination,
                        random_state=0).fit(X)
    assert model.threshold_ == pytest.approx(-forest.offset_, rel=1e-6)
    np.testing.assert_allclose(model.decision_function(X_new), forest.decision_function(X_new),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.predict(X_new), forest.predict(X_new))
    np.testing.assert_array_equal(model.fit_predict(X), forest.fit_predict(X))
    assert set(np.unique(model.predict(X_new))) <= {-1, 1}


@pytest.mark.parametrize("cls,kw", MODELS)
def test_calibrate_hits_its_false_alarm_rate(cls, kw):
    """Split conformal: on new normal rows the false-alarm rate is fpr
    within binomial error (calibration set and test set both count)."""
    from scipy.stats import kstest

    rng = np.random.default_rng(4)
    model = fitted(cls, kw, normal_rows(3000, rng))
    fpr, n_cal, n_test = 0.05, 2000, 20000
    model.calibrate(normal_rows(n_cal, rng), fpr=fpr)
    test = normal_rows(n_test, rng)
    rate = float(np.mean(model.predict(test) == -1))
    sigma = np.sqrt(fpr * (1 - fpr) * (1 / n_cal + 1 / n_test))
    assert abs(rate - fpr) < 3.5 * sigma, (rate, sigma)
    p = model.pvalues(test)
    assert 0 < p.min() and p.max() <= 1
    # Given one calibration set, the p-values' CDF is within the two samples'
    # DKW bands of the uniform one (alpha 0.001 each)...
    band = sum(np.sqrt(np.log(2 / 1e-3) / (2 * n)) for n in (n_cal, n_test))
    assert kstest(p, "uniform").statistic < band
    # ...and over calibration sets, a new normal row's p-value is uniform:
    # 300 disjoint calibration sets of 99 rows, one fresh row each.
    pool = normal_rows(300 * 100, rng)
    fresh = []
    for r in range(300):
        model.calibrate(pool[r * 100:r * 100 + 99], fpr=0.05)
        fresh.append(model.pvalues(pool[r * 100 + 99:r * 100 + 100])[0])
    assert kstest(fresh, "uniform").pvalue > 0.001
    # Anomalies: uniform noise far from the subspace gets small p-values.
    far = np.random.default_rng(5).random((200, 8), dtype=np.float32)
    assert np.median(model.pvalues(far)) < np.median(p)


@pytest.mark.parametrize("cls,kw", MODELS)
def test_every_score_is_deterministic_and_survives_save_load(cls, kw, tmp_path):
    X = normal_rows(300, np.random.default_rng(6))
    model = fitted(cls, kw, X)
    model.calibrate(normal_rows(200, np.random.default_rng(7)), fpr=0.05)
    model.save(tmp_path / "m.safetensors")
    back = pyae.load(tmp_path / "m.safetensors")
    assert back.threshold_ == model.threshold_
    np.testing.assert_array_equal(back.calibration_scores_, model.calibration_scores_)
    np.testing.assert_array_equal(back.pvalues(X), model.pvalues(X))
    for kind in cls.anomaly_scores():
        model.set_params(anomaly_score=kind)
        back.set_params(anomaly_score=kind)
        first = model.score_samples(X)
        assert first.dtype == np.float32 and first.shape == (len(X),)
        assert np.isfinite(first).all(), kind
        np.testing.assert_array_equal(model.score_samples(X), first)
        np.testing.assert_array_equal(back.score_samples(X), first)


def test_scores_per_model():
    common = {"reconstruction", "standardized", "latent", "neighbours", "hidden_neighbours",
              "combined"}
    assert set(pyae.Autoencoder.anomaly_scores()) == common
    assert set(pyae.VAE.anomaly_scores()) == common | {"elbo", "iwae"}


def test_neighbour_distances_match_a_brute_force_reference():
    """The blocked distance computation against scikit-learn's exact search,
    and the bank is a seeded sample of at most 10,000 training codes."""
    from sklearn.neighbors import NearestNeighbors

    from pyae._outliers import OutlierDetection

    rng = np.random.default_rng(21)
    bank, codes = rng.standard_normal((3000, 7)), rng.standard_normal((2500, 7))
    bank = bank.astype(np.float32)
    nn = NearestNeighbors(n_neighbors=5).fit(bank.astype(np.float64))
    np.testing.assert_allclose(OutlierDetection._neighbours(codes, bank),
                               nn.kneighbors(codes)[0].mean(1), rtol=1e-9, atol=1e-12)
    own = bank.astype(np.float64)
    skip = np.arange(len(own)) % 2 == 0  # half of them "in the bank"
    want = np.where(skip, nn.kneighbors(own, n_neighbors=6)[0][:, 1:].mean(1),
                    nn.kneighbors(own)[0].mean(1))
    np.testing.assert_allclose(OutlierDetection._neighbours(own, bank, skip_self=skip), want,
                               rtol=1e-9, atol=1e-12)
    tiny = bank[:1]  # one code: no neighbour but itself
    assert np.isfinite(OutlierDetection._neighbours(codes[:3], tiny,
                                                    skip_self=np.ones(3, bool))).all()
    X = normal_rows(12000, np.random.default_rng(22))
    model = fitted(pyae.Autoencoder, dict(hidden=(6, 3)), X)
    stats = model.outlier_stats_
    assert stats["code_bank"].shape == (10_000, 3)
    assert stats["hidden_bank"].shape == (10_000, 6)
    # The two banks are the same training rows: their codes and first-layer outputs.
    rows = np.flatnonzero(np.isin(model.transform(X), stats["code_bank"]).all(axis=1))
    np.testing.assert_array_equal(model._forward(X[rows], 0, 1, 8), stats["hidden_bank"])


def test_hidden_neighbours_and_combined_by_hand():
    """hidden_neighbours: the mean distance of the first hidden layer's
    output to its 5 nearest among the bank's, by scikit-learn's search;
    combined: its log plus half the logs of standardized and latent, each
    of part + 0.001 * its training mean, centred by its training median and
    scaled by its training interquartile range / 1.349 (recomputed here from
    the training rows, each leaving itself out of its neighbours)."""
    from sklearn.neighbors import NearestNeighbors

    X = normal_rows(600, np.random.default_rng(31))
    X_new = np.vstack([normal_rows(40, np.random.default_rng(32)),
                       np.random.default_rng(33).random((10, 8), dtype=np.float32)])
    for cls, kw in MODELS + [(pyae.Autoencoder, dict(hidden=(3,))),
                             (pyae.VAE, dict(hidden=(), latent_dim=3))]:
        model = fitted(cls, kw, X)
        stats = model.outlier_stats_
        one_layer_code = model._layout_.decoder_start == 1
        hidden = model.transform(X) if one_layer_code else model._forward(X, 0, 1, 8)
        hidden_new = model.transform(X_new) if one_layer_code else model._forward(X_new, 0, 1, 8)
        assert len(stats["hidden_bank"]) == len(X)  # a bank of every row, in order here
        np.testing.assert_array_equal(stats["hidden_bank"], hidden)
        nn = NearestNeighbors(n_neighbors=6).fit(hidden.astype(np.float64))
        want_new = nn.kneighbors(hidden_new.astype(np.float64), 5)[0].mean(1)
        model.set_params(anomaly_score="hidden_neighbours")
        np.testing.assert_allclose(model.score_samples(X_new), want_new, rtol=1e-5)
        own = nn.kneighbors(hidden.astype(np.float64))[0][:, 1:].mean(1)
        parts = {k: model._scores(X, k) for k in ("standardized", "latent")}
        parts["hidden_neighbours"] = own
        new = {k: model._scores(X_new, k) for k in ("standardized", "latent")}
        new["hidden_neighbours"] = want_new
        want = 0.0
        size = np.sqrt(np.mean(np.sum(hidden.astype(np.float64) ** 2, axis=1)))
        least = {"standardized": 1e-3, "latent": 1e-6, "hidden_neighbours": 1e-5 * size}
        for name, weight in (("standardized", 0.5), ("latent", 0.5), ("hidden_neighbours", 1)):
            floor = max(1e-3 * parts[name].mean(), least[name])
            above = parts[name][parts[name] > floor]  # rows at the floor are left out
            q1, median, q3 = np.percentile(np.log(above + floor), [25, 50, 75])
            want = want + weight * (np.log(new[name] + floor) - median) / ((q3 - q1) / 1.349)
        model.set_params(anomaly_score="combined")
        np.testing.assert_allclose(model.score_samples(X_new), want, rtol=1e-4, atol=1e-4)
        # The anomalies (uniform noise, not near the 3-D subspace) score higher.
        assert np.median(want[40:]) > np.percentile(want[:40], 90), cls.__name__


def test_neighbour_search_is_exact_for_near_ties_far_from_the_origin():
    """Before: float32 scores picked the k + 1 candidates, and a bank 80
    from the origin at spreads of 1e-3 gave mean distances 42% off (every
    row). Now the GEMM runs centred and every bank row within the float32
    error bound of the candidates is measured exactly."""
    from pyae import _core

    rng = np.random.default_rng(46)
    base = rng.standard_normal(64) * 10
    bank = (base + rng.standard_normal((3000, 64)) * 1e-3).astype(np.float32)
    codes = base + rng.standard_normal((300, 64)) * 1e-3
    d = np.sqrt(((codes[:, None, :] - bank.astype(np.float64)[None]) ** 2).sum(-1))
    want = np.sort(d, axis=1)[:, :5].mean(1)
    np.testing.assert_allclose(_core.nearest_mean_distance(codes, bank, 5), want, rtol=1e-12)


def test_combined_survives_duplicated_training_rows_and_batch_size():
    """Before: a row repeated 20 times (4% of the training rows) had a
    neighbour distance of 0, its log floored at -69, and the spread of the
    hidden term grew 76x, switching that term off; and a row's combined
    score jumped by 4 units between scoring it alone and in a batch (a
    distance of 1e-7 against exactly 0)."""
    X = normal_rows(480, np.random.default_rng(41))
    dup = np.vstack([X, np.repeat(X[:1], 20, axis=0)])
    clean, duplicated = (fitted(pyae.Autoencoder, dict(hidden=(6, 3)), rows, seed=0)
                         for rows in (X, dup))
    spread = [m.outlier_stats_["combined_moments"][8] for m in (clean, duplicated)]
    assert spread[1] < 1.5 * spread[0], spread
    # 30% of the rows in groups of 10 (the interquartile range alone broke at 25%).
    groups = np.vstack([X[:336], np.repeat(X[336:351], 10, axis=0)])
    grouped = fitted(pyae.Autoencoder, dict(hidden=(6, 3)), groups, seed=0)
    assert grouped.outlier_stats_["combined_moments"][8] < 1.5 * spread[0]
    rows = np.vstack([dup[-1:], normal_rows(99, np.random.default_rng(42))])
    alone = np.array([duplicated.score_samples(r[None])[0] for r in rows[:8]])
    np.testing.assert_allclose(duplicated.score_samples(rows)[:8], alone, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("case", ["oversampled", "identical", "last_partial_fit_of_one_row"])
def test_exact_matches_do_not_make_rounding_an_anomaly(case):
    """Before: with a training mean of 0 for a part (every row with exact
    duplicates in the bank) its floor fell to 1e-30 and its spread to 0.01,
    so a rounding distance of 1e-7 scored ~5000: training rows scored a few
    at a time were outliers (70%), new normal rows all were. Now a hidden
    distance under 1e-5 of the features' size is rounding."""
    rng = np.random.default_rng(45)
    X = {"oversampled": np.repeat(normal_rows(100, rng), 5, axis=0),
         "identical": np.repeat(normal_rows(1, rng), 50, axis=0),
         "last_partial_fit_of_one_row": normal_rows(200, rng)}[case]
    model = fitted(pyae.Autoencoder, dict(hidden=(6, 3)), X, seed=0)
    if case == "last_partial_fit_of_one_row":
        model.partial_fit(X[:1])
        X = X[:1]
    apart = np.concatenate([model.score_samples(X[i:i + 7]) for i in range(0, len(X), 7)])
    assert np.all(apart < 1), apart.max()  # was up to 11,034 (very normal is very negative)
    if case == "oversampled":  # (identical rows: every training score is the threshold)
        together = model.predict(X)
        apart = np.concatenate([model.predict(X[i:i + 7]) for i in range(0, len(X), 7)])
        np.testing.assert_array_equal(apart, together)


def test_banks_are_each_within_their_limits_and_stored_once(tmp_path):
    """Each bank has its own row count (the code bank as many rows as
    before the hidden bank existed); where the first layer is the code, the
    one bank is saved once and serves both scores after a load."""
    X = np.random.default_rng(43).random((12_000, 8), dtype=np.float32)
    wide = pyae.Autoencoder(hidden=(1024, 2), epochs=1, verbose=False).fit(X)
    assert wide.outlier_stats_["code_bank"].shape == (10_000, 2)
    assert wide.outlier_stats_["hidden_bank"].shape == ((1 << 22) // 1024, 1024)
    one = fitted(pyae.Autoencoder, dict(hidden=(3,)), X[:300])
    one.save(tmp_path / "one.safetensors")
    from pyae._io import ModelFileReader

    with ModelFileReader(tmp_path / "one.safetensors") as reader:
        assert "outlier.hidden_bank" not in reader.names()
    back = pyae.load(tmp_path / "one.safetensors")
    for kind in ("neighbours", "hidden_neighbours", "combined"):
        for m in (one, back):
            m.set_params(anomaly_score=kind)
        np.testing.assert_array_equal(back.score_samples(X[:50]), one.score_samples(X[:50]))


def test_bad_settings_are_clear_errors():
    X = normal_rows(100, np.random.default_rng(8))
    for bad in (0.0, 0.6, -1, "most", True, None):
        with pytest.raises(ValueError, match="contamination"):
            pyae.Autoencoder(contamination=bad, verbose=False).fit(X)
    with pytest.raises(ValueError, match="anomaly_score"):
        pyae.Autoencoder(anomaly_score="elbo", verbose=False).fit(X)
    model = fitted(pyae.Autoencoder, dict(hidden=(4,)), X)
    with pytest.raises(ValueError, match="calibrate"):
        model.pvalues(X)
    for fpr in (0, 1, -0.1, "x", True):
        with pytest.raises(ValueError, match="fpr"):
            model.calibrate(X, fpr=fpr)
    with pytest.raises(ValueError, match="needs at least 999 normal rows"):
        model.calibrate(X, fpr=0.001)
    model.set_params(anomaly_score="latent")
    with pytest.raises(ValueError, match="threshold_ was set for anomaly_score='combined'"):
        model.predict(X)
    model.calibrate(X, fpr=0.05)  # a threshold for the new score
    assert model.predict(X).shape == (100,)


def test_files_of_older_versions_load_without_outlier_state():
    from pathlib import Path

    folder = Path(__file__).resolve().parent / "fixtures" / "format1"
    model = pyae.load(folder / "ae_tied.safetensors")
    # Files from before anomaly_score score as their models did: the objective.
    assert model.anomaly_score == "reconstruction" and model.contamination == "auto"
    X = np.load(folder / "expected.npz")["X"]
    assert model.score_samples(X).shape == (len(X),)
    with pytest.raises(ValueError, match="no threshold_"):
        model.predict(X)
    with pytest.raises(ValueError, match="fit it again"):
        model.set_params(anomaly_score="latent").score_samples(X)


def test_hostile_inputs_are_clear_errors_and_change_nothing():
    X = normal_rows(200, np.random.default_rng(9))
    model = fitted(pyae.Autoencoder, dict(hidden=(4,)), X)
    model.calibrate(X[:100], fpr=0.1)
    before = (model.threshold_, model.calibration_scores_.copy())
    bad_inputs = [np.full((5, 8), np.nan, np.float32), np.zeros((0, 8), np.float32),
                  np.zeros((5, 7), np.float32), np.zeros((5, 8), np.complex64), "rows"]
    for bad in bad_inputs:
        for call in (model.score_samples, model.decision_function, model.predict,
                     model.pvalues, lambda a: model.calibrate(a, fpr=0.5)):
            with pytest.raises((ValueError, TypeError)):
                call(bad)
    assert model.threshold_ == before[0]
    np.testing.assert_array_equal(model.calibration_scores_, before[1])


def test_concurrent_calibrations_keep_threshold_and_scores_a_pair():
    import threading

    X = normal_rows(2000, np.random.default_rng(10))
    model = fitted(pyae.Autoencoder, dict(hidden=(4,)), X[:1000])
    halves = (X[1000:1500], X[1500:])

    def work(rows):
        for _ in range(20):
            model.calibrate(rows, fpr=0.1)

    threads = [threading.Thread(target=work, args=(h,)) for h in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cal = model.calibration_scores_
    assert model.threshold_ == cal[int(np.ceil((len(cal) + 1) * 0.9)) - 1]


@pytest.mark.parametrize("cls,kw", MODELS)
def test_scores_on_every_backend_follow_the_cpu(cls, kw, backend):
    X = normal_rows(300, np.random.default_rng(11))
    kw = dict(kw, epochs=3, batch_size=100, learning_rate=1e-2, verbose=False)
    cpu = cls(**kw).fit(X)
    other = cls(device=backend.device, **kw).fit(X)
    for kind in cls.anomaly_scores():
        cpu.set_params(anomaly_score=kind)
        other.set_params(anomaly_score=kind)
        got = other.score_samples(X)
        got = got.get() if hasattr(got, "get") else np.asarray(got)
        np.testing.assert_allclose(got, cpu.score_samples(X), rtol=200 * backend.rtol,
                                   atol=1e-3, err_msg=kind)
    other.set_params(anomaly_score=cls().anomaly_score).calibrate(X[:200], fpr=0.1)
    assert other.pvalues(X).shape == (300,)
    assert set(np.unique(other.predict(X))) <= {-1, 1}


# ------------------------------------------- found by a hostile review
def test_vae_bound_scores_do_not_depend_on_the_batch():
    """Before: the eps draws were laid out over the whole batch, so a row's
    elbo/iwae score moved by up to a nat with the rows scored beside it."""
    X = normal_rows(120, np.random.default_rng(12))
    model = fitted(pyae.VAE, dict(hidden=(6,), latent_dim=3), X)
    for kind in ("elbo", "iwae"):
        model.set_params(anomaly_score=kind)
        full = model.score_samples(X[:40])
        alone = np.array([model.score_samples(X[i:i + 1])[0] for i in range(40)])
        np.testing.assert_allclose(alone, full, rtol=1e-5)
        np.testing.assert_allclose(model.score_samples(X[5:45])[:35], full[5:], rtol=1e-5)


def test_a_minmax_vae_scores_rows_outside_its_training_range():
    X = normal_rows(200, np.random.default_rng(13))
    model = pyae.VAE(hidden=(6,), latent_dim=2, scale="minmax", anomaly_score="elbo", epochs=3,
                     verbose=False).fit(X)
    outside = np.vstack([X[:50] * 1.2 - 0.1, normal_rows(50, np.random.default_rng(14))])
    model.calibrate(outside[50:], fpr=0.1)
    assert np.isfinite(model.score_samples(outside)).all()
    assert model.predict(outside).shape == (100,)


def test_saving_while_another_thread_trains_waits_for_it(tmp_path):
    """Before: saves and pickles taken mid-step held torn weights (checksum
    errors on load) or raised KeyError on half-built statistics."""
    import pickle
    import threading

    X = normal_rows(400, np.random.default_rng(15))
    model = fitted(pyae.Autoencoder, dict(hidden=(6, 3)), X)
    stop = threading.Event()

    def train():
        while not stop.is_set():
            model.partial_fit(X)

    trainer = threading.Thread(target=train)
    trainer.start()
    try:
        for i in range(15):
            model.save(tmp_path / "m.safetensors")
            pyae.load(tmp_path / "m.safetensors")
            pickle.loads(pickle.dumps(model))
    finally:
        stop.set()
        trainer.join()


def test_calibration_scores_must_be_finite():
    X = normal_rows(100, np.random.default_rng(16))
    model = fitted(pyae.Autoencoder, dict(hidden=(4,)), X, anomaly_score="reconstruction")
    before = model.threshold_
    huge = np.vstack([X[:20], np.full((1, 8), 3e38, np.float32)])
    with pytest.raises((ValueError, FloatingPointError)):  # inf score, or NaN inside
        model.calibrate(huge, fpr=0.1)
    assert model.threshold_ == before and model.calibration_scores_ is None
    # A score of +inf (an error past float32) in particular:
    model.score_samples = lambda rows: np.full(len(rows), np.inf, np.float32)
    with pytest.raises(ValueError, match="finite scores"):
        model.calibrate(X[:20], fpr=0.1)
    assert model.threshold_ == before and model.calibration_scores_ is None


def test_older_models_keep_a_calibration_and_score_with_their_bounds(tmp_path):
    from pathlib import Path

    folder = Path(__file__).resolve().parent / "fixtures" / "format1"
    X = np.load(folder / "expected.npz")["X"]
    ae = pyae.load(folder / "ae_tied.safetensors").calibrate(X, fpr=0.5)
    ae.save(tmp_path / "a.safetensors")
    back = pyae.load(tmp_path / "a.safetensors")
    assert back.threshold_ == ae.threshold_
    np.testing.assert_array_equal(back.predict(X), ae.predict(X))
    vae = pyae.load(folder / "vae.safetensors")
    assert vae.anomaly_score == "elbo" and vae.score_samples(X).shape == (len(X),)
    with pytest.raises(ValueError, match=r"use anomaly_score in \['elbo', 'iwae', "
                                         r"'reconstruction'\]"):
        vae.set_params(anomaly_score="latent").score_samples(X)


@pytest.mark.parametrize("name", ["ae", "vae"])
def test_files_from_before_hidden_neighbours_keep_what_still_holds(tmp_path, name):
    """Files of pyae 0.1 before "hidden_neighbours" (no hidden bank; moments
    of another "combined"): the model loads with a warning and infers as
    before; standardized, latent and neighbours keep their statistics (and
    a threshold for them), "combined" and "hidden_neighbours" ask for a fit
    (a "combined" threshold is dropped: another score would be compared
    with it); saved again, the file is the same kind; fit restores all."""
    from pathlib import Path

    path = Path(__file__).resolve().parent / "fixtures" / "legacy" / \
        f"{name}_pyae_0.1_before_hidden_neighbours.safetensors"
    with pytest.warns(UserWarning, match="older pyae.*fitted again") as caught:
        model = pyae.load(path)
    assert caught[0].filename == __file__  # the warning points at the load
    X = np.random.default_rng(0).random((32, 6), dtype=np.float32)
    assert model.reconstruct(X).shape == X.shape
    for kind in ("reconstruction", "standardized", "latent", "neighbours"):
        assert np.isfinite(model.set_params(anomaly_score=kind).score_samples(X)).all()
    if name == "ae":  # its threshold was for "combined"
        assert model.threshold_ is None
        with pytest.raises(ValueError, match="no threshold_"):
            model.predict(X)
    else:  # the VAE's was for "standardized", which still holds
        assert model.threshold_score_ == "standardized"
        assert model.set_params(anomaly_score="standardized").predict(X).shape == (32,)
    for kind in ("combined", "hidden_neighbours"):
        with pytest.raises(ValueError, match="older pyae.*fit it again"):
            model.set_params(anomaly_score=kind).score_samples(X)
    model.set_params(anomaly_score="standardized").save(tmp_path / "again.safetensors")
    with pytest.warns(UserWarning, match="older pyae"):
        again = pyae.load(tmp_path / "again.safetensors")
    np.testing.assert_array_equal(again.score_samples(X), model.score_samples(X))
    model.set_params(anomaly_score="combined").fit(X)
    assert np.isfinite(model.score_samples(X)).all() and model.threshold_ is not None


def test_an_ensemble_of_older_members_is_refused_clearly(tmp_path):
    """Before: "every member must score with 'combined'" after a warning per
    member. An older ensemble's score cannot be computed: it says so."""
    X = normal_rows(200, np.random.default_rng(44))
    ensemble = pyae.AnomalyEnsemble(members=[
        pyae.Autoencoder(hidden=(6, 3), epochs=2, verbose=False),
        pyae.VAE(hidden=(6,), latent_dim=3, epochs=2, verbose=False)]).fit(X)
    for member in ensemble.members_:  # as an older pyae saved them
        stats = member.outlier_stats_
        del stats["hidden_bank"], stats["combined_moments"]
        stats["moments"] = np.ones(6, np.float32)
    ensemble.save(tmp_path / "old.safetensors")
    with pytest.raises(pyae.ModelFileError, match="older pyae.*fit the ensemble again"):
        pyae.load(tmp_path / "old.safetensors")


def _resigned(path, edit):
    import json
    import struct
    import zlib

    from pyae._io import metadata_crc

    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header, data = json.loads(blob[8:8 + n]), bytearray(blob[8 + n:])
    edit(header, data)
    meta = header["__metadata__"]
    meta["checksums"] = json.dumps({k: zlib.crc32(bytes(data[e["data_offsets"][0]:
                                                                e["data_offsets"][1]]))
                                    for k, e in header.items() if k != "__metadata__"})
    meta["metadata_checksum"] = str(metadata_crc(meta))
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + bytes(data))


def _set_tensor(name, values):
    def edit(header, data):
        begin, end = header[name]["data_offsets"]
        data[begin:end] = np.asarray(values, np.float32).tobytes()
    return edit


def _set_outlier_meta(value):
    import json

    def edit(header, data):
        header["__metadata__"]["outlier"] = json.dumps(value)
    return edit


@pytest.mark.parametrize("edit", [
    _set_outlier_meta({"threshold": 1, "score": ["combined"]}),
    _set_outlier_meta({"threshold": 1, "score": {"a": 1}}),
    _set_outlier_meta({"threshold": 10**400, "score": "combined"}),
    _set_outlier_meta({"threshold": True, "score": "combined"}),
    _set_tensor("outlier.combined_moments", [0] * 9),
    _set_tensor("outlier.combined_moments", [1e-3, 1, -1] * 3),  # a negative spread
    _set_tensor("outlier.combined_moments", [0, 1, 1] * 3),  # a floor of 0: log(0)
    _set_tensor("outlier.combined_moments", [1e-3, 1, 1e-45] * 3),  # -> inf scores
    lambda h, d: _set_tensor("outlier.code_precision",
                             -np.eye(3, dtype=np.float32))(h, d),
    lambda h, d: h["outlier.hidden_bank"].update(shape=[100, 3]),  # the code's width, not 6
    lambda h, d: h.pop("outlier.code_bank"),  # the hidden bank without the code bank
    lambda h, d: h.pop("outlier.hidden_bank"),  # a new file is not taken for an older one
])
def test_corrupt_outlier_state_is_a_model_file_error(tmp_path, edit):
    """Before: TypeError / OverflowError, or accepted and then inf or
    negative scores."""
    model = fitted(pyae.Autoencoder, dict(hidden=(6, 3)),
                   normal_rows(100, np.random.default_rng(17)))
    path = tmp_path / "m.safetensors"
    model.save(path)
    _resigned(path, edit)
    with pytest.raises(pyae.ModelFileError):
        pyae.load(path)


def test_save_refuses_parameters_that_would_not_load(tmp_path):
    """Before: save wrote a file load then refused (anomaly_score='bogus'),
    or raised TypeError on NumPy scalar parameters."""
    X = normal_rows(100, np.random.default_rng(18))
    model = fitted(pyae.Autoencoder, dict(hidden=(4,)), X)
    path = tmp_path / "m.safetensors"
    model.save(path)
    good = path.read_bytes()
    for name, bad in (("anomaly_score", "bogus"), ("contamination", 2.0)):
        model.set_params(**{name: bad})
        with pytest.raises(ValueError, match=name):
            model.save(path)
        assert path.read_bytes() == good
        import copy
        assert copy.deepcopy(model).get_params()[name] == bad  # pickles carry it as it is
        model.set_params(**{name: pyae.Autoencoder().get_params()[name]})
    model.set_params(contamination=np.float32(0.1), learning_rate=np.float32(1e-3),
                     epochs=np.int64(2))
    model.save(path)
    back = pyae.load(path)
    assert back.contamination == pytest.approx(0.1) and back.epochs == 2


def test_the_conformal_rank_is_exact_where_floating_point_is_not():
    """(n + 1)(1 - fpr) = 100 * 0.55 is 55.000000000000007 in floating point;
    the threshold is the 55th smallest of 99 scores, not the 56th."""
    X = normal_rows(99, np.random.default_rng(19))
    model = fitted(pyae.Autoencoder, dict(hidden=(4,)),
                   normal_rows(200, np.random.default_rng(20)))
    model.calibrate(X, fpr=0.45)
    assert model.threshold_ == model.calibration_scores_[54]


def test_the_neighbour_kernel_refuses_bad_arguments():
    from pyae import _core

    codes, bank = np.zeros((4, 3)), np.zeros((6, 3), np.float32)
    with pytest.raises(ValueError, match="same Z"):
        _core.nearest_mean_distance(codes, np.zeros((6, 2), np.float32), 2)
    with pytest.raises(ValueError, match="k <= bank rows"):
        _core.nearest_mean_distance(codes, bank, 7)
    with pytest.raises(ValueError, match="k <= bank rows"):
        _core.nearest_mean_distance(codes, bank, 6, np.ones(4, np.uint8))
    with pytest.raises(ValueError, match="skip_self"):
        _core.nearest_mean_distance(codes, bank, 2, np.ones(3, np.uint8))
    with pytest.raises(TypeError):
        _core.nearest_mean_distance(codes.astype(np.float32), bank, 2)  # codes are float64


def test_neighbour_distances_do_not_depend_on_the_thread_count():
    from pyae import _core

    rng = np.random.default_rng(5)
    codes, bank = rng.standard_normal((1000, 9)), rng.standard_normal((700, 9)).astype(np.float32)
    threads = pyae.get_num_threads()
    try:
        pyae.set_num_threads(1)
        one = _core.nearest_mean_distance(codes, bank, 5)
        pyae.set_num_threads(2)
        two = _core.nearest_mean_distance(codes, bank, 5)
    finally:
        pyae.set_num_threads(threads)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("contamination", [0.05, 0.1])
def test_fit_predict_flags_the_contamination_share_with_the_neighbour_scores(contamination):
    """With "combined" (training rows leave themselves out of their
    neighbours) fit_predict labels the training rows by those training
    scores: the contamination share is -1, as IsolationForest's fit_predict;
    predict(X) on the same rows finds them nearer and flags fewer."""
    from sklearn.ensemble import IsolationForest

    X = normal_rows(600, np.random.default_rng(7))
    model = pyae.Autoencoder(hidden=(6, 3), epochs=3, verbose=False, seed=0,
                             contamination=contamination)
    labels = model.fit_predict(X)
    forest = IsolationForest(contamination=contamination, random_state=0).fit_predict(X)
    assert np.mean(labels == -1) == pytest.approx(contamination, abs=1.5 / len(X))
    assert np.mean(labels == -1) == pytest.approx(np.mean(forest == -1), abs=1.5 / len(X))
    np.testing.assert_array_equal(
        labels, np.where(model.training_scores_ > np.float32(model.threshold_), -1, 1))
    assert np.mean(model.predict(X) == -1) < np.mean(labels == -1)
