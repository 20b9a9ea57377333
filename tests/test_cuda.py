"""The GPU path on a GPU: kernels (from pyae._cuda and from NVRTC) against
the CPU ones, and models trained with device="cuda" against the CPU
trajectory. Without a usable GPU and CuPy these skip with the reason; the
status checks and the NVRTC compilation of the shipped kernel source run
everywhere they can."""

import ctypes
import glob
import os
import re
from pathlib import Path

import numpy as np
import pytest

import pyae
from pyae import _core, _reference as ref
from pyae._enums import ACTIVATIONS

STATUS = pyae.cuda_available()


def test_status_is_one_of_three_states_with_a_reason():
    assert STATUS.state in ("ready", "no device", "not built")
    assert STATUS.reason
    assert bool(STATUS) == (STATUS.state == "ready")


@pytest.mark.skipif(STATUS.state == "not built", reason=STATUS.reason)
def test_extension_imports_without_cuda_libraries():
    from pyae import _cuda

    _cuda.device_status()
    with open("/proc/self/maps") as f:
        maps = f.read()
    assert "libcudart" not in maps  # the runtime is linked statically


def find_nvrtc():
    candidates = []
    try:
        import nvidia.cu13

        for root in nvidia.cu13.__path__:
            candidates += glob.glob(os.path.join(root, "lib", "libnvrtc.so*"))
    except ImportError:
        pass
    candidates += glob.glob("/usr/local/cuda*/lib64/libnvrtc.so*")
    for path in candidates:
        if "builtins" not in path and ".alt." not in path:
            return path
    return None


def nvrtc_ptx(options, arch="compute_80"):
    """PTX of the shipped kernel source compiled by NVRTC itself (libnvrtc,
    no GPU) with these options; skips where libnvrtc is absent."""
    from pyae._gpu.kernels import NVRTC_SOURCE

    path = find_nvrtc()
    if path is None:
        pytest.skip("libnvrtc not found (pip install nvidia-cuda-nvrtc to run this check)")
    # NVRTC dlopens its builtins by soname; preload them from the same folder.
    for builtins in glob.glob(os.path.join(os.path.dirname(path), "libnvrtc-builtins.so*")):
        if ".alt." not in builtins:
            ctypes.CDLL(builtins, mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(path)
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), NVRTC_SOURCE.encode(), b"pyae_kernels.cu",
                                  0, None, None) == 0
    encoded = [o.encode() for o in (*options, f"--gpu-architecture={arch}")]
    result = lib.nvrtcCompileProgram(prog, len(encoded), (ctypes.c_char_p * len(encoded))(*encoded))
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    assert result == 0, log.value.decode()
    lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
    ptx = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetPTX(prog, ptx)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return ptx.value.decode()


def test_shipped_kernel_source_compiles_with_nvrtc():
    """The CuPy fallback's source (installed in pyae/_kernels) and options,
    compiled by NVRTC itself: no GPU needed, only libnvrtc."""
    from pyae._gpu.kernels import KERNEL_DIR, NVRTC_OPTIONS, kernel_names, listed_kernel_names

    assert (KERNEL_DIR / "cuda" / "device_kernels.cuh").is_file()
    # The entry names NVRTC looks up: from the installed kernel_list.h, or
    # from pyae._cuda's table (the same list) where it is built.
    names = listed_kernel_names()
    assert names and kernel_names() == names
    entries = re.findall(r"\.entry\s+pyae_(\w+)\(", nvrtc_ptx(NVRTC_OPTIONS))
    assert sorted(entries) == sorted(names)


def test_cupys_appended_flush_to_zero_changes_nothing():
    """CuPy appends -ftz=true after the user's options (the last one wins):
    pyae's options flush already, so the code is the same with or without
    CuPy's suffix, and the nvcc build flushes too (its flags, from CMake)."""
    from pyae._gpu.kernels import NVRTC_OPTIONS

    ptx = nvrtc_ptx(NVRTC_OPTIONS)
    assert ptx == nvrtc_ptx((*NVRTC_OPTIONS, "-ftz=true"))
    assert ".ftz.f32" in ptx
    cmake = (Path(__file__).resolve().parents[1] / "CMakeLists.txt").read_text()
    flags = re.search(r"COMPILE_LANGUAGE:CUDA>:([^>]*)>", cmake).group(1).split()
    assert "-ftz=true" in flags and "-fmad=false" in flags


