"""Noise models for denoising autoencoders.

Each noise is a small, validated value object. Calling it corrupts a copy
of the data with pyae's counter-based generator (Philox4x32-10): the noise
of element i depends only on (seed, stream, i), so the same seed gives the
same bits for any thread count, and corrupting a matrix in row blocks (with
``row_offset``) gives the same bits as corrupting it whole.

>>> Xn = pyae.noise.Gaussian(std=0.5)(X_clean, seed=1)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _core
from ._enums import NOISE_KINDS as _KINDS
from ._validation import as_float32_matrix

__all__ = ["Gaussian", "SaltAndPepper", "Masking", "from_config"]



def _real(value, name, low=-math.inf, high=math.inf, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if value < low or value > high or (low_open and value == low) or (high_open and value == high):
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"{name} must be in {lo}{low}, {high}{hi}, got {value!r}")
    return value


def _seed(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not \
            0 <= value < 2**64:
        raise ValueError(f"{name} must be an integer in [0, 2**64), got {value!r}")
    return int(value)


class _Noise:
    name = ""

    def _kernel_args(self):
        raise NotImplementedError

    def __call__(self, X, seed=0, *, stream=0, row_offset=0):
        """A corrupted float32 copy of X (n_samples, n_features)."""
        X = as_float32_matrix(X)
        seed, stream = _seed(seed, "seed"), _seed(stream, "stream")
        row_offset = _seed(row_offset, "row_offset")
        first = row_offset * X.shape[1]  # the global index of X's first element
        if first + X.size > 2**64:
            raise ValueError(f"row_offset {row_offset} puts X's elements past index 2**64 "
                             f"(row_offset * n_features + X.size must be <= 2**64)")
        out = np.empty_like(X)
        _core.corrupt(out, X, *self._kernel_args(), seed, stream, first)
        return out

    def get_config(self) -> dict:
        return {"type": self.name, **self.__dict__}

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self):
        return hash((self.name, tuple(sorted(self.__dict__.items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({args})"


class Gaussian(_Noise):
    """Additive Gaussian noise: x + std * N(0, 1), clipped.

    Parameters
    ----------
    std : float > 0
        Standard deviation of the noise.
    clip : (float, float) or None, default=(0.0, 1.0)
        The (low, high) range the result is clipped to; None: no clipping.
    """

    name = "gaussian"

    def __init__(self, std, clip=(0.0, 1.0)):
        self.std = _real(std, "std", 0.0, low_open=True)
        if clip is not None:
            try:
                lo, hi = clip
            except (TypeError, ValueError):
                raise ValueError(f"clip must be None or a (low, high) pair, got {clip!r}")
            lo, hi = _real(lo, "clip low"), _real(hi, "clip high")
            if not lo < hi:
                raise ValueError(f"clip must have low < high, got {clip!r}")
            clip = (lo, hi)
        self.clip = clip

    def _kernel_args(self):
        lo, hi = self.clip if self.clip is not None else (-math.inf, math.inf)
        return _KINDS["gaussian"], self.std, 0.0, lo, hi


class SaltAndPepper(_Noise):
    """Salt-and-pepper noise: a random fraction of the elements set to the
    high (salt) or low (pepper) value.

    Parameters
    ----------
    amount : float in [0, 1]
        Fraction of elements replaced.
    salt_ratio : float in [0, 1], default=0.5
        Probability that a replaced element is salt.
    low, high : float, default=0.0, 1.0
        The pepper and salt values (low < high).
    """

    name = "salt_and_pepper"

    def __init__(self, amount, salt_ratio=0.5, low=0.0, high=1.0):
        self.amount = _real(amount, "amount", 0.0, 1.0)
        self.salt_ratio = _real(salt_ratio, "salt_ratio", 0.0, 1.0)
        self.low = _real(low, "low")
        self.high = _real(high, "high")
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got {low!r} and {high!r}")

    def _kernel_args(self):
        return _KINDS["salt_and_pepper"], self.amount, self.salt_ratio, self.low, self.high


class Masking(_Noise):
    """Masking noise: a random fraction of the elements set to zero.

    Parameters
    ----------
    fraction : float in [0, 1]
        Fraction of elements zeroed.
    """

    name = "masking"

    def __init__(self, fraction):
        self.fraction = _real(fraction, "fraction", 0.0, 1.0)

    def _kernel_args(self):
        return _KINDS["masking"], self.fraction, 0.0, 0.0, 0.0


_CLASSES = {cls.name: cls for cls in (Gaussian, SaltAndPepper, Masking)}


def from_config(config: dict) -> _Noise:
    """Rebuilds a noise from ``get_config()`` (as stored in model files)."""
    if not isinstance(config, dict) or config.get("type") not in _CLASSES:
        raise ValueError(f"not a noise config: {config!r}")
    args = {k: v for k, v in config.items() if k != "type"}
    if "clip" in args and args["clip"] is not None:
        args["clip"] = tuple(args["clip"])
    return _CLASSES[config["type"]](**args)


def check_noise(noise) -> _Noise:
    if not isinstance(noise, _Noise):
        raise ValueError(
            "noise must be pyae.noise.Gaussian, SaltAndPepper or Masking, got "
            f"{type(noise).__name__}")
    return noise
