"""Anomaly detection on every model: scikit-learn's outlier-detector API
(``contamination``, ``threshold_``, ``decision_function``, ``predict``,
``fit_predict``), conformal calibration (``calibrate``, ``pvalues``) and the
anomaly scores ``score_samples`` computes, chosen by ``anomaly_score``.

Scores are on pyae's scale, higher = more anomalous; ``decision_function``
is ``threshold_ - score_samples`` (higher = more normal, negative = outlier)
and ``predict`` is -1 where it is negative, +1 elsewhere, as IsolationForest
(whose ``score_samples`` is the negated scale, with ``offset_`` the negated
threshold). The statistics the scores need are learnt at the end of every
``fit``/``partial_fit`` from the training data, and saved with the model.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from . import _core, _dask
from ._dask import lazy_rows
from ._distributed import LOCAL

# Score name -> what it is. Every model has these; the VAE adds its
# likelihood bounds (vae.py).
SCORES = {
    "reconstruction": "the per-sample training loss of the reconstruction",
    "standardized": "mean squared residual, each feature's residual standardised by "
                    "its mean and spread on the training data",
    "latent": "squared Mahalanobis distance of the code from the training codes",
    "neighbours": "mean distance of the code to its 5 nearest training codes",
    "hidden_neighbours": "mean distance of the first hidden layer's output to its 5 nearest "
                         "among the training rows'",
    "combined": "hidden_neighbours + (standardized + latent) / 2, the log of each centred "
                "and scaled by its training median and spread (interquartile range)",
}
NEIGHBOURS = 5
# "combined": part -> weight of its log, centred by its training median and
# scaled by its training spread (combined_moments). Chosen on
# the training splits of Fashion-MNIST and MNIST (benchmarks/choose_combined_score.py).
COMBINED = {"standardized": 0.5, "latent": 0.5, "hidden_neighbours": 1.0}
# A neighbour bank keeps at most this many training rows (a seeded sample),
# and at most this many floats (but 6 rows): a neighbour score stays a small,
# fixed cost per row, whatever the training set.
_BANK_ROWS, _BANK_FLOATS = 10_000, 1 << 22
# A part's log is of part + floor, the floor this share of its training mean
# and at least the part's own smallest meaningful size (combined_moments): a
# distance of 0 (a row with duplicates in the bank), or of 1e-7 instead of 0
# from rounding, is then "very normal", not -inf or -16.
_LOG_FLOOR = 1e-3
# The spread of a part's log is at least this: parts that hardly vary on the
# training rows do not turn a small change into a huge score.
_MIN_LOG_SPREAD = 0.01
_RIDGE = 1e-3  # added to the code covariance's diagonal: codes may be degenerate


def contamination_check(value, name):
    if isinstance(value, str) and value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not 0.0 < float(value) <= 0.5:
        raise ValueError(f"{name} must be 'auto' or a number in (0, 0.5], got {value!r}")
    return float(value)


def _log(part, floor):
    return np.log(part + floor)


def combine(parts, moments):
    """The "combined" score from its parts (name -> (n,) float64) and, for
    each part in COMBINED's order, (floor, median, spread) of its log on
    the training rows (moments, (3 * parts,))."""
    total = 0.0
    for i, (name, weight) in enumerate(COMBINED.items()):
        floor, median, spread = moments[3 * i:3 * i + 3]
        total = total + weight * (_log(parts[name], floor) - median) / spread
    return total


def combined_moments(parts, least):
    """(floor, median, spread) of each part's log over the training rows, in
    COMBINED's order; ``least``: part -> the smallest floor that means
    something for it (a hidden distance far below the features' size is
    rounding). Median and interquartile range (scaled to a normal's standard
    deviation), not mean and standard deviation, over the rows above the
    floor: exact matches (duplicated rows in the bank) and a few rows far
    out (contamination) do not move them."""
    moments = []
    for name in COMBINED:
        part = parts[name]
        floor = max(_LOG_FLOOR * float(part.mean()), least[name])
        above = part[part > floor]
        if len(above) < max(10, len(part) // 10):  # (hardly any but exact matches)
            above = part
        q1, median, q3 = np.percentile(_log(above, floor), [25, 50, 75])
        moments += [floor, median, max((q3 - q1) / 1.349, _MIN_LOG_SPREAD)]
    return np.array(moments, dtype=np.float32)


def _symmetric(a):
    """Exactly symmetric (as the file loader demands): the mean of a and a.T."""
    return (a + a.T) / 2


_LOCK_CREATION = threading.Lock()


class OutlierDetection:
    """Mixed into BaseAutoencoder and AnomalyEnsemble; see this module's docstring."""

    def _new_lock(self):
        """The detector's lock (training, calibration, saving), made once."""
        with _LOCK_CREATION:
            return self.__dict__.setdefault("_lock_", threading.RLock())

    _SCORES = SCORES
    # The score of files written before anomaly_score existed, and of
    # score(): the training objective (the VAE's is the ELBO).
    _OBJECTIVE_SCORE = "reconstruction"

    # --------------------------------------------------------------- scores
    @lazy_rows(_dask.FEATURES_TO_ONE)
    def score_samples(self, X, out=None):
        """Anomaly score of each row, higher = more anomalous; which score is
        the ``anomaly_score`` parameter (see ``anomaly_scores()``). float32."""
        kind = self._anomaly_score_name()
        scores = np.asarray(self._scores(X, kind), dtype=np.float32)
        if out is None:
            return self._backend().to_caller(scores, X)
        from ._backends import output_array

        output_array(out, scores.shape)[...] = scores
        return out

    @classmethod
    def anomaly_scores(cls) -> dict:
        """The scores ``anomaly_score`` may name -> what each is."""
        return dict(cls._SCORES)

    def _anomaly_score_name(self):
        from ._validation import choice

        return choice(self.anomaly_score, "anomaly_score", self._SCORES)

    def _scores(self, X, kind):
        """float64 scores of kind ``kind`` (host arrays)."""
        if kind == "reconstruction":
            return self._host(self._row_losses(X, X)).astype(np.float64)
        if kind not in SCORES:
            return self._model_scores(X, kind)  # the VAE's bounds need no statistics
        stats = self._outlier_stats()
        if kind == "standardized":
            return self._standardized(X, stats)
        if kind == "latent":
            return self._latent(X, stats)
        if kind == "neighbours":
            return self._neighbours(self._codes(X), stats["code_bank"])
        if "combined_moments" not in stats:
            raise ValueError(f"this {type(self).__name__}'s statistics were saved by an older "
                             f"pyae, before {kind!r} had its present meaning: fit it again (or "
                             "score with 'standardized', 'latent' or 'neighbours')")
        if kind == "hidden_neighbours":
            return self._neighbours(self._features(X), stats["hidden_bank"])
        if kind == "combined":
            return combine(self._combined_parts(X, stats), stats["combined_moments"])
        raise AssertionError(kind)

    def _combined_parts(self, X, stats):
        codes, features = self._codes_and_features(X)
        return {"standardized": self._standardized(X, stats),
                "latent": self._latent(X, stats, codes),
                "hidden_neighbours": self._neighbours(features, stats["hidden_bank"])}

    def _model_scores(self, X, kind):
        raise ValueError(f"unknown anomaly_score {kind!r}")  # models with more override

    def _host(self, a):
        return np.asarray(self._backend().to_host(a))

    # Residuals are float32 (n, D) arrays, each pass over them one float32
    # pass, with sums accumulated in float64: in float64 they cost ~4x more
    # (most of fit's statistics on 784-wide data) for no difference that matters.
    def _residual(self, X):
        residual = self._host(self.reconstruct(X))  # a new array, ours to change
        np.subtract(self._host(self._place_input(X)), residual, out=residual)
        return residual

    def _standardized(self, X, stats, residual=None):
        z = self._residual(X) if residual is None else residual.copy()
        z -= stats["residual_mean"]
        z *= 1.0 / stats["residual_std"]
        return np.einsum("ij,ij->i", z, z, dtype=np.float64) / z.shape[1]

    def _codes(self, X):
        return self._host(self.transform(X)).astype(np.float64)

    def _features(self, X):
        """The first hidden layer's output (the code where that is the first), float64."""
        if self._layout_.decoder_start == 1:
            return self._codes(X)
        return self._host(self._forward(X, 0, 1, self.n_features_in_)).astype(np.float64)

    def _codes_and_features(self, X):
        """(codes, first-layer outputs); the same array where the first layer is the code."""
        codes = self._codes(X)
        return codes, codes if self._layout_.decoder_start == 1 else self._features(X)

    def _latent(self, X, stats, codes=None):
        codes = (self._codes(X) if codes is None else codes) - stats["code_mean"]
        # (codes . P) row-dot codes in two einsum loops: 4x faster than one
        # three-operand einsum, and unlike a BLAS product (gemv for one row,
        # gemm for many) a row's value here does not depend on the rows beside it.
        return np.einsum("ij,ij->i", np.einsum("ij,jk->ik", codes, stats["code_precision"]),
                         codes)

    @staticmethod
    def _neighbours(codes, bank, skip_self=None):
        """Mean Euclidean distance of each row of codes (n, Z) to its
        NEIGHBOURS nearest rows of the bank (M, Z) (codes or first-layer
        outputs; pyae._core.nearest_mean_distance: float32 GEMMs rank the
        bank, float64 distances for every row within their error bound of
        the best: exact). ``skip_self`` (n,)
        bool: rows that are in the bank, whose nearest row (themselves) is
        left out."""
        if len(bank) < 2:
            skip_self = None  # no other code to be near to: the distance to itself
        k = min(NEIGHBOURS, len(bank) - (skip_self is not None))
        return _core.nearest_mean_distance(
            np.ascontiguousarray(codes, dtype=np.float64), np.ascontiguousarray(bank), k,
            None if skip_self is None else skip_self.astype(np.uint8))

    def _place_input(self, X):
        return self._backend().input(X, "X", self.n_features_in_, type(self).__name__)

    # ------------------------------------------------------------ learning
    def _learn_outlier_stats(self, X, cfg, coll=LOCAL):
        """After training on X (host, float32): the statistics the scores
        need, and threshold_ from the contamination (a calibration is dropped: fit
        and partial_fit change the scores). With ``coll`` (a distributed fit)
        X is this rank's shard and every rank learns the same statistics."""
        # The forward passes (one, for the statistics and the scores); every
        # local step runs under coll.run, so a failure on one rank stops all.
        residual, (codes, features) = coll.run(
            lambda: (self._residual(X), self._codes_and_features(X)))
        n = coll.n_rows(len(codes))
        residual_mean = coll.sum(residual.sum(axis=0, dtype=np.float64)) / n
        x_rms = math.sqrt(coll.sum([np.einsum("ij,ij->", X, X, dtype=np.float64)])[0] /
                          (n * X.shape[1]))
        centred = residual - residual_mean.astype(np.float32)
        residual_std = np.sqrt(coll.sum(np.einsum("ij,ij->j", centred, centred,
                                                  dtype=np.float64)) / n)
        del centred
        code_mean = coll.sum(codes.sum(axis=0)) / n
        centred = codes - code_mean
        cov = coll.sum(centred.T @ centred) / (n - 1) if n > 1 else \
            np.zeros((codes.shape[1], codes.shape[1]))
        cov += _RIDGE * (np.trace(cov) / len(cov) + 1.0) * np.eye(len(cov))
        # The banks: a seeded sample of the global rows' codes, and one of their
        # first-layer outputs (the same rows where the widths are), gathered
        # from their ranks; each training row leaves itself out of a bank's
        # neighbours (as a new row would not find itself), so the moments and
        # the threshold are those new normal rows would see.
        banks = {}
        for name, rows in (("code_bank", codes), ("hidden_bank", features)):
            if name == "hidden_bank" and features is codes:
                banks[name] = banks["code_bank"]  # the same rows of the same layer
                continue
            size = min(n, _BANK_ROWS, max(NEIGHBOURS + 1, _BANK_FLOATS // rows.shape[1]))
            chosen = np.sort(np.random.default_rng(0).choice(n, size, replace=False))
            local = chosen[(chosen >= coll.offset) & (chosen < coll.offset + len(rows))]
            in_bank = np.zeros(len(rows), dtype=bool)
            in_bank[local - coll.offset] = True
            banks[name] = (np.asarray(coll.gather(rows[in_bank]), dtype=np.float32), in_bank)
        # Kept as float32 (what the model file stores): scores are the same
        # before and after a save.
        stats = {name: np.asarray(value, dtype=np.float32) for name, value in {
            "residual_mean": residual_mean,
            # A feature that never varies (a constant border pixel) would
            # divide by zero: its spread is floored at a small fraction of
            # the largest, and of the data's size (float32 rounding of a
            # reconstruction is ~1e-7 of it: not a residual).
            "residual_std": np.maximum(residual_std, 1e-3 * max(residual_std.max(),
                                                                0.1 * x_rms, 1e-6)),
            "code_mean": code_mean,
            "code_precision": _symmetric(np.linalg.inv(cov)),
        }.items()}
        stats["code_bank"] = banks["code_bank"][0]
        stats["hidden_bank"] = banks["hidden_bank"][0]
        kind = self._anomaly_score_name()
        parts = coll.run(lambda: {
            "standardized": self._standardized(X, stats, residual),
            "latent": self._latent(X, stats, codes),
            "hidden_neighbours": self._neighbours(features, stats["hidden_bank"],
                                                  skip_self=banks["hidden_bank"][1]),
            # (only when it is the score: "combined" does without it)
            **({"neighbours": self._neighbours(codes, stats["code_bank"],
                                               skip_self=banks["code_bank"][1])}
               if kind == "neighbours" else {})})
        # A hidden distance below 1e-5 of the features' size is float32 rounding.
        size = math.sqrt(float(np.mean(np.sum(np.square(stats["hidden_bank"], dtype=np.float64),
                                               axis=1))))
        stats["combined_moments"] = combined_moments(
            {name: np.asarray(coll.gather(parts[name]), dtype=np.float64) for name in COMBINED},
            # standardized's training mean is ~1 by construction; latent's ~ the code width.
            {"standardized": 1e-3, "latent": 1e-6, "hidden_neighbours": max(1e-5 * size, 1e-30)})
        self.outlier_stats_ = stats  # complete: a reader never sees half of it
        parts["combined"] = combine(parts, stats["combined_moments"])
        scores = parts[kind] if kind in parts else coll.run(lambda: self._scores(X, kind))
        scores = scores.astype(np.float32)
        self._set_threshold(coll.gather(scores), cfg["contamination"], kind)  # all ranks' rows
        # As PyOD's decision_scores_: the scores of the rows given to fit (on
        # this rank) that the threshold was taken from (each row's neighbours
        # leaving the row out). Not saved in model files.
        self.training_scores_ = scores

    def _set_threshold(self, scores, contamination, kind):
        """threshold_ from the training scores and the contamination."""
        q = 0.01 if contamination == "auto" else contamination
        # np.percentile's linear interpolation, as IsolationForest's offset_.
        self.threshold_ = float(np.quantile(scores.astype(np.float64), 1.0 - q))
        self.threshold_score_ = kind
        self.calibration_scores_ = None

    def _outlier_stats(self):
        self._check_fitted()
        stats = getattr(self, "outlier_stats_", None)
        if stats is None:
            others = sorted(set(self._SCORES) - set(SCORES) | {"reconstruction"})
            raise ValueError(f"this {type(self).__name__} has no outlier statistics (saved by "
                             f"an older pyae): fit it again, or use anomaly_score in {others}")
        return stats

    # ----------------------------------------------------- the sklearn API
    @lazy_rows(_dask.FEATURES_TO_ONE)
    def decision_function(self, X):
        """``threshold_ - score_samples(X)``: higher = more normal, negative
        for the rows ``predict`` calls outliers (scikit-learn's convention)."""
        self._check_fitted()
        kind = self._anomaly_score_name()
        if self.threshold_ is None:
            raise ValueError("this model has no threshold_ (from an older pyae's file): fit it "
                             "again, or calibrate(X_normal)")
        if kind != self.threshold_score_:
            raise ValueError(f"threshold_ was set for anomaly_score={self.threshold_score_!r}; "
                             f"call fit or calibrate again for {kind!r}")
        return np.float32(self.threshold_) - self._host(self.score_samples(X))

    @lazy_rows(_dask.FEATURES_TO_ONE, dtype=np.int64)
    def predict(self, X):
        """+1 for inliers, -1 for outliers (score above ``threshold_``)."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def fit_predict(self, X, y=None, **fit_params):
        """``fit(X)``, then the labels of X's rows from their training scores
        (``training_scores_``, where each row's neighbours leave the row out,
        as for the threshold): as IsolationForest's, the contamination share
        of the rows is -1. For the scores without neighbours this is
        ``predict(X)``."""
        self.fit(X, **fit_params)
        return np.where(np.float32(self.threshold_) - self.training_scores_ < 0, -1, 1)

    # -------------------------------------------------------- calibration
    def calibrate(self, X_normal, fpr=0.01):
        """Sets ``threshold_`` for a false-alarm rate of at most ``fpr`` on
        new normal data, from held-out normal rows (not the training rows,
        whose scores are optimistic): the ``ceil((n+1)(1-fpr))``-th smallest
        of their n scores, the split-conformal quantile. Keeps the scores for
        ``pvalues``. Needs n >= 1/fpr - 1 rows. Returns self."""
        self._check_fitted()
        if isinstance(fpr, bool) or not isinstance(fpr, (int, float, np.floating)) or \
                not 0.0 < float(fpr) < 1.0:
            raise ValueError(f"fpr must be a number in (0, 1), got {fpr!r}")
        # Under the model's lock: a calibration never interleaves with
        # training or another calibration (threshold and scores stay a pair).
        with self.__dict__.get("_lock_") or self._new_lock():
            scores = np.sort(self._host(self.score_samples(X_normal)).astype(np.float32))
            if not np.isfinite(scores).all():
                raise ValueError("calibration rows must have finite scores; "
                                 f"{int(np.sum(~np.isfinite(scores)))} are past float32's range")
            n = len(scores)
            # (n + 1)(1 - fpr) is often an integer that floating point puts
            # just above itself (100 * 0.55 = 55.000000000000007): not ceil'd up.
            k = math.ceil((n + 1) * (1.0 - float(fpr)) - 1e-9)
            if k > n:
                raise ValueError(f"calibrating for fpr={fpr:.3g} needs at least "
                                 f"{1.0 / fpr - 1:.6g} normal rows, got {n}")
            self.threshold_ = float(scores[k - 1])
            self.threshold_score_ = self._anomaly_score_name()
            self.calibration_scores_ = scores
        return self

    @lazy_rows(_dask.FEATURES_TO_ONE, dtype=np.float64)
    def pvalues(self, X):
        """Conformal p-values: for each row, (1 + the number of calibration
        scores at least as high) / (n + 1). Uniform on new normal data (and
        small for anomalies); needs ``calibrate`` first."""
        self._check_fitted()
        cal = getattr(self, "calibration_scores_", None)
        if cal is None:
            raise ValueError("pvalues needs calibrate(X_normal) first (held-out normal rows)")
        if self._anomaly_score_name() != self.threshold_score_:
            raise ValueError(f"the calibration scores are {self.threshold_score_!r} scores; "
                             "call calibrate again for the new anomaly_score")
        scores = self._host(self.score_samples(X)).astype(np.float32)
        at_least = len(cal) - np.searchsorted(cal, scores, side="left")
        return (1.0 + at_least) / (len(cal) + 1.0)
