"""Model files are written and read tensor by tensor between the file and
the model's own buffer (peak memory about one copy of the model), stay
files the safetensors package reads, and follow the safetensors layout
rules in the Python and the C loader alike."""

import json
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

import pyae
from pyae import _core
from pyae._io import metadata_crc
from pyae._model_file import file_payload, model_tensors


def _fitted(n_features=600, hidden=(400,), rows=64):
    X = np.random.default_rng(0).random((rows, n_features), dtype=np.float32)
    return pyae.Autoencoder(hidden=hidden, epochs=1, batch_size=32, verbose=False).fit(X), X


def _model_bytes(model):
    return sum(t.nbytes for t in model_tensors(model).values())


def test_safetensors_reads_what_pyae_writes(tmp_path):
    from safetensors import safe_open

    model, _ = _fitted(n_features=30, hidden=(8, 3))
    model.save(tmp_path / "m.safetensors")
    with safe_open(str(tmp_path / "m.safetensors"), framework="numpy") as f:
        assert f.metadata()["format"] == "pyae"
        want = file_payload(model)[0]  # the model's tensors and its outlier statistics
        assert set(f.keys()) == set(want) and "outlier.residual_std" in want
        for name, tensor in want.items():
            np.testing.assert_array_equal(f.get_tensor(name), tensor)


def test_save_and_load_stream_the_tensors(tmp_path):
    """NumPy's allocations are traced by tracemalloc, the network's own buffer
    is not: before, save built the whole file as a bytes object and load read
    it whole and then unpacked it (three copies); now neither allocates more
    than a chunk of it."""
    model, X = _fitted()
    size = _model_bytes(model)
    assert size > 5e6
    path = tmp_path / "m.safetensors"
    tracemalloc.start()
    try:
        model.save(path)
        _, peak_save = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        loaded = pyae.load(path)
        _, peak_load = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_save < 0.1 * size, (peak_save, size)
    # The outlier statistics are NumPy arrays of the model itself (the code
    # precision matrix is code width squared): loaded, not copies.
    own = sum(v.nbytes for v in model.outlier_stats_.values())
    assert peak_load < 0.1 * size + own, (peak_load, size, own)
    np.testing.assert_array_equal(loaded.reconstruct(X), model.reconstruct(X))


def test_chunked_reads_verify_every_chunk(tmp_path, monkeypatch):
    """Tensors larger than one read chunk: a flipped byte in a later chunk
    is still caught by the checksum."""
    from pyae import _io

    monkeypatch.setattr(_io, "_CHUNK_BYTES", 256)
    model, X = _fitted(n_features=40, hidden=(16,))
    path = tmp_path / "m.safetensors"
    model.save(path)
    np.testing.assert_array_equal(pyae.load(path).reconstruct(X), model.reconstruct(X))
    blob = bytearray(path.read_bytes())
    blob[-3] ^= 0x10  # deep inside the last tensor
    path.write_bytes(bytes(blob))
    with pytest.raises(pyae.ModelFileError, match="does not match its checksum"):
        pyae.load(path)