def test_the_nvrtc_cache_key_covers_the_included_headers(tmp_path):
    """CuPy's disk cache keys on the source text and options only; the
    source is one #include line, so the options carry the headers' hash."""
    import shutil

    from pyae._gpu.kernels import KERNEL_DIR, nvrtc_options

    copy = tmp_path / "_kernels"
    shutil.copytree(KERNEL_DIR, copy)
    before = nvrtc_options(copy)
    assert before[:-2] == nvrtc_options(KERNEL_DIR)[:-2]  # the same contract
    header = copy / "math" / "elementwise_math.h"
    header.write_text(header.read_text() + "\n// an upgrade\n")
    after = nvrtc_options(copy)
    assert after[-1] != before[-1] and after[-1].startswith("-DPYAE_KERNEL_SOURCE_HASH=")


# ------------------------------------------------------------------ on a GPU
@pytest.fixture(scope="module")
def cp():
    try:
        import cupy
    except ImportError:
        pytest.skip("CuPy is not installed (the GPU path needs it: pip install 'pyae[gpu]')")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device")
    except Exception as e:  # no driver, no device
        pytest.skip(f"no usable GPU: {e}")
    return cupy


KERNEL_SOURCES = ["extension", "nvrtc"]


@pytest.fixture(scope="module", params=KERNEL_SOURCES)
def ops(cp, request):
    if request.param == "extension" and STATUS.state == "not built":
        pytest.skip(STATUS.reason)
    from pyae._gpu.ops import CudaOps

    return CudaOps(request.param)


def counters(cp, step, cursor=0):
    return cp.asarray(np.array([step, cursor], dtype=np.uint64))


@pytest.mark.parametrize("kind,a,b,lo,hi", [(1, 0.5, 0, 0, 1), (2, 0.2, 0.3, 0, 1),
                                            (3, 0.4, 0, 0, 0)])
@pytest.mark.parametrize("first", [0, 77, 1000])
def test_noise_is_bit_identical_to_the_cpu(cp, ops, kind, a, b, lo, hi, first):
    x = np.random.default_rng(0).random(100_003, dtype=np.float32)
    want = np.empty_like(x)
    _core.corrupt(want, x, _core.NoiseKind(kind), a, b, lo, hi, 5, 9 + 4, first)
    with ops.activate():
        out = cp.empty(x.size, cp.float32)
        # stream 9 plus the device-side step count 4
        ops.noise(out, cp.asarray(x), x.size, kind, a, b, lo, hi, kind == 1, 5, 9,
                  counters(cp, 4), first)
        np.testing.assert_array_equal(ops.to_host(out), want)
        for normal in (False, True):
            cpu = np.empty(5000, np.float32)
            _core.philox_draws(cpu, normal, 3, 4, first)
            gpu = cp.empty(5000, cp.float32)
            ops.noise(gpu, None, 5000, 0, 0, 0, 0, 0, normal, 3, 4, None, first)
            np.testing.assert_array_equal(ops.to_host(gpu), cpu)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_dense_layer_forward_and_backward(cp, ops, name):
    act = int(ACTIVATIONS[name])
    rng = np.random.default_rng(1)
    B, D_in, D_out = 129, 70, 300
    x = rng.standard_normal((B, D_in)).astype(np.float32)
    w = rng.standard_normal((D_out, D_in)).astype(np.float32) * 0.1
    bias = rng.standard_normal(D_out).astype(np.float32)
    with ops.activate():
        out, pre = cp.empty((B, D_out), cp.float32), cp.empty((B, D_out), cp.float32)
        ops.gemm(out, cp.asarray(x), cp.asarray(w), trans_b=True)
        ops.bias_activation(out, pre, cp.asarray(bias), B, D_out, act)
        pre64 = x.astype(np.float64) @ w.T.astype(np.float64) + bias
        np.testing.assert_allclose(ops.to_host(pre), pre64, rtol=1e-4, atol=1e-5)
        want = ref.activation(pre64, name)
        np.testing.assert_allclose(ops.to_host(out), want, rtol=1e-4, atol=1e-5)
        dout = rng.standard_normal((B, D_out)).astype(np.float32)
        dpre, dbias = cp.asarray(dout), cp.zeros(D_out, cp.float32)
        ops.activation_grad(dpre, dpre, out, pre, B * D_out, act)
        ops.column_sums(dbias, dpre)
        g = dout * ref.activation_grad(ops.to_host(out), ops.to_host(pre), name)
        np.testing.assert_allclose(ops.to_host(dpre), g, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ops.to_host(dbias), g.sum(0), rtol=1e-4, atol=1e-4)


