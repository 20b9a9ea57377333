"""What is particular to the GPU path, on the CPU: DeviceNetwork on a NumPy
stand-in of CudaOps (tests/host_ops.py) — step capture and replay, the
GEMM argument mapping, input checks of device arrays. Trajectories and
inference on every backend are test_backends.py's; the CUDA kernels
themselves are test_cuda_emulated.py's (on the CPU) and test_cuda.py's (on
a GPU)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import pyae
from pyae._gpu.blas import OP_N, OP_T, gemm_arguments

_spec = importlib.util.spec_from_file_location("host_ops", Path(__file__).with_name("host_ops.py"))
host_ops = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(host_ops)


@pytest.fixture
def host_gpu(monkeypatch):
    """device="cuda" runs on HostOps; yields the ops to inspect captures."""
    ops = host_ops.HostOps()
    monkeypatch.setattr("pyae._device.cuda_ops", lambda: ops)
    return ops


def data(rng, n=203, d=12, low=0.0):
    return rng.uniform(low, 1.0, (n, d)).astype(np.float32)


def test_each_batch_shape_is_captured_once_and_replayed(host_gpu, rng):
    X = data(rng)
    model = pyae.Autoencoder(hidden=(8, 4), batch_size=32, epochs=3, verbose=False,
                             device="cuda").fit(X)
    # 203 rows in batches of 32: one full-batch step and one remainder step
    # captured, then replayed for every batch of every epoch.
    assert host_gpu.captures == 2
    assert model._backend_.gpu.host_state()[3] == 3 * 7


def test_steps_are_recaptured_only_when_they_must_be(host_gpu, rng):
    X = data(rng, n=64)
    model = pyae.Autoencoder(hidden=(4,), batch_size=64, verbose=False, device="cuda")
    model.partial_fit(X)
    net, order = model._backend_.gpu, np.arange(64)
    Xd = host_gpu.to_device(X)
    net.train_epoch(Xd, order, 64)
    net.train_epoch(Xd, order, 64)
    assert host_gpu.captures == 2  # the first partial_fit's data, then Xd once
    model.set_params(learning_rate=0.01).partial_fit(Xd)  # the rate is baked in
    assert host_gpu.captures == 3 and net.opt["lr"] == 0.01
    net.train_epoch(Xd, order, 32)  # a new batch size
    assert host_gpu.captures == 4


def test_bad_inputs_on_the_gpu_path_raise_clearly(host_gpu, rng):
    model = pyae.Autoencoder(hidden=(4,), epochs=1, verbose=False, device="cuda")
    model.fit(data(rng))
    for bad, err in [(np.full((3, 12), np.nan, np.float32), "NaN"),
                     (np.zeros((0, 12), np.float32), "empty"),
                     (np.zeros((3, 5), np.float32), "features")]:
        with pytest.raises(ValueError, match=err):
            model.reconstruct(bad)


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        pyae.Autoencoder(device="gpu").fit(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="device must be"):
        pyae.Autoencoder().to("tpu")


@pytest.mark.skipif(bool(pyae.cuda_available()), reason="a GPU is usable here")
def test_cuda_without_a_usable_gpu_raises_and_changes_nothing(rng):
    X = data(rng)
    model = pyae.Autoencoder(hidden=(4,), epochs=1, verbose=False).fit(X)
    before = model.network_.params.copy()
    with pytest.raises(RuntimeError, match="device='cuda'"):
        model.to("cuda")
    assert model.device == "cpu"
    np.testing.assert_array_equal(model.network_.params, before)
    with pytest.raises(RuntimeError, match="device='cuda'"):
        pyae.Autoencoder(device="cuda", epochs=1, verbose=False).fit(X)
    unfitted = pyae.VAE()
    with pytest.raises(RuntimeError, match="device='cuda'"):
        unfitted.to("cuda")
    assert unfitted.device == "cpu"


# cuBLAS is column-major; gemm_arguments maps a row-major product onto it.
def column_major_sgemm(transa, transb, m, n, k, A, lda, B, ldb, C, ldc, beta):
    """Reference sgemm on flat column-major buffers (BLAS semantics)."""
    def mat(buf, rows, cols, ld, trans):
        full = np.lib.stride_tricks.as_strided(buf, (rows if not trans else cols,
                                                     cols if not trans else rows),
                                               (4, 4 * ld))
        return full.T if trans else full
    a = mat(A, m, k, lda, transa == OP_T)
    b = mat(B, k, n, ldb, transb == OP_T)
    c = np.lib.stride_tricks.as_strided(C, (m, n), (4, 4 * ldc))
    c[...] = a @ b + beta * c


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_row_major_gemm_maps_onto_column_major_cublas(rng, trans_a, trans_b):
    M, N, K = 5, 7, 3
    a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(np.float32)
    c = rng.standard_normal((M, N)).astype(np.float32)
    want = (a.T if trans_a else a) @ (b.T if trans_b else b) + c
    g = gemm_arguments(c.shape, a.shape, b.shape, trans_a, trans_b)
    got = c.copy()
    column_major_sgemm(g["transa"], g["transb"], g["m"], g["n"], g["k"], b.reshape(-1),
                       g["lda"], a.reshape(-1), g["ldb"], got.reshape(-1), g["ldc"], 1.0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert OP_N != OP_T
    with pytest.raises(ValueError, match="gemm shapes"):
        gemm_arguments((M, N + 1), a.shape, b.shape, trans_a, trans_b)


class FakeGpuArray:
    """Anything exposing __cuda_array_interface__ counts as a GPU array."""
    __cuda_array_interface__ = {"shape": (2, 3), "typestr": "<f4", "data": (0, False),
                                "version": 3}


def test_gpu_array_given_to_a_cpu_model_is_a_clear_error(rng):
    model = pyae.Autoencoder(hidden=(2,), epochs=1, verbose=False).fit(data(rng, d=3))
    with pytest.raises(TypeError, match=r"GPU array but this model runs on the CPU.*to\('cuda'\)"):
        model.transform(FakeGpuArray())


class DeviceArray(np.ndarray):
    """A NumPy array posing as a GPU array: with HostOps as the device it
    takes the CUDA-array branch of the input checks."""

    @property
    def __cuda_array_interface__(self):
        return self.__array_interface__


def on_device(a):
    return np.asarray(a).view(DeviceArray)


def test_gpu_array_inputs_are_checked_like_host_arrays(host_gpu, rng):
    X = data(rng)
    model = pyae.Autoencoder(hidden=(4,), epochs=1, verbose=False, device="cuda").fit(X)
    bad = [(np.zeros((3, 12), np.complex64), TypeError, "real numbers"),
           (np.zeros((3, 12, 1), np.float32), ValueError, "2-D"),
           (np.zeros((0, 12), np.float32), ValueError, "empty"),
           (np.zeros((3, 0), np.float32), ValueError, r"0 feature\(s\)"),
           (np.zeros((3, 5), np.float32), ValueError, "expecting 12"),
           (np.full((3, 12), np.inf, np.float32), ValueError, "NaN or infinite")]
    for value, err, match in bad:
        with pytest.raises(err, match=match):
            model.reconstruct(on_device(value))
    # float64, non-contiguous: converted once on the device, same result.
    strided = on_device(np.asfortranarray(X.astype(np.float64)))
    np.testing.assert_allclose(model.reconstruct(strided), model.reconstruct(X), rtol=1e-6)


def test_unknown_kernel_source_is_refused():
    from pyae._gpu.kernels import load_kernels

    with pytest.raises(ValueError, match="prefer must be"):
        load_kernels("ptx")


def test_networks_sharing_the_gpu_own_their_buffers(host_gpu, rng):
    """Two models on one ops object: the second, with a larger batch, must
    not replace a buffer the first one's captured steps use (the column-sum
    vector of ones was the ops object's, grown and freed under live graphs)."""
    X = data(rng, n=96)
    small = pyae.Autoencoder(hidden=(8,), batch_size=16, verbose=False, device="cuda")
    large = pyae.Autoencoder(hidden=(8,), batch_size=96, verbose=False, device="cuda")
    small.partial_fit(X)
    large.partial_fit(X)
    small.partial_fit(X)  # replays the graphs captured before the large model existed
    a, b = small._backend_.gpu, large._backend_.gpu
    assert a._ones is not b._ones and a._ones.size == 16 and b._ones.size == 96


def test_a_replayed_graph_must_use_the_buffers_it_captured(host_gpu, rng):
    """The stand-in's capture is strict: replacing a buffer under a captured
    step (as reserve does for a larger batch) without recapturing fails."""
    X = data(rng, n=64)
    model = pyae.Autoencoder(hidden=(4,), batch_size=32, verbose=False, device="cuda")
    model.partial_fit(X)
    net = model._backend_.gpu
    step = net._steps[next(iter(net._steps))]
    net.counters[1] = 0  # the row cursor back to the epoch's start
    step()  # the same buffers: fine
    net.counters[1] = 0
    net._acts[1] = net._acts[1].copy()  # a new buffer the graph does not know
    with pytest.raises(AssertionError, match="other buffers than it captured"):
        step()