def _header_edit(blob, edit):
    """The file with its JSON header edited and every checksum made
    consistent again, so the layout checks are the ones tested."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    edit(header)
    meta = header["__metadata__"]
    meta["metadata_checksum"] = str(metadata_crc(meta))
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def _swap_ranges(h):
    """Two tensors of the same byte size trade byte ranges: out of the usual
    order but still tiling the data, which safetensors allows."""
    a, b = h["layers.0.weight"], h["layers.1.weight"]
    a["data_offsets"], b["data_offsets"] = b["data_offsets"], a["data_offsets"]


def _overlap(h):
    """The second moments read the first moments' bytes; the last range is
    left uncovered, so the data section is not tiled."""
    h["optimizer.state1"]["data_offsets"] = h["optimizer.state0"]["data_offsets"]


@pytest.mark.parametrize("edit,loads", [
    (_swap_ranges, True),
    (_overlap, False),
    (lambda h: h["layers.0.bias"].update(shape=[8.0]), False),
    (lambda h: h["layers.0.bias"].update(data_offsets=[float(x) for x in
                                                       h["layers.0.bias"]["data_offsets"]]),
     False),
    (lambda h: h["layers.0.bias"].update(shape=[8, 1]), False),
    (lambda h: h["__metadata__"].update(layers=h["__metadata__"]["layers"].replace(
        '"d_in": 20', '"d_in": 20.0', 1)), False),
    (lambda h: h["__metadata__"].update(layers=h["__metadata__"]["layers"].replace(
        '"tied_to": -1', '"tied_to": -1.0', 1)), False),
])
def test_python_and_c_loaders_apply_the_same_layout_rules(tmp_path, edit, loads):
    """Before: the C loader accepted overlapping byte ranges and 20.0 for a
    width or an offset, which Python (and safetensors) refuse."""
    X = np.random.default_rng(0).random((40, 20), dtype=np.float32)
    model = pyae.Autoencoder(hidden=(8,), epochs=1, verbose=False).fit(X)
    path = tmp_path / "m.safetensors"
    model.save(path)
    if edit is _swap_ranges:  # the swapped tensors' checksums follow their bytes
        def edit(h, inner=edit):
            inner(h)
            sums = json.loads(h["__metadata__"]["checksums"])
            sums["layers.0.weight"], sums["layers.1.weight"] = \
                sums["layers.1.weight"], sums["layers.0.weight"]
            h["__metadata__"]["checksums"] = json.dumps(sums)
    path.write_bytes(_header_edit(path.read_bytes(), edit))
    if loads:
        back = pyae.load(path)
        np.testing.assert_array_equal(model_tensors(back)["layers.0.weight"].ravel(),
                                      model_tensors(model)["layers.1.weight"].ravel())
        _core.CModel(path.read_bytes())
    else:
        with pytest.raises(pyae.ModelFileError):
            pyae.load(path)
        with pytest.raises(ValueError):
            _core.CModel(path.read_bytes())


def test_negative_adam_second_moments_are_refused(tmp_path):
    """Before: a file with negative second moments (sqrt of them in the next
    step: NaN) loaded without complaint."""
    model, _ = _fitted(n_features=20, hidden=(8,))
    path = tmp_path / "m.safetensors"
    model.network_.optimizer_state(1)[3] = -1.0
    model.save(path)
    with pytest.raises(pyae.ModelFileError, match="second moments must not be negative"):
        pyae.load(path)


def test_a_file_truncated_while_being_read_is_a_model_file_error(tmp_path):
    """The size is checked when the header is read; a file cut afterwards
    (another process rewriting it) ends a read early: still a clean error."""
    from pyae._io import ModelFileReader

    model, _ = _fitted(n_features=20, hidden=(8,))
    path = tmp_path / "m.safetensors"
    model.save(path)
    with ModelFileReader(path) as reader:
        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size // 2)
        out = np.empty(model.network_.optimizer_state(1).shape, np.float32)
        with pytest.raises(pyae.ModelFileError, match="ended early"):
            reader.read_into("optimizer.state1", out)


def test_tensor_checksums_are_crc32_of_the_bytes(tmp_path):
    model, _ = _fitted(n_features=20, hidden=(8,))
    path = tmp_path / "m.safetensors"
    model.save(path)
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    sums = json.loads(header["__metadata__"]["checksums"])
    for name, tensor in model_tensors(model).items():
        begin, end = header[name]["data_offsets"]
        assert sums[name] == zlib.crc32(blob[8 + n + begin:8 + n + end]) == \
            zlib.crc32(np.ascontiguousarray(tensor).data)


FINDINGS = Path(__file__).resolve().parent / "fixtures" / "fuzz_findings"


@pytest.mark.parametrize("finding", sorted(p.name for p in FINDINGS.iterdir()))
def test_fuzzer_findings_are_clean_refusals(finding):
    """Files on which a fuzzer once found another exception than
    ModelFileError (tests/fuzz): both loaders refuse them cleanly."""
    path = FINDINGS / finding
    with pytest.raises(pyae.ModelFileError):
        pyae.load(path)
    with pytest.raises(ValueError):
        _core.CModel(path.read_bytes())


def test_a_format2_file_relabelled_format1_is_refused(tmp_path):
    """Before: changing the version text "2" to "1" made both loaders read
    the file as format 1, without its checksums (so any edit loaded)."""
    model, _ = _fitted(n_features=20, hidden=(8,))
    path = tmp_path / "m.safetensors"
    model.save(path)
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = blob[8:8 + n]
    assert header.count(b'"format_version":"2"') == 1
    path.write_bytes(blob[:8] + header.replace(b'"format_version":"2"', b'"format_version":"1"')
                     + blob[8 + n:])
    with pytest.raises(pyae.ModelFileError, match="claims format 1 but has format-2 fields"):
        pyae.load(path)
    with pytest.raises(ValueError, match="claims format 1 but has format-2 fields"):
        _core.CModel(path.read_bytes())
