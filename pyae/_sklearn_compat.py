"""scikit-learn integration, with scikit-learn an optional dependency.

When scikit-learn is importable, pyae's models subclass its
``TransformerMixin`` and ``BaseEstimator`` (``get_params``, ``clone``,
``repr``, estimator tags, ``fit_transform`` and metadata routing come from
there), and ``pyae.NotFittedError`` is also a
``sklearn.exceptions.NotFittedError``. Without it, a small fallback base
provides ``get_params``, ``repr`` and ``fit_transform`` itself.
``set_params`` is pyae's own either way (it rejects unknown names with the
same message).
"""

from __future__ import annotations

import inspect

__all__ = ["HAVE_SKLEARN", "EstimatorBase", "NotFittedBase"]

try:
    from sklearn.base import BaseEstimator as _BaseEstimator
    from sklearn.base import TransformerMixin as _TransformerMixin
    from sklearn.exceptions import NotFittedError as NotFittedBase
except ImportError:
    HAVE_SKLEARN = False

    class NotFittedBase(ValueError, AttributeError):
        """The bases of scikit-learn's NotFittedError, for the same behaviour
        of ``except`` clauses with or without scikit-learn."""

    class _Base:
        """get_params / repr / fit_transform as scikit-learn's BaseEstimator
        and TransformerMixin provide them."""

        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return [p for p in sig.parameters if p != "self"]

        def get_params(self, deep=True):
            return {name: getattr(self, name) for name in self._get_param_names()}

        def __repr__(self):
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({args})"

        def fit_transform(self, X, y=None, **fit_params):
            return self.fit(X, y, **fit_params).transform(X)
else:
    HAVE_SKLEARN = True

    class _Base(_TransformerMixin, _BaseEstimator):
        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            # Outputs are float32 whatever the input's dtype: float32 is kept,
            # float64 is not.
            tags.transformer_tags.preserves_dtype = ["float32"]
            return tags


class EstimatorBase(_Base):
    """The base of pyae's models."""

    def set_params(self, **params):
        """Sets constructor parameters by name (no nested ``a__b`` names: no
        parameter of a pyae model is an estimator); returns self."""
        valid = set(self._get_param_names())
        for name in params:
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}")
        for name, value in params.items():
            setattr(self, name, value)
        return self
