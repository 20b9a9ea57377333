"""Datasets: an IDX reader and MNIST / Fashion-MNIST loaders.

Images come back as float32 in [0, 1], flattened to (n, 784) by default
(``flatten=False`` gives (n, 28, 28)), with uint8 labels.

Files are looked for, in order, in: an explicit ``data_dir`` (either the
folder holding the files or its parent with a ``<name>/`` subfolder),
``$PYAE_DATA_DIR/<name>/``, the user cache ``~/.cache/pyae/<name>/`` and
``/usr/share/datasets/<name>/`` (where Debian's dataset-fashion-mnist
installs). Raw or gzip-compressed IDX files both work. When none has them
and ``download=True``, the official files are downloaded into the cache and
their SHA-256 checked before use; offline, a DatasetNotFound error says
where to put them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "load_mnist", "load_fashion_mnist", "load_digits", "load_train_test",
           "DatasetNotFound", "search_dirs", "cache_dir"]

# IDX type codes -> NumPy dtypes (big-endian on disk).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}

MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}
# SHA-256 of the official gzip files.
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
        "train-labels-idx1-ubyte.gz": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
        "t10k-images-idx3-ubyte.gz": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
        "t10k-labels-idx1-ubyte.gz": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
    },
}


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


def cache_dir(name: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pyae" / name


def search_dirs(name: str, data_dir=None) -> list[Path]:
    dirs = []
    if data_dir is not None:
        dirs += [Path(data_dir), Path(data_dir) / name]
    if os.environ.get("PYAE_DATA_DIR"):
        dirs.append(Path(os.environ["PYAE_DATA_DIR"]) / name)
    dirs.append(cache_dir(name))
    dirs.append(Path("/usr/share/datasets") / name)
    return dirs


def _download(name, filename) -> tuple[Path | None, list[str]]:
    """Fetches an official file into the cache, checking its SHA-256.
    Returns (path or None, reasons each mirror failed)."""
    expected = SHA256[name][filename]
    target = cache_dir(name) / filename
    failures = []
    for mirror in MIRRORS[name]:
        url = mirror + filename
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".download-")
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=30) as r:
                while chunk := r.read(1 << 20):
                    digest.update(chunk)
                    f.write(chunk)
            if digest.hexdigest() != expected:
                os.unlink(tmp)
                failures.append(f"{url}: SHA-256 mismatch (corrupt or changed file)")
                continue
            os.replace(tmp, target)
            return target, failures
        except (urllib.error.URLError, OSError, ValueError) as e:
            failures.append(f"{url}: {getattr(e, 'reason', e)}")
            try:
                os.unlink(tmp)
            except (OSError, UnboundLocalError):
                pass
    return None, failures


def _find(name, stem, data_dir, download):
    dirs = search_dirs(name, data_dir)
    for d in dirs:
        for candidate in (d / f"{stem}.gz", d / stem):
            if candidate.is_file():
                return candidate
    failures = []
    if download:
        path, failures = _download(name, f"{stem}.gz")
        if path is not None:
            return path
    raise DatasetNotFound(
        f"{name}: {stem}[.gz] not found. Put the IDX files in one of: "
        + ", ".join(str(d) for d in dirs) + " (or set PYAE_DATA_DIR)"
        + (f"; download failed: {'; '.join(failures)}" if failures else ""))


def _load_idx_pair(name, split, data_dir, flatten, download):
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    prefix = _SPLIT_PREFIX[split]
    images = read_idx(_find(name, f"{prefix}-images-idx3-ubyte", data_dir, download))
    labels = read_idx(_find(name, f"{prefix}-labels-idx1-ubyte", data_dir, download))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{name} {split}: images {images.shape} and labels {labels.shape} "
                         "do not match")
    X = images.astype(np.float32) / np.float32(255.0)
    if flatten:
        X = X.reshape(len(X), -1)
    return X, labels.astype(np.uint8)


def load_mnist(split="train", data_dir=None, flatten=True, download=True):
    """MNIST digits: (X float32 in [0, 1], y uint8)."""
    return _load_idx_pair("mnist", split, data_dir, flatten, download)


def load_fashion_mnist(split="train", data_dir=None, flatten=True, download=True):
    """Fashion-MNIST: (X float32 in [0, 1], y uint8)."""
    return _load_idx_pair("fashion-mnist", split, data_dir, flatten, download)


_LOADERS = {"mnist": load_mnist, "fashion-mnist": load_fashion_mnist}


def load_train_test(name="mnist", data_dir=None, download=True, seed=0):
    """(X_train, y_train, X_test, y_test, description) for training models.

    Uses the official train/test splits when both are available. With only
    the 10,000-image test split (as in a test-only copy of MNIST), the test
    split is shuffled with ``seed`` and divided 8,000 train / 2,000 held out.
    """
    if name not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; choose from {sorted(_LOADERS)}")
    load = _LOADERS[name]
    X_test, y_test = load("test", data_dir, download=download)
    try:
        X_train, y_train = load("train", data_dir, download=download)
        return X_train, y_train, X_test, y_test, f"{name} train (60k) / test (10k)"
    except DatasetNotFound:
        order = np.random.default_rng(seed).permutation(len(X_test))
        tr, te = order[:8000], order[8000:]
        return (X_test[tr], y_test[tr], X_test[te], y_test[te],
                f"{name} test split only: 8000 train / 2000 held out (seed {seed})")


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


def load_digits_train_test(seed=0, download=True):
    """Hand-written digits for the demo and the examples:
    ``(X_train, y_train, X_test, y_test, description)``. MNIST where
    ``load_train_test`` finds it (or can download it), else scikit-learn's
    bundled 8x8 digits split 80/20 by ``seed``."""
    try:
        return load_train_test("mnist", download=download, seed=seed)
    except DatasetNotFound:
        pass
    X, y = load_digits()
    order = np.random.default_rng(seed).permutation(len(X))
    cut = int(0.8 * len(X))
    tr, te = order[:cut], order[cut:]
    return (X[tr], y[tr], X[te], y[te],
            f"scikit-learn's 8x8 digits (MNIST not found), {cut} train / {len(te)} held out "
            f"(seed {seed})")