def test_gather_vae_kernels_losses_and_optimizers(cp, ops):
    rng = np.random.default_rng(2)
    B, Z, D = 64, 20, 50
    ml = rng.standard_normal((B, 2 * Z)).astype(np.float32)
    eps = rng.standard_normal((B, Z)).astype(np.float32)
    with ops.activate():
        data = rng.random((100, D), dtype=np.float32)
        order = rng.permutation(100)
        got = cp.empty((B, D), cp.float32)
        ops.gather_rows(got, cp.asarray(data), cp.asarray(order), counters(cp, 0, 30), B, D)
        np.testing.assert_array_equal(ops.to_host(got), data[order[30:30 + B]])
        z = cp.empty((B, Z), cp.float32)
        ops.reparameterize_forward(z, cp.asarray(ml), cp.asarray(eps), B, Z)
        np.testing.assert_allclose(ops.to_host(z), ref.reparameterize(ml, eps), rtol=2e-6,
                                   atol=2e-6)
        rows, dml = cp.empty(B, cp.float32), cp.zeros((B, 2 * Z), cp.float32)
        ops.kl(dml, rows, cp.asarray(ml), B, Z, 0.5)
        np.testing.assert_allclose(ops.to_host(rows), ref.kl_divergence(ml), rtol=1e-5,
                                   atol=1e-5)
        pred, t = rng.standard_normal((B, D)).astype(np.float32), rng.random((B, D), np.float32)
        for bce in (False, True):
            grad, rs = cp.zeros((B, D), cp.float32), cp.empty(B, cp.float32)
            ops.loss_rows(grad, rs, cp.asarray(pred), cp.asarray(t), B, D, bce, 1.0, 1.0, 0.0)
            want = ref.reconstruction_nll(pred, t, "bce") if bce else ((pred - t) ** 2).sum(1)
            np.testing.assert_allclose(ops.to_host(rs), want, rtol=1e-5)
        p, g = rng.standard_normal(10_001).astype(np.float32), \
            rng.standard_normal(10_001).astype(np.float32)
        pc, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
        _core.adam_update(pc, m, v, g.copy(), 1e-2, 0.9, 0.999, 1e-8, 3)
        pd, gd = cp.asarray(p), cp.asarray(g)
        ops.adam(pd, cp.zeros_like(pd), cp.zeros_like(pd), gd, p.size, 1e-2, 0.9, 0.999, 1e-8,
                 counters(cp, 2))
        np.testing.assert_allclose(ops.to_host(pd), pc, rtol=1e-6, atol=1e-7)
        assert not ops.to_host(gd).any()  # the optimiser consumed the gradients


def test_graph_replay_equals_step_by_step_launches(cp, ops):
    from pyae._gpu.network import DeviceNetwork

    model = pyae.DenoisingAutoencoder(hidden=(32, 8), epochs=1, verbose=False).fit(
        np.random.default_rng(4).random((300, 20), dtype=np.float32))
    X = cp.asarray(np.random.default_rng(5).random((300, 20), dtype=np.float32))
    order = np.random.default_rng(6).permutation(300)
    results = []
    for use_graphs in (True, False):
        net = DeviceNetwork(ops, model.network_.table, use_graphs=use_graphs,
                            **model._backend_config())
        net.load_state(model.network_.params, model.network_.optimizer_state(0),
                       model.network_.optimizer_state(1), model.network_.step_count)
        totals = [net.train_epoch(X, order, 64) for _ in range(2)]
        results.append((totals, net.host_state()[0]))
    # Same kernels; cuBLAS may pick other algorithms under capture, so not
    # necessarily the same bits.
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-4, atol=1e-6)


def test_extension_and_nvrtc_kernels_agree_bit_for_bit(cp):
    if STATUS.state == "not built":
        pytest.skip(STATUS.reason)
    from pyae._gpu.ops import CudaOps

    X = cp.asarray(np.random.default_rng(7).random((256, 30), dtype=np.float32))
    order = np.arange(256)
    model = pyae.VAE(hidden=(16,), latent_dim=3, epochs=1, verbose=False).fit(cp.asnumpy(X))
    from pyae._gpu.network import DeviceNetwork

    params = []
    for source in KERNEL_SOURCES:
        net = DeviceNetwork(CudaOps(source), model.network_.table,
                            **model._backend_config())
        net.load_state(model.network_.params, model.network_.optimizer_state(0),
                       model.network_.optimizer_state(1), model.network_.step_count)
        net.train_epoch(X, order, 32)
        params.append(net.host_state()[0])
    np.testing.assert_array_equal(params[0], params[1])
