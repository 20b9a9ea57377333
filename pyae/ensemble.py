"""AnomalyEnsemble: several pyae models fitted on the same rows, one
anomaly detector. Its score is the sum of the members' "combined" scores,
each a sum of score parts centred and scaled by their training median and
spread, so no member dominates by scale. On the training splits of the one-class protocol
(benchmarks/choose_anomaly_ensemble.py) the default AE + DAE + VAE has the
best worse data set of the sums tried (README, "Anomaly detection").

The detector has the same API as the models: contamination, threshold_,
score_samples, decision_function, predict, fit_predict, calibrate, pvalues,
save and pyae.load (one .safetensors file, the members' tensors under
"member<i>." names; read by Python, not the C library).
"""

from __future__ import annotations

import warnings

import numpy as np

from . import _dask, noise
from ._dask import lazy_rows
from ._io import ModelFileError, write_model_file
from ._model_file import (MODEL_CLASSES, _finite_number, file_payload, model_from_file,
                          read_calibration_scores)
from ._outliers import OutlierDetection, contamination_check
from ._sklearn_compat import EstimatorBase

_SCORE = "ensemble"


def default_members():
    """AE, DAE and VAE with the widths of the one-class benchmark."""
    from .autoencoder import Autoencoder
    from .denoising import DenoisingAutoencoder
    from .vae import VAE

    return (Autoencoder(hidden=(256, 64)),
            DenoisingAutoencoder(hidden=(256, 64), noise=noise.Gaussian(0.2)),
            VAE(hidden=(400,), latent_dim=20))


