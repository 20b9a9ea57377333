"""Input checks at the API boundary.

Data is converted to float32 C-contiguous once here, never in the hot path;
anything that cannot be made valid raises a clear exception before any
state changes.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _core


def as_float32_matrix(X, name: str = "X", n_features: int | None = None) -> np.ndarray:
    """Return X as a C-contiguous float32 (n_samples, n_features) array."""
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
    arr = np.asarray(X)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
        or arr.dtype == np.bool_
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got {arr.ndim}-D shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has 0 features")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features, but the model expects {n_features}"
        )
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not _core.all_finite(arr):
        _raise_not_finite(arr, name)
    return arr


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


def positive_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def choice(value, name: str, options) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")
    return value
