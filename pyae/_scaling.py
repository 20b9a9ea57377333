"""``scale=``: per-feature scaling learnt in ``fit`` and kept with the model
(and its file, ONNX export and C library), so tabular data needs no separate
scaler. The network sees ``(x - offset) * factor``; what comes back in
feature space (``reconstruct``, ``inverse_transform``, ``sample``) is mapped
back with ``y / factor + offset``.

- "standard": offset = the training mean, factor = 1 / its standard deviation
  (use an unbounded output, e.g. ``output_activation="identity"``, and MSE);
- "minmax": offset = the training minimum, factor = 1 / (max - min): the
  training data in [0, 1], for sigmoid outputs and BCE.
A feature that does not vary gets factor 1 (it is only centred / shifted).
"""

from __future__ import annotations

import numpy as np

from ._distributed import LOCAL

SCALES = ("standard", "minmax")


def scale_check(value, name):
    if value is None or (isinstance(value, str) and value in SCALES):
        return value
    raise ValueError(f"{name} must be None, 'standard' or 'minmax', got {value!r}")


def learn(X, kind, coll=LOCAL):
    """(offset, factor), float32 (n_features,), from host rows X (n, D) (with
    ``coll``, from every rank's rows: the same result on every rank)."""
    X = np.asarray(X, dtype=np.float64)
    if kind == "standard":  # X.mean and X.std, as sums that can span ranks
        n = coll.n_rows(len(X))
        offset = coll.sum(X.sum(axis=0)) / n
        spread = np.sqrt(coll.sum(((X - offset) ** 2).sum(axis=0)) / n)
    else:
        offset = coll.minimum(X.min(axis=0))
        spread = coll.maximum(X.max(axis=0)) - offset
    # A spread too small for its reciprocal to be a float32 (subnormal) is
    # treated as no spread: the feature is only shifted.
    varies = spread > 1e-30
    factor = np.where(varies, 1.0 / np.where(varies, spread, 1.0), 1.0)
    return offset.astype(np.float32), factor.astype(np.float32)


def on_device_of(Xd, arrays):
    """``arrays`` (NumPy) where ``Xd`` lives: as they are for NumPy, copied
    to the GPU for a GPU array."""
    if isinstance(Xd, np.ndarray):
        return arrays
    from . import _device

    ops = _device.cuda_ops()
    return [ops.to_device(a) for a in arrays]


def scale_in(Xd, scaler):
    """A new float32 array ``(Xd - offset) * factor`` (Xd: (n, D))."""
    offset, factor = on_device_of(Xd, scaler)
    return (Xd - offset) * factor


def scale_out(Yd, scaler):
    """``Yd / factor + offset``, in place (Yd: (n, D) float32, writeable)."""
    offset, factor = on_device_of(Yd, scaler)
    Yd /= factor
    Yd += offset
    return Yd
