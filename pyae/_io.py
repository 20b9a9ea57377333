"""Model files: one .safetensors file with the weights, the optimiser state
and a JSON config in its header. Never a pickle.

Saving writes a temporary file in the same folder and renames it over the
target, so a failed save leaves any previous file untouched.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

FORMAT_NAME = "pyae"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file is missing, truncated, corrupt, foreign or incompatible."""


def write_model_file(path, tensors: dict, metadata: dict) -> None:
    from safetensors.numpy import save

    header = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION)}
    header.update({k: json.dumps(v) for k, v in metadata.items()})
    blob = save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=header)
    atomic_write_bytes(path, blob)


def atomic_write_bytes(path, blob: bytes) -> None:
    """Writes a temporary file next to path, then renames it over path: a
    failure at any point leaves the previous file as it was."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".pyae-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_model_file(path) -> tuple[dict, dict]:
    """Returns (tensors, metadata) after checking the container and version."""
    from safetensors import SafetensorError, safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"no model file at {path!r}")
    try:
        with safe_open(path, framework="numpy") as f:
            raw_meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{path!r} is not a readable safetensors file ({e})") from None
    if raw_meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path!r} is a safetensors file but not a pyae model")
    try:
        version = int(raw_meta.get("format_version", ""))
    except ValueError:
        raise ModelFileError(f"{path!r} has an unreadable format version") from None
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path!r} has model format version {version}; this pyae reads version "
            f"{FORMAT_VERSION}"
        )
    meta = {}
    for k, v in raw_meta.items():
        if k in ("format", "format_version"):
            continue
        try:
            meta[k] = json.loads(v)
        except json.JSONDecodeError:
            raise ModelFileError(f"{path!r} has corrupt metadata field {k!r}") from None
    return tensors, meta


def expect_tensor(tensors: dict, name: str, shape, path) -> np.ndarray:
    if name not in tensors:
        raise ModelFileError(f"{path!r} lacks tensor {name!r}")
    t = tensors[name]
    if t.dtype != np.float32 or t.shape != tuple(shape):
        raise ModelFileError(
            f"{path!r}: tensor {name!r} is {t.dtype}{t.shape}, expected float32{tuple(shape)}"
        )
    if not np.isfinite(t).all():
        raise ModelFileError(f"{path!r}: tensor {name!r} contains NaN or Inf")
    return t
