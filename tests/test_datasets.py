"""IDX reading and dataset lookup, on files made here (and the shared
MNIST when PYAE_DATA_DIR is set)."""

import gzip
import struct

import numpy as np
import pytest

from pyae import datasets


def idx_bytes(arr, type_code=0x08):
    header = bytes([0, 0, type_code, arr.ndim]) + b"".join(struct.pack(">I", s) for s in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_mnist_like(folder, n=5, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    imgs = np.arange(n * 28 * 28, dtype=np.uint32).reshape(n, 28, 28) % 256
    labels = np.arange(n, dtype=np.uint8) % 10
    for stem, arr in (("t10k-images-idx3-ubyte", imgs.astype(np.uint8)),
                      ("t10k-labels-idx1-ubyte", labels)):
        data = idx_bytes(arr)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return imgs, labels


@pytest.mark.parametrize("gz", [True, False])
def test_load_from_explicit_dir(tmp_path, gz):
    imgs, labels = write_mnist_like(tmp_path / "mnist", gz=gz)
    X, y = datasets.load_mnist("test", data_dir=tmp_path)
    assert X.shape == (5, 784) and X.dtype == np.float32
    np.testing.assert_allclose(X, imgs.reshape(5, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    X2, _ = datasets.load_mnist("test", data_dir=tmp_path / "mnist", flatten=False)
    assert X2.shape == (5, 28, 28)


def test_env_var_is_searched(tmp_path, monkeypatch):
    write_mnist_like(tmp_path / "fashion-mnist")
    monkeypatch.setenv("PYAE_DATA_DIR", str(tmp_path))
    X, _ = datasets.load_fashion_mnist("test")
    assert X.shape == (5, 784)


def test_missing_dataset_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.delenv("PYAE_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(datasets.DatasetNotFound, match="Put the IDX files in one of"):
        datasets.load_mnist("train", data_dir=tmp_path / "nothing")


@pytest.mark.parametrize("mutate,msg", [
    (lambda b: b"\x01\x02" + b[2:], "magic"),
    (lambda b: b[:3], "magic"),
    (lambda b: b[:2] + b"\x42" + b[3:], "element type"),
    (lambda b: b[:6], "truncated IDX header"),
    (lambda b: b[:-5], "truncated or corrupt"),
    (lambda b: b + b"xx", "truncated or corrupt"),
])
def test_bad_idx_files_raise(tmp_path, mutate, msg):
    good = idx_bytes(np.zeros((2, 3, 3), np.uint8))
    p = tmp_path / "bad-idx"
    p.write_bytes(mutate(good))
    with pytest.raises(ValueError, match=msg):
        datasets.read_idx(p)


def test_mismatched_images_and_labels_raise(tmp_path):
    write_mnist_like(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros(3, np.uint8))))
    with pytest.raises(ValueError, match="do not match"):
        datasets.load_mnist("test", data_dir=tmp_path)


def test_bad_split_raises():
    with pytest.raises(ValueError, match="split"):
        datasets.load_mnist("validation")


def test_shared_mnist_test_split(data_dir):
    X, y = datasets.load_mnist("test", data_dir=data_dir)
    assert X.shape == (10000, 784) and y.shape == (10000,)
    assert 0.0 == X.min() and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))


def test_search_order_prefers_explicit_then_env_then_cache(tmp_path, monkeypatch):
    explicit, env, cache = tmp_path / "explicit", tmp_path / "env", tmp_path / "cache"
    write_mnist_like(explicit / "mnist", n=2)
    write_mnist_like(env / "mnist", n=3)
    write_mnist_like(cache / "pyae" / "mnist", n=4)
    monkeypatch.setenv("PYAE_DATA_DIR", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    assert len(datasets.load_mnist("test", data_dir=explicit)[0]) == 2
    assert len(datasets.load_mnist("test")[0]) == 3
    monkeypatch.delenv("PYAE_DATA_DIR")
    assert len(datasets.load_mnist("test")[0]) == 4


@pytest.fixture
def http_server(tmp_path):
    """A file server on 127.0.0.1 standing in for the official mirror."""
    import functools
    import http.server
    import threading

    root = tmp_path / "mirror"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_verifies_sha256(tmp_path, monkeypatch, http_server):
    import hashlib

    root, url = http_server
    write_mnist_like(root, n=6)
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.iterdir()}
    monkeypatch.setitem(datasets.MIRRORS, "mnist", ["http://127.0.0.1:9/", url])  # 1st refuses
    monkeypatch.setitem(datasets.SHA256, "mnist", digests)
    monkeypatch.delenv("PYAE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    X, y = datasets.load_mnist("test")
    assert X.shape == (6, 784)
    cached = tmp_path / "cache" / "pyae" / "mnist" / "t10k-images-idx3-ubyte.gz"
    assert cached.is_file()
    # A mirror serving different bytes is refused and nothing is cached.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache2"))
    monkeypatch.setitem(datasets.SHA256, "mnist", {k: "0" * 64 for k in digests})
    with pytest.raises(datasets.DatasetNotFound, match="SHA-256 mismatch"):
        datasets.load_mnist("test")
    assert not list((tmp_path / "cache2" / "pyae" / "mnist").iterdir())


def test_offline_error_names_the_folders(tmp_path, monkeypatch):
    monkeypatch.setitem(datasets.MIRRORS, "mnist", ["http://127.0.0.1:9/"])
    monkeypatch.delenv("PYAE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(datasets.DatasetNotFound, match="download failed"):
        datasets.load_mnist("test")
    with pytest.raises(datasets.DatasetNotFound, match="Put the IDX files"):
        datasets.load_mnist("test", download=False)


def test_train_test_split_of_a_test_only_copy(tmp_path, monkeypatch):
    monkeypatch.setitem(datasets.MIRRORS, "mnist", [])
    write_mnist_like(tmp_path / "mnist", n=10_000 // 100)
    imgs = np.random.default_rng(0).integers(0, 256, (10_000, 28, 28), dtype=np.uint8)
    (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(imgs)))
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros(10_000, np.uint8))))
    Xtr, ytr, Xte, yte, desc = datasets.load_train_test("mnist", data_dir=tmp_path)
    assert Xtr.shape == (8000, 784) and Xte.shape == (2000, 784) and "8000 train" in desc
    again = datasets.load_train_test("mnist", data_dir=tmp_path)
    np.testing.assert_array_equal(again[0], Xtr)
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.load_train_test("cifar")
