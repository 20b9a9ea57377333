"""Model files: one .safetensors file with the weights, the optimiser state
and a JSON config in its header. Never a pickle.

Saving writes a temporary file in the same folder and renames it over the
target, so a failed save leaves any previous file untouched.
"""

from __future__ import annotations

import errno
import io
import json
import math
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
FORMAT2_KEYS = {"layers", "checksums", "metadata_checksum"}  # never in a format-1 file


class ModelFileError(ValueError):
    """A model file is missing, truncated, corrupt, foreign or incompatible."""


# The container is safetensors (8-byte little-endian header length, a JSON
# header naming every tensor's dtype, shape and byte range, then the data),
# written and read here rather than through the safetensors package because
# its Python API copies every tensor to a bytes object on save and has no
# read-into: pyae streams each tensor between the file and the model's own
# buffer, so saving or loading needs about one copy of the model, not three.
# tests/test_io.py checks that the safetensors package reads these files.
MAX_HEADER_BYTES = 16 << 20  # the C library's limit too
_CHUNK_BYTES = 16 << 20
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
                "I8": 1, "U8": 1, "U16": 2, "U32": 4, "U64": 8, "BOOL": 1}


def _chunks(flat: np.ndarray):
    """Byte views of consecutive pieces of a contiguous float32 array."""
    step = _CHUNK_BYTES // flat.itemsize
    for a in range(0, flat.size, step):
        yield flat[a:a + step]


def _crc(array: np.ndarray) -> int:
    crc = 0
    for piece in _chunks(array.reshape(-1)):
        crc = zlib.crc32(memoryview(piece).cast("B"), crc)
    return crc


