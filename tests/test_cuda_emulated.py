"""pyae's CUDA kernels, unchanged, run on the CPU by an emulator, launched
through pyae._gpu.kernels.Kernels (the shapes and argument types every
backend uses) and the extension's launch code (kernel table, argument
checks, packing): every kernel against the CPU kernels or the float64
reference, the one kernel list against everything that names kernels, and
the argument checks. Whole models on these kernels: test_backends.py. On a
GPU, test_cuda.py runs the same kernels for real."""

import importlib.util
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import pyae
from pyae import _core, _reference as ref
from pyae._enums import ACTIVATIONS
from pyae._gpu.kernels import KERNEL_DIR, Kernels, kernel_names, listed_kernel_names


def _load(name):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


host_ops = _load("host_ops")


@pytest.fixture
def k(emulated_kernels):
    """The emulated kernels (built once per session, see conftest.py)."""
    return emulated_kernels


def counters(step, cursor=0):
    return np.array([step, cursor], dtype=np.uint64)


@pytest.mark.parametrize("kind,a,b,lo,hi", [(1, 0.5, 0, 0, 1), (2, 0.2, 0.3, 0, 1),
                                            (3, 0.4, 0, 0, 0)])
@pytest.mark.parametrize("first", [0, 77, 1000])
def test_noise_bits_equal_the_cpu_kernel(k, kind, a, b, lo, hi, first):
    x = np.random.default_rng(0).random(3001, dtype=np.float32)
    want = np.empty_like(x)
    _core.corrupt(want, x, _core.NoiseKind(kind), a, b, lo, hi, 5, 9 + 4, first)
    out = np.empty_like(x)
    k.noise(out, x, x.size, kind, a, b, lo, hi, kind == 1, 5, 9, counters(4), first)
    np.testing.assert_array_equal(out, want)
    for normal in (False, True):
        cpu, gpu = np.empty(999, np.float32), np.empty(999, np.float32)
        _core.philox_draws(cpu, normal, 3, 4, first)
        k.noise(gpu, None, 999, 0, 0, 0, 0, 0, normal, 3, 4, None, first)
        np.testing.assert_array_equal(gpu, cpu)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_bias_activation_and_its_gradient(k, name):
    act = int(ACTIVATIONS[name])
    rng = np.random.default_rng(1)
    gemm_out = rng.standard_normal((7, 300)).astype(np.float32)
    bias = rng.standard_normal(300).astype(np.float32)
    out, pre = gemm_out.copy(), np.empty_like(gemm_out)
    k.bias_activation(out, pre, bias, 7, 300, act)
    np.testing.assert_array_equal(pre, gemm_out + bias)
    want = np.empty_like(pre)
    _core.activation_forward(want, gemm_out + bias, ACTIVATIONS[name])
    np.testing.assert_array_equal(out, want)  # the same per-element code
    np.testing.assert_allclose(out, ref.activation(gemm_out.astype(np.float64) + bias, name),
                               rtol=2e-6, atol=1e-6)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dpre = np.empty_like(dout)
    k.activation_grad(dpre, dout, out, pre, dout.size, act)
    np.testing.assert_allclose(dpre, dout * ref.activation_grad(out, pre, name),
                               rtol=1e-5, atol=1e-6)


