"""Input checks at the API boundary.

Data is converted to float32 C-contiguous once here, never in the hot path;
anything that cannot be made valid raises a clear exception before any
state changes.
"""

from __future__ import annotations

import numbers
import sys

import numpy as np

from . import _core


class NotRealError(TypeError, ValueError):
    """Complex input: a TypeError like any input that is not real numbers,
    and the ValueError scikit-learn's conventions expect for complex data."""


def as_float32_matrix(X, name: str = "X", n_features: int | None = None,
                      owner: str | None = None) -> np.ndarray:
    """Return X as a C-contiguous float32 (n_samples, n_features) array.
    ``owner`` names the model in the feature-count error."""
    if (type(X) is np.ndarray and X.dtype == np.float32 and X.ndim == 2
            and X.flags.c_contiguous and X.shape[0] > 0 and X.shape[1] > 0
            and (n_features is None or X.shape[1] == n_features)):
        # Fast path for data already in the kernels' layout (low-latency calls).
        if not _core.all_finite(X):
            _raise_not_finite(X, name)
        return X
    if hasattr(X, "__cuda_array_interface__"):
        raise TypeError(f"{name} is a GPU array but this model runs on the CPU: move the model "
                        "with .to('cuda') or pass a NumPy array")
    if _is_sparse(X):
        raise TypeError(f"{name} is a sparse matrix; pyae needs dense data (X.toarray())")
    arr = np.asarray(X)
    if arr.dtype == object:
        arr = _numbers_from_objects(arr, name)
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise NotRealError(f"{name} must hold real numbers, got dtype {arr.dtype} "
                           "(Complex data not supported)")
    if not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
        or arr.dtype == np.bool_
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(not_2d_message(name, arr.shape))
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if arr.shape[1] == 0:
        raise ValueError(zero_features_message(name, arr.shape))
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(feature_count_message(name, arr.shape[1], n_features, owner))
    with np.errstate(over="ignore"):  # a finite value past float32's range: said below
        converted = np.ascontiguousarray(arr, dtype=np.float32)
    if not _core.all_finite(converted):
        if arr.dtype.kind == "f" and np.isfinite(arr).all():
            raise ValueError(
                f"{name} has values up to {float(np.abs(arr).max()):.3g}, past float32's range "
                f"(+-{float(np.finfo(np.float32).max):.3g}) that pyae computes in: rescale it")
        _raise_not_finite(converted, name)
    return converted


def not_2d_message(name, shape):
    msg = f"{name} must be 2-D (n_samples, n_features), got {len(shape)}-D shape {tuple(shape)}"
    if len(shape) == 1:
        msg += (". Reshape your data: .reshape(1, -1) if it is one sample, .reshape(-1, 1) "
                "if it has one feature")
    return msg


def zero_features_message(name, shape):
    return f"{name} has 0 feature(s) (shape={tuple(shape)}) while a minimum of 1 is required."


def feature_count_message(name, got, expected, owner=None):
    return (f"{name} has {got} features, but {owner or 'the model'} is expecting {expected} "
            "features as input")


def _is_sparse(X) -> bool:
    sparse = sys.modules.get("scipy.sparse")  # not imported: X cannot be a SciPy sparse object
    return sparse is not None and sparse.issparse(X)


def _numbers_from_objects(arr, name):
    """An object array of real numbers (e.g. from a pandas frame of mixed
    columns) as float64, as scikit-learn converts it; else a TypeError."""
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must hold real numbers: {e}") from None


def _raise_not_finite(arr, name):
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")


def check_kernel_array(a, name: str, ndim: int | None = None) -> np.ndarray:
    """Strict check for pyae.ops: float32, C-contiguous, no silent copies."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != np.float32:
        raise TypeError(f"{name} must be float32, got {a.dtype} (convert once with .astype)")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use numpy.ascontiguousarray)")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    return a


def positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# Layer widths are C ints, and a VAE's latent head is 2 * latent_dim wide.
MAX_LAYER_WIDTH = 2**30 - 1


def layer_width(value, name: str) -> int:
    width = positive_int(value, name)
    if width > MAX_LAYER_WIDTH:
        raise ValueError(f"{name} must be at most {MAX_LAYER_WIDTH}, got {value!r}")
    return width


def positive_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def positive_float32(value, name: str) -> float:
    """A positive number that stays positive in float32 (Adam divides by eps)."""
    value = positive_float(value, name)
    if not np.float32(value) > 0:
        raise ValueError(f"{name} must be a positive float32 (at least 1.4e-45), got {value!r}")
    return value


def choice(value, name: str, options) -> str:
    try:
        known = value in options
    except TypeError:  # unhashable (a list, a dict): not one of them either
        known = False
    if not known:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")
    return value