def _header_bytes(tensors: dict, metadata: dict) -> bytes:
    header = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION)}
    header.update({k: json.dumps(v) for k, v in metadata.items()})
    header["checksums"] = json.dumps({k: _crc(v) for k, v in tensors.items()})
    header["metadata_checksum"] = str(metadata_crc(header))
    entries, offset = {"__metadata__": header}, 0
    for name in sorted(tensors):
        t = tensors[name]
        entries[name] = {"dtype": "F32", "shape": list(t.shape),
                         "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    text = json.dumps(entries, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # float32 data stays aligned, as safetensors pads
    return struct.pack("<Q", len(text)) + text


def _write_model(f, tensors: dict, metadata: dict) -> None:
    for name, t in tensors.items():
        if t.dtype != np.float32 or not t.flags.c_contiguous:
            raise TypeError(f"tensor {name!r} must be contiguous float32")
    f.write(_header_bytes(tensors, metadata))
    for name in sorted(tensors):
        for piece in _chunks(tensors[name].reshape(-1)):
            f.write(memoryview(piece).cast("B"))


def encode_model(tensors: dict, metadata: dict) -> bytes:
    """The bytes of a model file (for pickling; saving streams instead)."""
    buffer = io.BytesIO()
    _write_model(buffer, tensors, metadata)
    return buffer.getvalue()


def metadata_crc(header: dict) -> int:
    """CRC-32 of the metadata strings in key order, each key and value ended
    by a NUL (the C library computes the same): a changed byte in the config
    or the training state is an error, never another model."""
    return zlib.crc32(b"".join(k.encode() + b"\0" + v.encode() + b"\0"
                               for k, v in sorted(header.items()) if k != "metadata_checksum"))


def write_model_file(path, tensors: dict, metadata: dict) -> None:
    """Saves atomically, streaming each tensor from the caller's arrays."""
    atomic_write(path, lambda f: _write_model(f, tensors, metadata))


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    with _UMASK_LOCK:  # reading the umask means setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write_bytes(path, blob: bytes) -> None:
    atomic_write(path, lambda f: f.write(blob))


def atomic_write(path, write) -> None:
    """Calls ``write(f)`` on a temporary file next to the target, then
    renames it over the target: a failure at any point leaves the previous
    file as it was.

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
            write(f)
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


class ModelFileReader:
    """An open model file whose header, layout and metadata are checked;
    tensors are read one by one into the caller's buffers (``read_into``),
    each verified against its CRC-32 and for NaN/Inf.

    ``source`` is a path or a binary file object; ``name`` names it in errors.
    """

    def __init__(self, source, name=None):
        self.name = os.fspath(source) if name is None else name
        if isinstance(source, (str, os.PathLike)):
            if not os.path.isfile(source):
                raise ModelFileError(f"no model file at {self.name!r}")
            try:
                self._file = open(source, "rb")
            except OSError as e:
                raise ModelFileError(f"cannot read {self.name!r} ({e})") from None
        else:
            self._file = source
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fail(self, why):
        raise ModelFileError(f"{self.name!r} is not a readable safetensors file ({why})")

    def _read_header(self):
        f = self._file
        try:
            size = f.seek(0, os.SEEK_END)
            f.seek(0)
            prefix = f.read(8)
        except OSError as e:
            raise ModelFileError(f"cannot read {self.name!r} ({e})") from None
        if len(prefix) < 8:
            self._fail("shorter than its header")
        (n,) = struct.unpack("<Q", prefix)
        if n > min(MAX_HEADER_BYTES, size - 8):  # before anything is allocated
            self._fail(f"header length {n} past the limit or the file's end")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            self._fail(f"bad header: {e}")
        if not isinstance(header, dict):
            self._fail("the header is not a JSON object")
        raw_meta = header.pop("__metadata__", None) or {}
        self._entries = self._checked_layout(header, size - 8 - n)
        self._data_start = 8 + n
        self.metadata = self._checked_metadata(raw_meta)

    def _checked_layout(self, header, data_size) -> dict:
        """name -> (dtype, shape, begin, end): the byte ranges must tile the
        data section exactly, in order, as the safetensors format demands."""
        entries, ranges = {}, []
        for name, e in header.items():
            try:
                dtype, shape, (begin, end) = e["dtype"], e["shape"], e["data_offsets"]
                ok = dtype in _DTYPE_BYTES and isinstance(shape, list) and len(shape) <= 8 and \
                    all(type(x) is int and 0 <= x <= data_size for x in (*shape, begin, end))
            except (TypeError, KeyError, ValueError):
                ok = False
            if not ok:
                self._fail(f"bad entry for tensor {name!r}")
            if end - begin != _DTYPE_BYTES[dtype] * math.prod(shape):
                self._fail(f"tensor {name!r} has a byte range that does not match its shape")
            entries[name] = (dtype, tuple(shape), begin, end)
            ranges.append((begin, end))
        at = 0
        for begin, end in sorted(ranges):
            if begin != at:
                self._fail("tensor byte ranges overlap or leave gaps")
            at = end
        if at != data_size:
            self._fail("the data section does not match the header (truncated or padded file)")
        return entries

    def _checked_metadata(self, raw_meta) -> dict:
        source = self.name
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
        if version == 1 and FORMAT2_KEYS & set(raw_meta):
            # A format-2 file whose version was changed: reading it as format
            # 1 would skip its checksums.
            raise ModelFileError(f"{source!r} claims format 1 but has format-2 fields "
                                 "(the file is corrupt)")
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
        self._checksums = None
        if version >= 2:
            checksums = meta.pop("checksums", None)
            if not isinstance(checksums, dict) or set(checksums) != set(self._entries):
                raise ModelFileError(f"{source!r} lacks the checksums of its tensors")
            self._checksums = checksums
        return meta

    def names(self) -> set:
        return set(self._entries)

    def shape(self, name: str) -> tuple:
        return self._entries[name][1]

    def expect(self, name: str, shape) -> None:
        """The file has float32 tensor ``name`` of ``shape`` (header only)."""
        if name not in self._entries:
            raise ModelFileError(f"{self.name!r} lacks tensor {name!r}")
        dtype, have, _, _ = self._entries[name]
        if dtype != "F32" or have != tuple(shape):
            raise ModelFileError(f"{self.name!r}: tensor {name!r} is {dtype} {list(have)}, "
                                 f"expected float32 (F32) {list(shape)}")

    def read_into(self, name: str, out: np.ndarray) -> None:
        """Streams tensor ``name`` into the contiguous float32 array ``out``."""
        self.expect(name, out.shape)
        begin = self._entries[name][2]
        crc = 0
        try:
            self._file.seek(self._data_start + begin)
            for piece in _chunks(out.reshape(-1)):
                view = memoryview(piece).cast("B")
                if self._file.readinto(view) != len(view):
                    self._fail("it ended early (truncated while being read?)")
                crc = zlib.crc32(view, crc)
                if not np.isfinite(piece).all():
                    raise ModelFileError(f"{self.name!r}: tensor {name!r} contains NaN or Inf")
        except OSError as e:
            raise ModelFileError(f"cannot read {self.name!r} ({e})") from None
        if self._checksums is not None and self._checksums[name] != crc:
            raise ModelFileError(f"{self.name!r}: tensor {name!r} does not match its checksum "
                                 "(the file is corrupt)")


def table_to_json(table) -> list:
    """A layer table as the model file stores it (format 2)."""
    return [{"d_in": row.d_in, "d_out": row.d_out, "activation": row.activation.name,
             "role": row.role.name, "tied_to": row.tied_to} for row in table.layers]
