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


# The training GEMM (kernels/packed_sgemm.h, fp32_gemm): B in place and
# transposed (packed per call), ragged edges in all three dimensions, beta 0
# and 1, against float64; each output is one float32 FMA chain, so the
# bound is K ulps of sum |a b|.
@NEEDS_AVX512
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("M, N, K", [(1, 1, 1), (12, 32, 7), (13, 33, 64), (25, 70, 129),
                                     (128, 784, 256), (5, 17, 0)])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_fp32_gemm_matches_float64(trans_b, M, N, K, beta):
    rng = np.random.default_rng(M * 1000 + N + K)
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(np.float32)
    c0 = rng.standard_normal((M, N)).astype(np.float32)
    c = c0.copy()
    out = _core.fp32_gemm(a, b, trans_b, beta, c)
    assert out is not None
    A = a.astype(np.float64)
    B = (b.T if trans_b else b).astype(np.float64)
    want = A @ B + beta * c0
    bound = (K + 1) * 2.0 ** -23 * (np.abs(A) @ np.abs(B) + beta * np.abs(c0)) + 1e-30
    assert np.all(np.abs(c - want) <= bound)


@NEEDS_AVX512
@pytest.mark.parametrize("trans_b", [False, True])
def test_fp32_gemm_writes_only_c(trans_b):
    """The tile stores 32 columns masked to the last ones: the floats just
    past c (in the same buffer) never move, for ragged M and N."""
    rng = np.random.default_rng(4)
    M, N, K = 13, 45, 20
    a = rng.random((M, K), dtype=np.float32)
    b = rng.random((N, K) if trans_b else (K, N), dtype=np.float32)
    buf = np.full(M * N + 64, -3.0, np.float32)
    c = buf[:M * N].reshape(M, N)
    _core.fp32_gemm(a, b, trans_b, 1.0, c)
    assert np.all(buf[M * N:] == -3.0)
    B = b.T if trans_b else b
    np.testing.assert_allclose(c, a.astype(np.float64) @ B - 3.0, rtol=1e-5, atol=1e-5)


@NEEDS_AVX512
def test_fp32_gemm_refuses_bad_operands():
    rng = np.random.default_rng(3)
    a = rng.random((13, 50), dtype=np.float32)
    b = rng.random((50, 45), dtype=np.float32)
    with pytest.raises(TypeError):  # a strided view is refused, not misread
        _core.fp32_gemm(rng.random((40, 90), dtype=np.float32)[:13, :50], b)
    with pytest.raises(ValueError, match="beta"):
        _core.fp32_gemm(a, b, beta=0.5, c=np.zeros((13, 45), np.float32))
    with pytest.raises(ValueError, match="chain"):
        _core.fp32_gemm(a, b.T.copy())