def test_gather_reparameterization_kl_losses(k):
    rng = np.random.default_rng(2)
    data, order = rng.random((50, 6), dtype=np.float32), rng.permutation(50)
    got = np.empty((9, 6), np.float32)
    k.gather_rows(got, data, order, counters(0, 30), 9, 6)
    np.testing.assert_array_equal(got, data[order[30:39]])
    B, Z, D = 9, 4, 300
    ml = rng.standard_normal((B, 2 * Z)).astype(np.float32)
    eps = rng.standard_normal((B, Z)).astype(np.float32)
    z = np.empty((B, Z), np.float32)
    k.reparameterize_forward(z, ml, eps, B, Z)
    np.testing.assert_allclose(z, ref.reparameterize(ml, eps), rtol=2e-6, atol=2e-6)
    dz = rng.standard_normal((B, Z)).astype(np.float32)
    dml, want = np.zeros_like(ml), np.zeros_like(ml)
    k.reparameterize_backward(dml, dz, z, ml, B, Z)
    _core.reparameterize_backward(want, dz, z, ml)
    np.testing.assert_allclose(dml, want, rtol=1e-6, atol=1e-7)
    rows, dml, want_d, want_rows = (np.zeros(B, np.float32), np.zeros_like(ml), np.zeros_like(ml),
                                    np.zeros(B, np.float32))
    k.kl(dml, rows, ml, B, Z, 0.25)
    _core.kl_rows(want_d, want_rows, ml, 0.25)
    np.testing.assert_allclose(rows, ref.kl_divergence(ml), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dml, want_d, rtol=1e-6, atol=1e-7)
    pred, t = rng.standard_normal((B, D)).astype(np.float32), rng.random((B, D), np.float32)
    for bce in (False, True):
        grad, rs = np.zeros((B, D), np.float32), np.empty(B, np.float32)
        k.loss_rows(grad, rs, pred, t, B, D, bce, 0.5, 1.0 / D, 3.0)
        terms = ref.reconstruction_nll(pred, t, "bce") if bce else ((pred - t) ** 2).sum(1)
        np.testing.assert_allclose(rs, terms / D + 3.0, rtol=1e-5)
        want_g = 0.5 * ((1 / (1 + np.exp(-pred.astype(np.float64))) - t) if bce else (pred - t))
        np.testing.assert_allclose(grad, want_g, rtol=1e-5, atol=1e-6)
    totals = np.array([1.0, 2.0])
    k.accumulate(totals, 1, rs, B, 0.5)
    np.testing.assert_allclose(totals, [1.0, 2.0 + 0.5 * rs.astype(np.float64).sum()])


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_optimizers_read_the_step_from_the_counters(k, optimizer):
    rng = np.random.default_rng(3)
    p, g = rng.standard_normal(1001).astype(np.float32), rng.standard_normal(1001).astype(np.float32)
    m, v = rng.random(1001, np.float32), rng.random(1001, np.float32)
    want = [a.copy() for a in (p, m, v)]
    got = [a.copy() for a in (p, m, v)]
    grads = g.copy()
    if optimizer == "adam":
        _core.adam_update(*want, g.copy(), 1e-2, 0.9, 0.999, 1e-8, 6)
        k.adam(*got, grads, p.size, 1e-2, 0.9, 0.999, 1e-8, counters(5))
    else:
        _core.sgd_momentum_update(want[0], want[1], g.copy(), 0.1, 0.9)
        k.sgd_momentum(got[0], got[1], grads, p.size, 0.1, 0.9)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert not grads.any()
    c = counters(7, 100)
    k.advance(c, 32)
    assert c.tolist() == [8, 132]


# ------------------------------------------------------- the one kernel list
def test_every_kernel_is_listed_once_and_everything_follows_the_list(k):
    listed = listed_kernel_names()  # the installed kernel_list.h, as Python reads it
    assert listed and len(set(listed)) == len(listed)
    # The emulator's table: kernel_table.h over the same X-macro, compiled.
    assert k.kernel_names() == listed
    # Where the extension is built, its table (and so the NVRTC entry names).
    assert kernel_names() == listed
    # Every kernel of the source is listed, and only those.
    source = (KERNEL_DIR / "cuda" / "device_kernels.cuh").read_text()
    assert sorted(re.findall(r"__global__\s+void\s+pyae_(\w+)\s*\(", source)) == sorted(listed)
    # Every listed kernel has its launch (shape, typed arguments) in Kernels,
    # and the NumPy stand-in of the GPU ops takes the same arguments.
    for name in listed:
        method = getattr(Kernels, name)
        assert signature_of(getattr(host_ops.HostOps, name)) == signature_of(method), name


def signature_of(f):
    return list(inspect.signature(f).parameters)


def test_the_list_parser_reads_the_x_macro_only():
    from pyae._gpu.kernels import parse_kernel_list

    text = """// X(comment, true) is not a kernel
#define PYAE_CUDA_KERNELS(X) \\
  X(one, false)             \\
  X( two ,true)
X(after, false)
"""
    assert parse_kernel_list(text) == ("one", "two")
    with pytest.raises(ValueError, match="no PYAE_CUDA_KERNELS"):
        parse_kernel_list("#define OTHER(X) X(a, false)")


# --------------------------------------------------------- argument checks
def extension_launch():
    try:
        from pyae import _cuda
    except ImportError as e:
        pytest.skip(f"pyae._cuda is not built ({e})")
    return _cuda.launch


@pytest.fixture(params=["emulator", "extension"])
def launch(request, k):
    """The emulator's launch and pyae._cuda.launch: the same C++ checks, so
    the same errors; the extension's are raised here without a GPU, before
    anything reaches CUDA."""
    if request.param == "emulator":
        return k.launch
    return extension_launch()


