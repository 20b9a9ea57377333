"""GPU kernels (pyae._cuda) against the CPU ones. Without a usable GPU these
tests skip with the reason pyae.cuda_available() gives; the status checks
run everywhere."""

import numpy as np
import pytest

import pyae
from pyae import _core, _reference as ref

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


@pytest.fixture(scope="module")
def cp():
    if not STATUS:
        pytest.skip(STATUS.reason)
    return pytest.importorskip("cupy", reason="the GPU kernel tests drive pyae._cuda with CuPy")


def dptr(a):
    return a.data.ptr


@pytest.mark.parametrize("kind,a,b,lo,hi", [(1, 0.5, 0, 0, 1), (2, 0.2, 0.3, 0, 1),
                                            (3, 0.4, 0, 0, 0)])
@pytest.mark.parametrize("first", [0, 77, 1000])
def test_noise_is_bit_identical_to_the_cpu(cp, kind, a, b, lo, hi, first):
    from pyae import _cuda

    x = np.random.default_rng(0).random(100_003, dtype=np.float32)
    want = np.empty_like(x)
    _core.corrupt(want, x, kind, a, b, lo, hi, 5, 9, first)
    xd, out = cp.asarray(x), cp.empty(x.size, cp.float32)
    _cuda.corrupt(dptr(out), dptr(xd), x.size, kind, a, b, lo, hi, 5, 9, first, 0)
    np.testing.assert_array_equal(cp.asnumpy(out), want)
    for normal in (False, True):
        cpu = np.empty(5000, np.float32)
        _core.philox_draws(cpu, normal, 3, 4, first)
        gpu = cp.empty(5000, cp.float32)
        _cuda.philox_draws(dptr(gpu), 5000, normal, 3, 4, first, 0)
        np.testing.assert_array_equal(cp.asnumpy(gpu), cpu)


@pytest.mark.parametrize("act", [0, 1, 2, 3])
def test_dense_epilogue_and_backward(cp, act):
    from pyae import _cuda
    from pyae._enums import ACTIVATIONS

    name = {v: k for k, v in ACTIVATIONS.items()}[act]
    rng = np.random.default_rng(1)
    pre, bias = rng.standard_normal((129, 300)).astype(np.float32), rng.standard_normal(300).astype(np.float32)
    out = cp.asarray(pre)
    _cuda.bias_activation(dptr(out), dptr(cp.asarray(bias)), 129, 300, act, 0)
    want = ref.activation(pre.astype(np.float64) + bias, name)
    np.testing.assert_allclose(cp.asnumpy(out), want, rtol=2e-6, atol=1e-6)
    dout = rng.standard_normal((129, 300)).astype(np.float32)
    dpre, dbias = cp.empty((129, 300), cp.float32), cp.zeros(300, cp.float32)
    _cuda.activation_backward(dptr(dpre), dptr(dbias), dptr(cp.asarray(dout)), dptr(out), 129,
                              300, act, 0)
    g = dout * ref.activation_grad_from_output(cp.asnumpy(out), name)
    np.testing.assert_allclose(cp.asnumpy(dpre), g, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cp.asnumpy(dbias), g.sum(0), rtol=1e-4, atol=1e-4)


def test_vae_kernels_and_losses(cp):
    from pyae import _cuda

    rng = np.random.default_rng(2)
    B, Z, D = 64, 20, 50
    ml = rng.standard_normal((B, 2 * Z)).astype(np.float32)
    eps = rng.standard_normal((B, Z)).astype(np.float32)
    z = cp.empty((B, Z), cp.float32)
    _cuda.reparameterize_forward(dptr(z), dptr(cp.asarray(ml)), dptr(cp.asarray(eps)), B, Z, 0)
    np.testing.assert_allclose(cp.asnumpy(z), ref.reparameterize(ml, eps), rtol=2e-6, atol=2e-6)
    rows, dml = cp.empty(B, cp.float32), cp.zeros((B, 2 * Z), cp.float32)
    _cuda.kl_backward(dptr(dml), dptr(rows), dptr(cp.asarray(ml)), B, Z, 0.5, 0)
    np.testing.assert_allclose(cp.asnumpy(rows), ref.kl_divergence(ml), rtol=1e-5, atol=1e-5)
    pred, t = rng.standard_normal((B, D)).astype(np.float32), rng.random((B, D), dtype=np.float32)
    for bce in (False, True):
        grad, rs = cp.zeros((B, D), cp.float32), cp.empty(B, cp.float32)
        _cuda.loss_rows(dptr(grad), dptr(rs), dptr(cp.asarray(pred)), dptr(cp.asarray(t)), B, D,
                        bce, 1.0, 0)
        want = ref.reconstruction_nll(pred, t, "bce") if bce else ((pred - t) ** 2).sum(1)
        np.testing.assert_allclose(cp.asnumpy(rs), want, rtol=1e-5)


def test_optimizers_match_the_cpu(cp):
    from pyae import _cuda

    rng = np.random.default_rng(3)
    p, g = rng.standard_normal(10_001).astype(np.float32), rng.standard_normal(10_001).astype(np.float32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    pc = p.copy()
    _core.adam_update(pc, m.copy(), v.copy(), g.copy(), 1e-2, 0.9, 0.999, 1e-8, 1)
    pd, md, vd = cp.asarray(p), cp.zeros_like(cp.asarray(p)), cp.zeros_like(cp.asarray(p))
    bc1, bc2 = 1 - 0.9, 1 - 0.999
    _cuda.adam_update(dptr(pd), dptr(md), dptr(vd), dptr(cp.asarray(g)), p.size, 0.1, 0.999,
                      0.001, 1e-2 / bc1, bc2 ** 0.5, 1e-8, 0)
    np.testing.assert_allclose(cp.asnumpy(pd), pc, rtol=1e-6, atol=1e-7)
