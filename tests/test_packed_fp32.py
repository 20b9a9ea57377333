"""fp32 inference past the small-batch kernel runs on weights packed once
per parameter version (kernels/packed_sgemm.h) on AVX-512 CPUs: checked
against the float64 reference, across thread counts, and after every kind
of parameter change."""

import numpy as np
import pytest

import pyae
from pyae import _core, _reference as ref

NEEDS_AVX512 = pytest.mark.skipif(not _core.simd_level().startswith("x86-64-v4"),
                                  reason=f"the packed fp32 kernel needs AVX-512 "
                                         f"(this CPU: {_core.simd_level()})")


@pytest.fixture
def threads():
    before = pyae.get_num_threads()
    yield pyae.set_num_threads
    pyae.set_num_threads(before)


def reference(net, x):
    ws, bs, ts, acts = ref.unpack(net.table, net.params)
    return ref.network_forward(ws, bs, ts, acts, x)[-1]


@NEEDS_AVX512
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("B", [33, 47, 100, 257])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_packed_forward_matches_the_reference(tied, B, n_threads, threads):
    threads(n_threads)
    X = np.random.default_rng(B).random((300, 70), dtype=np.float32)
    model = pyae.Autoencoder(hidden=(45, 9), tied_weights=tied, epochs=1, verbose=False).fit(X)
    net, out = model.network_, np.empty((B, 70), np.float32)
    for _ in range(2):  # packs on the first call, reuses on the second
        net.forward(X[:B], out, 0, len(net.table))
        np.testing.assert_allclose(out, reference(net, X[:B]), rtol=1e-5, atol=1e-6)


@NEEDS_AVX512
def test_a_row_gives_the_same_bits_in_any_large_batch(threads):
    threads(2)
    X = np.random.default_rng(0).random((200, 50), dtype=np.float32)
    model = pyae.Autoencoder(hidden=(30, 6), epochs=1, verbose=False).fit(X)
    np.testing.assert_array_equal(model.reconstruct(X[:64]), model.reconstruct(X)[:64])


@NEEDS_AVX512
def test_packed_weights_follow_parameter_changes():
    X = np.random.default_rng(0).random((300, 40), dtype=np.float32)
    model = pyae.Autoencoder(hidden=(20,), epochs=1, verbose=False).fit(X)
    first = model.reconstruct(X)
    model.partial_fit(X)  # training steps
    np.testing.assert_allclose(model.reconstruct(X), reference(model.network_, X), atol=1e-6)
    assert not np.array_equal(model.reconstruct(X), first)
    # A write from Python:
    model.network_.mutable_params()[:] = model.network_.params * np.float32(0.5)
    np.testing.assert_allclose(model.reconstruct(X), reference(model.network_, X), atol=1e-6)


def test_params_is_read_only_and_mutable_params_marks_a_change():
    """A write can only go through mutable_params(), which makes the next
    inference call re-pack: reading params can never leave packed weights stale."""
    X = np.random.default_rng(0).random((100, 40), dtype=np.float32)
    model = pyae.Autoencoder(hidden=(20,), epochs=1, verbose=False).fit(X)
    with pytest.raises(ValueError, match="read-only"):
        model.network_.params[:] = 0.0
    model.reconstruct(X)  # packs
    model.network_.mutable_params()[:] = 0.0
    np.testing.assert_array_equal(model.reconstruct(X), np.full_like(X, 0.5))  # sigmoid(0)