class AnomalyEnsemble(OutlierDetection, EstimatorBase):
    """An anomaly detector of several pyae models.

    Parameters
    ----------
    members : sequence of pyae models, default=None
        Unfitted templates: ``fit`` fits a copy of each (same parameters,
        ``anomaly_score="combined"``) on the same rows. None: an
        ``Autoencoder(hidden=(256, 64))``, a ``DenoisingAutoencoder`` of the
        same widths with ``Gaussian(0.2)`` noise and a ``VAE(hidden=(400,),
        latent_dim=20)``.
    contamination : "auto" or float in (0, 0.5], default="auto"
        As the models': ``threshold_`` is the training scores' (1 -
        contamination) quantile ("auto": 0.01).

    Attributes
    ----------
    members_ : list
        The fitted copies of the members.
    threshold_ : float
        Scores above it are outliers (``predict`` gives -1).
    training_scores_ : ndarray of shape (n_samples,)
        The ensemble scores of the training rows (not saved in files).
    n_features_in_ : int
        Features per row.
    """

    _SCORES = {_SCORE: "the sum of the members' combined scores"}

    def __init__(self, members=None, contamination="auto"):
        self.members = members
        self.contamination = contamination

    # --------------------------------------------------------------- fitting
    def _templates(self):
        if self.members is None:
            return default_members()
        from ._estimator import BaseAutoencoder

        members = tuple(self.members) if isinstance(self.members, (list, tuple)) else ()
        if not members or not all(isinstance(m, BaseAutoencoder) for m in members):
            raise TypeError("members must be a non-empty list or tuple of pyae models "
                            f"(Autoencoder, DenoisingAutoencoder, VAE), got {self.members!r}")
        return members

    def fit(self, X, y=None):
        """Fits a copy of every member on X; returns self."""
        with self._lock():
            contamination = contamination_check(self.contamination, "contamination")
            fitted = []
            for template in self._templates():
                member = type(template)(**template.get_params())
                member.set_params(anomaly_score="combined")
                fitted.append(member.fit(X))
            scores = np.sum([m.training_scores_.astype(np.float64) for m in fitted],
                            axis=0).astype(np.float32)
            threshold = float(np.quantile(scores.astype(np.float64),
                                          1.0 - (0.01 if contamination == "auto" else
                                                 contamination)))
            # All at once: a reader on another thread sees the old state or the new.
            self.__dict__.update(members_=fitted, n_features_in_=fitted[0].n_features_in_,
                                 training_scores_=scores, threshold_=threshold,
                                 threshold_score_=_SCORE, calibration_scores_=None)
        return self

    # --------------------------------------------------------------- scoring
    @lazy_rows(_dask.FEATURES_TO_ONE)
    def score_samples(self, X, out=None):
        """The sum of the members' combined scores, higher = more anomalous."""
        self._check_fitted()
        total = np.sum([np.asarray(m.score_samples(X), dtype=np.float64) for m in self.members_],
                       axis=0)
        scores = total.astype(np.float32)
        if out is None:
            return scores
        from ._backends import output_array

        output_array(out, scores.shape)[...] = scores
        return out

    def to(self, device):
        """Moves every member to "cpu" or "cuda"; returns self."""
        self._check_fitted()
        for member in self.members_:
            member.to(device)
        return self

    @property
    def anomaly_score(self):
        """Always "ensemble" (read-only): the one score of an ensemble."""
        return _SCORE

    def _anomaly_score_name(self):
        return _SCORE

    def _host(self, a):
        return np.asarray(a)

    def _check_fitted(self):
        if not hasattr(self, "members_"):
            from ._estimator import NotFittedError

            raise NotFittedError("this AnomalyEnsemble is not fitted yet; call fit first")

    def __sklearn_is_fitted__(self):
        return hasattr(self, "members_")

    def _lock(self):
        return self.__dict__.get("_lock_") or self._new_lock()

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_lock_"}

    # ------------------------------------------------------------ the file
    def save(self, path):
        """One .safetensors file: every member's tensors (under "member<i>."),
        their metadata, the threshold and any calibration scores. Atomic: a
        failed save leaves the previous file as it was."""
        self._check_fitted()
        with self._lock():
            tensors, members = {}, []
            for i, member in enumerate(self.members_):
                member_tensors, meta = file_payload(member)
                members.append(meta)
                tensors.update({f"member{i}.{k}": v for k, v in member_tensors.items()})
            from . import __version__

            contamination = contamination_check(self.contamination, "contamination")
            meta = {"model": "AnomalyEnsemble", "config": {"contamination": contamination},
                    "members": members, "pyae_version": __version__,
                    "outlier": {"threshold": self.threshold_, "score": _SCORE}}
            if self.calibration_scores_ is not None:
                tensors["outlier.calibration_scores"] = self.calibration_scores_
            write_model_file(path, tensors, meta)

    @classmethod
    def _from_reader(cls, reader):
        meta, path = reader.metadata, reader.name
        members, config = meta.get("members"), meta.get("config")
        info = meta.get("outlier")
        if not isinstance(members, list) or not members or not isinstance(config, dict) or \
                set(config) != {"contamination"} or not isinstance(info, dict) or \
                info.get("score") != _SCORE:
            raise ModelFileError(f"{path!r}: not a complete AnomalyEnsemble file")
        names = {n.split(".", 1)[0] for n in reader.names() if n.startswith("member")}
        if names != {f"member{i}" for i in range(len(members))} or \
                reader.names() - {n for n in reader.names() if n.startswith("member")} - \
                {"outlier.calibration_scores"}:
            raise ModelFileError(f"{path!r}: its tensors do not match its members")
        fitted = []
        for i, member_meta in enumerate(members):
            kind = member_meta.get("model") if isinstance(member_meta, dict) else None
            if kind not in MODEL_CLASSES or kind == "AnomalyEnsemble":
                raise ModelFileError(f"{path!r}: member {i} is of unknown type {kind!r}")
            view = _MemberView(reader, i, member_meta)
            with warnings.catch_warnings():  # an older file's: refused just below
                warnings.simplefilter("ignore")
                fitted.append(model_from_file(MODEL_CLASSES[kind], view))
        if any("combined_moments" not in (m.outlier_stats_ or {}) for m in fitted):
            raise ModelFileError(f"{path!r} was written by an older pyae, whose members' "
                                 "'combined' score differs from this one's: fit the ensemble "
                                 "again")
        if any(m.anomaly_score != "combined" or m.threshold_score_ != "combined"
               for m in fitted):
            raise ModelFileError(f"{path!r}: every member must score with 'combined'")
        threshold = info.get("threshold")
        if set(info) != {"threshold", "score"} or not _finite_number(threshold):
            raise ModelFileError(f"{path!r}: its threshold is not a finite number")
        try:
            contamination = contamination_check(config["contamination"], "contamination")
        except ValueError as e:
            raise ModelFileError(f"{path!r}: {e}") from None
        model = cls(members=tuple(type(m)(**m.get_params()) for m in fitted),
                    contamination=contamination)
        model.members_ = fitted
        model.n_features_in_ = fitted[0].n_features_in_
        if any(m.n_features_in_ != model.n_features_in_ for m in fitted):
            raise ModelFileError(f"{path!r}: its members take different feature counts")
        model.threshold_, model.threshold_score_ = float(threshold), _SCORE
        model.calibration_scores_ = read_calibration_scores(reader, path)
        return model


class _MemberView:
    """One member's part of an ensemble file, as model_from_file reads a file."""

    def __init__(self, reader, index, metadata):
        self._reader, self._prefix = reader, f"member{index}."
        self.metadata = {**metadata, "format_version": reader.metadata["format_version"]}
        self.name = f"{reader.name} (member {index})"

    def names(self):
        p = self._prefix
        return {n[len(p):] for n in self._reader.names() if n.startswith(p)}

    def shape(self, name):
        return self._reader.shape(self._prefix + name)

    def expect(self, name, shape):
        self._reader.expect(self._prefix + name, shape)

    def read_into(self, name, out):
        self._reader.read_into(self._prefix + name, out)


MODEL_CLASSES["AnomalyEnsemble"] = AnomalyEnsemble
