"""Datasets: an IDX reader and MNIST / Fashion-MNIST loaders.

Images come back as float32 in [0, 1], flattened to (n, 784) by default
(``flatten=False`` gives (n, 28, 28)), with uint8 labels.

Files are looked for, in order, in: an explicit ``data_dir`` (either the
folder holding the files or its parent with a ``<name>/`` subfolder),
``$PYAE_DATA_DIR/<name>/``, the user cache ``~/.cache/pyae/<name>/`` and
``/usr/share/datasets/<name>/``. Raw or gzip-compressed IDX files both work.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "load_mnist", "load_fashion_mnist", "load_digits", "DatasetNotFound",
           "search_dirs"]

# IDX type codes -> NumPy dtypes (big-endian on disk).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}


class DatasetNotFound(FileNotFoundError):
    """The dataset's files are in none of the searched folders."""


def read_idx(path) -> np.ndarray:
    """Reads an IDX file (raw or .gz) with full validation."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read IDX file ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX element type 0x{type_code:02x}")
    if ndim < 1 or len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[type_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = data[4 + 4 * ndim:]
    if len(body) != expected:
        raise ValueError(
            f"{path}: IDX header promises {expected} bytes of data for shape {shape}, "
            f"file holds {len(body)} (truncated or corrupt)")
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def search_dirs(name: str, data_dir=None) -> list[Path]:
    dirs = []
    if data_dir is not None:
        dirs += [Path(data_dir), Path(data_dir) / name]
    if os.environ.get("PYAE_DATA_DIR"):
        dirs.append(Path(os.environ["PYAE_DATA_DIR"]) / name)
    dirs.append(Path.home() / ".cache" / "pyae" / name)
    dirs.append(Path("/usr/share/datasets") / name)
    return dirs


def _find(name, stem, data_dir):
    dirs = search_dirs(name, data_dir)
    for d in dirs:
        for candidate in (d / f"{stem}.gz", d / stem):
            if candidate.is_file():
                return candidate
    raise DatasetNotFound(
        f"{name}: {stem}[.gz] not found. Put the IDX files in one of: "
        + ", ".join(str(d) for d in dirs) + " (or set PYAE_DATA_DIR)")


def _load_idx_pair(name, split, data_dir, flatten):
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    prefix = _SPLIT_PREFIX[split]
    images = read_idx(_find(name, f"{prefix}-images-idx3-ubyte", data_dir))
    labels = read_idx(_find(name, f"{prefix}-labels-idx1-ubyte", data_dir))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{name} {split}: images {images.shape} and labels {labels.shape} "
                         "do not match")
    X = images.astype(np.float32) / np.float32(255.0)
    if flatten:
        X = X.reshape(len(X), -1)
    return X, labels.astype(np.uint8)


def load_mnist(split="train", data_dir=None, flatten=True):
    """MNIST digits: (X float32 in [0, 1], y uint8)."""
    return _load_idx_pair("mnist", split, data_dir, flatten)


def load_fashion_mnist(split="train", data_dir=None, flatten=True):
    """Fashion-MNIST: (X float32 in [0, 1], y uint8)."""
    return _load_idx_pair("fashion-mnist", split, data_dir, flatten)


def load_digits():
    """scikit-learn's bundled 8x8 hand-written digits (1797 images), scaled
    to [0, 1]: a real dataset that needs no download (``pip install
    pyae[demo]``)."""
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError:
        raise ImportError("load_digits needs scikit-learn: pip install 'pyae[demo]'") from None
    d = sk_digits()
    return (d.data / 16.0).astype(np.float32), d.target.astype(np.uint8)
