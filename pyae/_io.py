"""Model files: one .safetensors file with the weights, the optimiser state
and a JSON config in its header. Never a pickle.

Saving writes a temporary file in the same folder and renames it over the
target, so a failed save leaves any previous file untouched.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import struct
import tempfile
import threading
import zlib

import numpy as np

FORMAT_NAME = "pyae"
# 2: the metadata holds the layer table ("layers"), a CRC-32 of every
# tensor's bytes ("checksums") and one of the metadata itself
# ("metadata_checksum"); 1 (still read) had only the hyperparameters.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


class ModelFileError(ValueError):
    """A model file is missing, truncated, corrupt, foreign or incompatible."""


def encode_model(tensors: dict, metadata: dict) -> bytes:
    """The bytes of a model file: safetensors with JSON-encoded metadata."""
    from safetensors.numpy import save

    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    header = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION)}
    header.update({k: json.dumps(v) for k, v in metadata.items()})
    header["checksums"] = json.dumps({k: zlib.crc32(v.data) for k, v in tensors.items()})
    header["metadata_checksum"] = str(metadata_crc(header))
    return save(tensors, metadata=header)


def metadata_crc(header: dict) -> int:
    """CRC-32 of the metadata strings in key order, each key and value ended
    by a NUL (the C library computes the same): a changed byte in the config
    or the training state is an error, never another model."""
    return zlib.crc32(b"".join(k.encode() + b"\0" + v.encode() + b"\0"
                               for k, v in sorted(header.items()) if k != "metadata_checksum"))


def write_model_file(path, tensors: dict, metadata: dict) -> None:
    atomic_write_bytes(path, encode_model(tensors, metadata))


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    with _UMASK_LOCK:  # reading the umask means setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write_bytes(path, blob: bytes) -> None:
    """Writes a temporary file next to the target, then renames it over the
    target: a failure at any point leaves the previous file as it was.

    A symlink is followed (the link stays; its target is replaced in the
    target's folder); anything but a regular file or a new path is refused
    before writing; a new file gets the mode the umask gives, an existing
    one keeps its mode; errors name ``path``, not the temporary file."""
    path = os.fspath(path)
    target = os.path.realpath(path)
    try:
        existing = os.stat(target)
    except FileNotFoundError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        raise OSError(errno.EINVAL, f"cannot save to {path!r}: not a regular file")
    mode = stat.S_IMODE(existing.st_mode) if existing else 0o666 & ~_umask()
    folder = os.path.dirname(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".pyae-", suffix=".tmp", dir=folder)
    except OSError as e:
        raise OSError(e.errno, f"cannot save to {path!r}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        _fsync_folder(folder)  # the rename itself survives a crash
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise OSError(e.errno, f"cannot save to {path!r}: {e.strerror or e}") from None
        raise


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some filesystems do not open folders; the data is synced already
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_model_file(path) -> tuple[dict, dict]:
    """Returns (tensors, metadata) after checking the container and version."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"no model file at {path!r}")
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise ModelFileError(f"cannot read {path!r} ({e})") from None
    return decode_model(blob, path)


def decode_model(blob: bytes, source) -> tuple[dict, dict]:
    """(tensors, metadata) of model-file bytes; `source` names them in errors."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        tensors = load(blob)
        (n,) = struct.unpack("<Q", blob[:8])
        raw_meta = json.loads(blob[8:8 + n]).get("__metadata__") or {}
    except (SafetensorError, ValueError, struct.error, AttributeError, RecursionError) as e:
        raise ModelFileError(f"{source!r} is not a readable safetensors file ({e})") from None
    if not isinstance(raw_meta, dict) or raw_meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{source!r} is a safetensors file but not a pyae model")
    version = raw_meta.get("format_version", "")
    # Exactly as pyae writes it (and the C library reads it): int() would
    # also take " 2", "02" or the digits of other scripts.
    if not isinstance(version, str) or not re.fullmatch(r"[1-9][0-9]*", version):
        raise ModelFileError(f"{source!r} has an unreadable format version")
    version = int(version)
    if version not in READABLE_VERSIONS:
        raise ModelFileError(
            f"{source!r} has model format version {version}; this pyae reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    if version >= 2:
        saved = raw_meta.get("metadata_checksum")
        if not isinstance(saved, str) or not re.fullmatch(r"[0-9]{1,10}", saved) or \
                any(not isinstance(v, str) for v in raw_meta.values()) or \
                int(saved) != metadata_crc(raw_meta):
            raise ModelFileError(f"{source!r}: its metadata does not match its checksum "
                                 "(the file is corrupt)")
    meta = {"format_version": version}
    for k, v in raw_meta.items():
        if k in ("format", "format_version", "metadata_checksum"):
            continue
        try:
            meta[k] = json.loads(v)
        except (json.JSONDecodeError, TypeError, RecursionError):
            raise ModelFileError(f"{source!r} has corrupt metadata field {k!r}") from None
    if version >= 2:
        _verify_checksums(tensors, meta.pop("checksums", None), source)
    return tensors, meta


def _verify_checksums(tensors, checksums, source):
    """Every tensor's bytes against the CRC-32 saved with it: a flipped byte
    in the data is an error, never a model with other weights."""
    if not isinstance(checksums, dict) or set(checksums) != set(tensors):
        raise ModelFileError(f"{source!r} lacks the checksums of its tensors")
    for name, tensor in tensors.items():
        if checksums[name] != zlib.crc32(np.ascontiguousarray(tensor).data):
            raise ModelFileError(f"{source!r}: tensor {name!r} does not match its checksum "
                                 "(the file is corrupt)")


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


def table_to_json(table) -> list:
    """A layer table as the model file stores it (format 2)."""
    return [{"d_in": row.d_in, "d_out": row.d_out, "activation": row.activation.name,
             "role": row.role.name, "tied_to": row.tied_to} for row in table.layers]