WRONG = [
    # (arguments of pyae_advance(unsigned long long* counters, int B), error)
    ([None], r"pyae_advance takes 2 arguments, got 1"),
    ([None, np.int32(1), np.int32(2)], r"pyae_advance takes 2 arguments, got 3"),
    ([None, np.int64(1)], r"argument 2 of 2: expected int32 \(4 bytes; a NumPy scalar of exactly "
                          r"that type\), got int64 \(8 bytes\)"),
    ([None, np.uint32(1)], r"argument 2 of 2: expected int32 .*, got uint32 \(4 bytes\)"),
    ([None, np.float32(1)], r"argument 2 of 2: expected int32 .*, got float32 \(4 bytes\)"),
    ([None, 1], r"argument 2 of 2: expected int32 .*, got a pointer \(8 bytes\)"),
    ([None, 1.0], r"argument 2 of 2: expected int32, got a Python float"),
    ([None, True], r"argument 2 of 2: expected int32, got a Python bool"),
    ([None, np.array([1, 2], np.int32)], r"argument 2 of 2: expected int32, got a .*ndarray "
                                         r"\(format 'i', 8 bytes\), not one scalar"),
    ([np.uint64(0), np.int32(1)], r"argument 1 of 2: expected a pointer \(8 bytes; a device "
                                  r"address: int, or None\), got uint64 \(8 bytes\)"),
    ([-8, np.int32(1)], r"argument 1 of 2: expected a pointer, got an int that is not an address"),
    ([None, np.array(1, ">i4")], r"argument 2 of 2: expected int32, got .*format '>i'"),
]


@pytest.mark.parametrize("args,error", WRONG)
def test_arguments_that_do_not_match_the_signature_are_refused(launch, args, error):
    with pytest.raises(TypeError, match=error):
        launch("advance", 1, 1, args)


def test_nothing_runs_when_an_argument_is_wrong(k):
    counters = np.array([5, 10], np.uint64)
    with pytest.raises(TypeError):
        k.launch("advance", 1, 1, [counters.ctypes.data, np.int64(3)])
    assert counters.tolist() == [5, 10]
    k.launch("advance", 1, 1, [counters.ctypes.data, np.int32(3)])
    assert counters.tolist() == [6, 13]
    # The longest signature, in full: 15 parameters, every kind.
    out = np.zeros(8, np.float32)
    args = [out.ctypes.data, None, np.uint64(8), np.int32(0), *[np.float32(0)] * 4, np.int32(1),
            np.uint64(3), np.uint64(4), None, np.uint64(0), np.uint64(0), np.uint64(64)]
    for i in range(len(args)):
        if args[i] is None or isinstance(args[i], int):
            continue
        wrong = list(args)
        wrong[i] = np.float64(0) if args[i].dtype != np.float64 else np.int64(0)
        with pytest.raises(TypeError, match=f"pyae_noise argument {i + 1} of 15"):
            k.launch("noise", 1, 64, wrong)
    assert not out.any()
    k.launch("noise", 1, 64, args)
    want = np.empty(8, np.float32)
    _core.philox_draws(want, True, 3, 4, 0)
    np.testing.assert_array_equal(out, want)


def test_unknown_kernels_shapes_and_argument_lists_are_refused(launch):
    with pytest.raises(ValueError, match=r"unknown kernel 'nope' \(the kernels: bias_activation, "):
        launch("nope", 1, 1, [])
    with pytest.raises(ValueError, match=r"pyae_advance: grid must be 1 \.\. 2\*\*31 - 1 blocks, "
                                         r"got 0"):
        launch("advance", 0, 1, [None, np.int32(1)])
    with pytest.raises(ValueError, match="block must be 1 .. 1024 threads, got 1025"):
        launch("advance", 1, 1025, [None, np.int32(1)])
    with pytest.raises(TypeError, match="the kernel's arguments must be a sequence"):
        launch("advance", 1, 1, 5)


@pytest.fixture
def emulated_gpu(k, monkeypatch):
    """device="cuda" runs the GPU step with the emulated kernels (and
    NumPy GEMMs standing in for cuBLAS)."""
    ops = host_ops.HostOps()
    for name in listed_kernel_names():
        setattr(ops, name, getattr(k, name))
    monkeypatch.setattr("pyae._device.cuda_ops", lambda: ops)
    return ops


def test_the_extension_takes_the_arguments_every_kernel_gets_in_training(emulated_gpu, k):
    """The launches of real training steps (every kernel), as Kernels makes
    them, replayed through pyae._cuda.launch: its table, deduced by nvcc from
    the same signatures, accepts every argument list, so without a GPU each
    launch gets past the checks to CUDA itself, which then reports that
    there is no device (host addresses are never dereferenced)."""
    launch = extension_launch()
    if pyae.cuda_available().state != "no device":
        pytest.skip("a GPU is here: test_cuda.py launches the kernels for real")
    X = np.random.default_rng(5).random((40, 6), dtype=np.float32)
    k.last_launch.clear()
    pyae.DenoisingAutoencoder(hidden=(4,), epochs=1, batch_size=16, verbose=False,
                              device="cuda").fit(X)
    pyae.VAE(hidden=(4,), latent_dim=2, optimizer="sgd", learning_rate=0.01, epochs=1,
             batch_size=16, verbose=False, device="cuda").fit(X)
    assert sorted(k.last_launch) == sorted(listed_kernel_names())
    for name, (grid, block, args) in k.last_launch.items():
        with pytest.raises(RuntimeError, match="CUDA error"):
            launch(name, grid, block, args)
