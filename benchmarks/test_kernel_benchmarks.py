"""Per-kernel benchmarks (pytest-benchmark), each grouped with its NumPy and
PyTorch counterparts and checking that they compute the same thing.

Not part of the test suite (pytest's testpaths is tests/); run with

    pip install pytest-benchmark torch==2.13.0
    pytest benchmarks/test_kernel_benchmarks.py --benchmark-group-by=group

Shapes are the 784-256 layer of the benchmark autoencoder at batch 128.
"""

import numpy as np
import pytest

import pyae
from pyae import _core, ops

torch = pytest.importorskip("torch")
pytest.importorskip("pytest_benchmark")

B, D_IN, D_OUT = 128, 784, 256
rng = np.random.default_rng(0)
X = rng.random((B, D_IN), dtype=np.float32)
W = (rng.standard_normal((D_OUT, D_IN)) * 0.05).astype(np.float32)
BIAS = rng.standard_normal(D_OUT).astype(np.float32)
OUT = np.empty((B, D_OUT), np.float32)


@pytest.fixture(autouse=True)
def one_thread():
    """Every library on one thread (NumPy's OpenBLAS included)."""
    from threadpoolctl import threadpool_limits

    pyae.set_num_threads(1)
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield


def numpy_dense():
    return 1 / (1 + np.exp(-(X @ W.T + BIAS)))


@pytest.mark.benchmark(group="dense forward 128x784->256 sigmoid")
def test_dense_forward_pyae(benchmark):
    out = benchmark(lambda: ops.dense_forward(X, W, BIAS, "sigmoid", out=OUT))
    np.testing.assert_allclose(out, numpy_dense(), atol=1e-5)


@pytest.mark.benchmark(group="dense forward 128x784->256 sigmoid")
def test_dense_forward_numpy(benchmark):
    benchmark(numpy_dense)


@pytest.mark.benchmark(group="dense forward 128x784->256 sigmoid")
def test_dense_forward_torch(benchmark):
    xt, wt, bt = torch.from_numpy(X), torch.from_numpy(W), torch.from_numpy(BIAS)
    out = benchmark(lambda: torch.sigmoid(torch.nn.functional.linear(xt, wt, bt)))
    np.testing.assert_allclose(out.numpy(), numpy_dense(), atol=1e-5)


DOUT = rng.standard_normal((B, D_OUT)).astype(np.float32)


@pytest.mark.benchmark(group="dense backward 128x784->256 sigmoid")
def test_dense_backward_pyae(benchmark):
    y = ops.dense_forward(X, W, BIAS)
    dx, dw, db = np.empty_like(X), np.empty_like(W), np.empty_like(BIAS)
    dpre = np.empty_like(DOUT)

    def run():
        dx.fill(0), dw.fill(0), db.fill(0)
        _core.dense_backward(dx, dw, db, dpre, DOUT, y, X, W, 1, False)

    benchmark(run)
    g = DOUT * y * (1 - y)
    np.testing.assert_allclose(dw, g.T @ X, rtol=1e-4, atol=1e-4)


@pytest.mark.benchmark(group="dense backward 128x784->256 sigmoid")
def test_dense_backward_torch(benchmark):
    xt = torch.from_numpy(X).requires_grad_()
    wt = torch.from_numpy(W.copy()).requires_grad_()
    bt = torch.from_numpy(BIAS.copy()).requires_grad_()
    y = torch.sigmoid(torch.nn.functional.linear(xt, wt, bt))
    g = torch.from_numpy(DOUT)
    benchmark(lambda: torch.autograd.grad(y, (xt, wt, bt), g, retain_graph=True))


NOISE_X = rng.random((1024, 784), dtype=np.float32)
NOISE_OUT = np.empty_like(NOISE_X)


@pytest.mark.benchmark(group="gaussian noise 1024x784 + clip")
def test_noise_pyae(benchmark):
    benchmark(lambda: _core.corrupt(NOISE_OUT, NOISE_X, 1, 0.5, 0.0, 0.0, 1.0, 1, 0, 0))
    d = NOISE_OUT - NOISE_X
    inner = (NOISE_OUT > 0) & (NOISE_OUT < 1)
    assert abs(d[inner].std() / 0.5 - 1) < 0.35  # clipping shrinks the spread a little


@pytest.mark.benchmark(group="gaussian noise 1024x784 + clip")
def test_noise_numpy(benchmark):
    g = np.random.default_rng(0)
    benchmark(lambda: np.clip(NOISE_X + 0.5 * g.standard_normal(NOISE_X.shape, np.float32), 0, 1))


@pytest.mark.benchmark(group="gaussian noise 1024x784 + clip")
def test_noise_torch(benchmark):
    xt = torch.from_numpy(NOISE_X)
    benchmark(lambda: torch.clamp(xt + 0.5 * torch.randn(xt.shape), 0, 1))


P = rng.standard_normal(435_536).astype(np.float32)
G = rng.standard_normal(P.size).astype(np.float32)


@pytest.mark.benchmark(group="adam step, 435k parameters")
def test_adam_pyae(benchmark):
    p, m, v = P.copy(), np.zeros_like(P), np.zeros_like(P)
    benchmark(lambda: ops.adam_update(p, G, m, v, step=1))


@pytest.mark.benchmark(group="adam step, 435k parameters")
def test_adam_torch(benchmark):
    p = torch.from_numpy(P.copy()).requires_grad_()
    p.grad = torch.from_numpy(G)
    opt = torch.optim.Adam([p], lr=1e-3)
    benchmark(opt.step)
