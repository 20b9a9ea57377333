"""Every kernel against the float64 reference, and every backward against
float64 central differences."""

import numpy as np
import pytest

import pyae
from pyae import _core, _reference as ref, ops
from pyae._enums import ACTIVATIONS

SHAPES = [(1, 1, 1), (1, 784, 256), (3, 7, 5), (3, 1000, 3), (16, 784, 256), (32, 256, 784),
          (128, 784, 256), (1000, 33, 17), (257, 64, 31)]
ACTS = sorted(ACTIVATIONS)  # every activation the C++ enum has


def f32(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def test_fast_path_is_the_vector_one():
    # On x86-64 the multiversioned loops must dispatch to an AVX clone when the
    # CPU has one; anything else means the build lost its clones.
    import platform

    level = pyae.simd_level()
    if platform.machine() == "x86_64":
        with open("/proc/cpuinfo") as f:
            flags = f.read()
        if " avx512f " in flags and " avx512bw " in flags:
            assert level.startswith("x86-64-v4")
        elif " avx2 " in flags and " fma " in flags:
            assert level.startswith("x86-64-v3")


@pytest.mark.parametrize("B,D_in,D_out", SHAPES)
@pytest.mark.parametrize("act", ACTS)
def test_dense_forward_matches_reference(rng, B, D_in, D_out, act):
    x, W, b = f32(rng, B, D_in), f32(rng, D_out, D_in, scale=0.2), f32(rng, D_out)
    out = ops.dense_forward(x, W, b, act)
    want = ref.dense_forward(x, W, b, act)
    # float32 GEMM over D_in terms: error grows like sqrt(D_in) * eps * |terms|.
    tol = 2e-6 * np.sqrt(D_in) * max(1.0, np.abs(want).max())
    np.testing.assert_allclose(out, want, atol=tol, rtol=1e-5)


@pytest.mark.parametrize("B,D_in,D_out", SHAPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("transposed", [False, True])
def test_dense_backward_matches_reference(rng, B, D_in, D_out, act, transposed):
    x = f32(rng, B, D_in)
    W = f32(rng, *((D_in, D_out) if transposed else (D_out, D_in)), scale=0.2)
    b, dout = f32(rng, D_out), f32(rng, B, D_out)
    out, pre = np.empty((B, D_out), np.float32), np.empty((B, D_out), np.float32)
    _core.dense_forward(out, x, W, b, ACTIVATIONS[act], transposed, pre)
    np.testing.assert_allclose(out, ref.dense_forward(x, W, b, act, transposed), atol=1e-4)
    dx, dW, db = np.zeros_like(x), np.zeros_like(W), np.zeros_like(b)
    dpre = np.empty_like(dout)
    _core.dense_backward(dx, dW, db, dpre, dout, out, x, W, ACTIVATIONS[act], transposed, pre)
    rx, rW, rb = ref.dense_backward(dout, out, x, W, act, transposed, bias=b)
    for got, want, k in ((dx, rx, D_out), (dW, rW, B), (db, rb, B)):
        tol = 2e-6 * np.sqrt(k) * max(1.0, np.abs(want).max())
        np.testing.assert_allclose(got, want, atol=tol, rtol=1e-5)


@pytest.mark.parametrize("act", ACTS)
def test_dense_backward_matches_central_differences(rng, act):
    B, D_in, D_out = 4, 6, 5
    x, W, b = f32(rng, B, D_in), f32(rng, D_out, D_in, scale=0.5), f32(rng, D_out)
    if act in ("relu", "leaky_relu", "elu"):  # keep pre-activations away from the kink
        b += np.float32(0.05) * np.sign(b)
    proj = rng.standard_normal((B, D_out))  # L = sum(proj * out)
    pre = np.empty((B, D_out), np.float32)
    out = ops.dense_forward(x, W, b, act, pre=pre)
    dx, dW, db = ops.dense_backward(proj.astype(np.float32), out, x, W, act, pre=pre)

    def loss(x_, W_, b_):
        return float((proj * ref.dense_forward(x_, W_, b_, act)).sum())

    h = 1e-6
    for arr, grad in ((x, dx), (W, dW), (b, db)):
        base = [x.astype(np.float64), W.astype(np.float64), b.astype(np.float64)]
        which = [x is arr, W is arr, b is arr].index(True)
        num = np.zeros(arr.shape)
        for idx in np.ndindex(arr.shape):
            plus = [a.copy() for a in base]
            minus = [a.copy() for a in base]
            plus[which][idx] += h
            minus[which][idx] -= h
            num[idx] = (loss(*plus) - loss(*minus)) / (2 * h)
        np.testing.assert_allclose(grad, num, rtol=1e-4, atol=1e-5)


def test_backward_accumulates_and_dinp_is_optional(rng):
    x, W, b, dout = f32(rng, 5, 4), f32(rng, 3, 4), f32(rng, 3), f32(rng, 5, 3)
    out = ops.dense_forward(x, W, b)
    dx1, dW1, db1 = ops.dense_backward(dout, out, x, W)
    dx2, dW2, db2 = ops.dense_backward(dout, out, x, W, dinp=dx1.copy(), dweight=dW1.copy(),
                                       dbias=db1.copy())
    np.testing.assert_allclose(dx2, 2 * dx1, rtol=1e-6)
    np.testing.assert_allclose(dW2, 2 * dW1, rtol=1e-6)
    np.testing.assert_allclose(db2, 2 * db1, rtol=1e-6)
    dx3, dW3, _ = ops.dense_backward(dout, out, x, W, need_dinp=False)
    assert dx3 is None
    np.testing.assert_array_equal(dW3, dW1)


@pytest.mark.parametrize("act", ACTS)
def test_activation_extremes_are_finite_and_exact(act):
    x = np.array([-1e30, -1e4, -100, -20, -1e-8, 0, 1e-8, 20, 100, 1e4, 1e30], np.float32)
    y = ops.activation(x, act)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, ref.activation(x, act), rtol=2e-6, atol=1e-30)


def test_activation_dense_grid_accuracy():
    x = np.linspace(-30, 30, 200001, dtype=np.float32)
    for act in ("sigmoid", "tanh"):
        np.testing.assert_allclose(ops.activation(x, act), ref.activation(x, act), rtol=3e-7,
                                   atol=1e-37)


@pytest.mark.parametrize("B,D", [(1, 1), (3, 7), (128, 784), (1000, 3)])
def test_losses_match_reference(rng, B, D):
    pred = rng.random((B, D), dtype=np.float32)
    target = rng.random((B, D), dtype=np.float32)
    logits = f32(rng, B, D, scale=5.0)
    for fn, refn, a in ((ops.mse_loss, ref.mse_loss, pred),
                        (ops.bce_with_logits_loss, ref.bce_with_logits_loss, logits)):
        loss, grad, rows = fn(a, target)
        rl, rg, rr = refn(a, target)
        assert loss == pytest.approx(rl, rel=1e-6)
        # sigmoid(z) - t cancels: float32 leaves ~1e-7 absolute, then / (B*D).
        np.testing.assert_allclose(grad, rg, rtol=1e-5, atol=2e-7 / (B * D))
        np.testing.assert_allclose(rows, rr, rtol=1e-5)


def test_bce_is_stable_for_saturated_logits():
    z = np.array([[-1e4, -100.0, -30.0, 30.0, 100.0, 1e4]], np.float32)
    t = np.array([[0.0, 1.0, 0.5, 0.5, 0.0, 1.0]], np.float32)
    loss, grad, rows = ops.bce_with_logits_loss(z, t)
    rl, rg, _ = ref.bce_with_logits_loss(z, t)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    assert loss == pytest.approx(rl, rel=1e-6)
    np.testing.assert_allclose(grad, rg, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", ["mse", "bce"])
def test_loss_gradients_match_central_differences(rng, name):
    a = f32(rng, 3, 4)
    t = rng.random((3, 4), dtype=np.float32)
    fn = ops.mse_loss if name == "mse" else ops.bce_with_logits_loss
    refn = ref.mse_loss if name == "mse" else ref.bce_with_logits_loss
    _, grad, _ = fn(a, t)
    h = 1e-6
    num = np.zeros(a.shape)
    for idx in np.ndindex(a.shape):
        p, m = a.astype(np.float64), a.astype(np.float64)
        p[idx] += h
        m[idx] -= h
        num[idx] = (refn(p, t)[0] - refn(m, t)[0]) / (2 * h)
    np.testing.assert_allclose(grad, num, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("n", [1, 7, 1000, 100003])
def test_adam_matches_reference_over_steps(rng, n):
    p, m, v = f32(rng, n), np.zeros(n, np.float32), np.zeros(n, np.float32)
    rp, rm, rv = p.astype(np.float64), np.zeros(n), np.zeros(n)
    for step in range(1, 6):
        g = f32(rng, n)
        ops.adam_update(p, g, m, v, step=step, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8)
        rp, rm, rv = ref.adam_update(rp, g, rm, rv, step, 1e-2, 0.9, 0.999, 1e-8)
    np.testing.assert_allclose(p, rp, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m, rm, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(v, rv, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("n", [1, 1000, 100003])
def test_sgd_momentum_matches_reference(rng, n):
    p, buf = f32(rng, n), np.zeros(n, np.float32)
    rp, rb = p.astype(np.float64), np.zeros(n)
    for _ in range(5):
        g = f32(rng, n)
        ops.sgd_momentum_update(p, g, buf, lr=0.1, momentum=0.9)
        rp, rb = ref.sgd_momentum_update(rp, g, rb, 0.1, 0.9)
    np.testing.assert_allclose(p, rp, rtol=1e-5, atol=1e-6)


def test_optimiser_moments_never_go_subnormal():
    """A moment whose gradient has become zero decays by beta each step; below
    the smallest normal float it is flushed to 0 instead of going subnormal
    (arithmetic on subnormals is ~100x slower on CPUs). Above it, nothing
    changes: the same moment one step earlier is still the reference's."""
    tiny = np.finfo(np.float32).tiny  # 1.1754944e-38
    n = 3
    p = np.ones(n, np.float32)
    m = np.array([1.4e-38, 1.3e-38, 0.5], np.float32)
    v = np.array([2e-38, 1e-30, 0.25], np.float32)
    zero = np.zeros(n, np.float32)
    seen = []
    for step in range(1, 40):
        ops.adam_update(p, zero.copy(), m, v, step=step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
        seen.append((m.copy(), v.copy()))
    for m_t, v_t in seen:
        for x in (m_t, v_t):
            assert not np.any((x != 0) & (np.abs(x) < tiny)), x  # 0 or normal, never between
    assert seen[0][0][0] == np.float32(1.4e-38) + np.float32(0.1) * -np.float32(1.4e-38)  # normal
    assert seen[1][0][0] == 0.0  # 1.4e-38 * 0.81 < tiny
    assert seen[0][0][1] == 0.0  # 1.3e-38 * 0.9 < tiny
    assert seen[-1][0][2] > 0.0 and seen[-1][1][1] > 0.0  # normal moments keep decaying
    buf = np.array([1.4e-38, 0.5], np.float32)
    q = np.ones(2, np.float32)
    for _ in range(3):
        ops.sgd_momentum_update(q, np.zeros(2, np.float32), buf, lr=0.1, momentum=0.9)
        assert not np.any((buf != 0) & (np.abs(buf) < tiny))
    assert buf[0] == 0.0 and buf[1] > 0.0


@pytest.mark.parametrize("eps", [1e-8, 1e-20, 1e-30])
def test_adam_keeps_a_tiny_gradients_step_whatever_eps(eps):
    """The second moment is flushed only with the first: v of a 1e-18
    gradient is subnormal (1e-39) while m is not, and flushing v alone
    made the step m / eps (1e9 at eps 1e-30) instead of about lr."""
    g = np.array([1e-17, 1e-18, 1e-19], np.float32)
    p, m, v = np.zeros(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32)
    ops.adam_update(p, g.copy(), m, v, step=1, lr=1e-3, beta1=0.9, beta2=0.999, eps=eps)
    rp, _, _ = ref.adam_update(np.zeros(3), g, np.zeros(3), np.zeros(3), 1, 1e-3, 0.9, 0.999, eps)
    np.testing.assert_allclose(p, rp, rtol=1e-4, atol=1e-20)


def test_an_eps_that_is_zero_in_float32_is_refused():
    X = np.random.default_rng(0).random((20, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="positive float32"):
        pyae.Autoencoder(hidden=(3,), eps=1e-50, epochs=1, verbose=False).fit(X)


def test_kernels_give_identical_bits_for_a_given_thread_count(rng, threads):
    x, W, b = f32(rng, 300, 500), f32(rng, 200, 500, scale=0.1), f32(rng, 200)
    results = {}
    for t in (1, 2, 3):
        pyae.set_num_threads(t)
        out = ops.dense_forward(x, W, b)
        again = ops.dense_forward(x, W, b)
        np.testing.assert_array_equal(out, again)
        results[t] = out
    for t in (2, 3):  # different tilings still agree to float32 rounding
        np.testing.assert_allclose(results[t], results[1], rtol=1e-5, atol=1e-6)


def test_ops_reject_bad_arrays(rng):
    x, W, b = f32(rng, 3, 4), f32(rng, 2, 4), f32(rng, 2)
    with pytest.raises(TypeError, match="float32"):
        ops.dense_forward(x.astype(np.float64), W, b)
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.dense_forward(np.asfortranarray(x), W, b)
    with pytest.raises(ValueError, match="shape"):
        ops.dense_forward(x, f32(rng, 2, 5), b)
    with pytest.raises(ValueError, match="activation"):
        ops.dense_forward(x, W, b, "swish")
    with pytest.raises(ValueError, match="shape"):
        ops.dense_forward(x, W, b, out=np.empty((3, 3), np.float32))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        ops.dense_forward(x.tolist(), W, b)
    with pytest.raises(ValueError, match="shape"):
        ops.mse_loss(x, f32(rng, 3, 5))


@pytest.mark.parametrize("n", [1, 15, 16, 17, 1000, 100003])
def test_all_finite(n):
    x = np.full(n, 3e38, np.float32)
    assert _core.all_finite(x)
    for bad in (np.nan, np.inf, -np.inf):
        for pos in {0, n // 2, n - 1}:
            y = x.copy()
            y[pos] = bad
            assert not _core.all_finite(y)


@pytest.mark.parametrize("act", ["gelu", "silu"])
def test_activations_needing_the_preactivation_refuse_to_run_without_it(rng, act):
    x, W, b = f32(rng, 3, 4), f32(rng, 2, 4), f32(rng, 2)
    out = ops.dense_forward(x, W, b, act)
    with pytest.raises(ValueError, match="needs pre"):
        ops.dense_backward(out, out, x, W, act)
    assert _core.needs_preactivation(ACTIVATIONS[act])
    assert not _core.needs_preactivation(ACTIVATIONS["sigmoid"])


def test_enums_are_real_enums_and_unknown_codes_never_run(rng):
    """Codes cross the bindings as enums; a bad code is an error, never a
    silent identity."""
    x, W, b = f32(rng, 3, 4), f32(rng, 2, 4), f32(rng, 2)
    out = np.empty((3, 2), np.float32)
    with pytest.raises(TypeError):
        _core.dense_forward(out, x, W, b, 1, False)  # a plain int is not an Activation
    bogus = _core.Activation(99)  # pybind11 lets a cast make one; C++ must refuse it
    with pytest.raises(ValueError, match="unknown activation code 99"):
        _core.dense_forward(out, x, W, b, bogus, False)
    with pytest.raises(ValueError, match="unknown activation code 99"):
        _core.LayerTable([_core.LayerSpec(4, 2, bogus, _core.LayerRole.encoder),
                          _core.LayerSpec(2, 4, ACTIVATIONS["sigmoid"], _core.LayerRole.decoder)])
    with pytest.raises(ValueError, match="unknown activation code 99"):
        _core.activation_forward(out, out.copy(), bogus)
    with pytest.raises(ValueError, match="unknown noise kind"):
        _core.corrupt(out, out.copy(), _core.NoiseKind(42), 0.1, 0, 0, 1, 0, 0, 0)


@pytest.mark.parametrize("act", ACTS)
def test_activation_gradient_extremes_are_finite_and_exact(act):
    """d act/dx through a 1x1 identity layer, at the same extremes."""
    x = np.array([-1e30, -1e4, -100, -20, -1e-8, 1e-8, 20, 100, 1e4, 1e30], np.float32)[:, None]
    W, b = np.ones((1, 1), np.float32), np.zeros(1, np.float32)
    pre = np.empty_like(x)
    out = ops.dense_forward(x, W, b, act, pre=pre)
    dx, _, _ = ops.dense_backward(np.ones_like(x), out, x, W, act, pre=pre)
    assert np.isfinite(dx).all()
    want = ref.activation_grad(ref.activation(x, act), x, act)
    # Gradients formed from the float32 output (sigmoid, tanh, elu) are exact
    # to that output's rounding: near saturation y rounds to +-1 (ulp 6e-8).
    np.testing.assert_allclose(dx, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("act", ["gelu", "silu", "elu", "leaky_relu"])
def test_new_activations_and_their_gradients_at_infinity_are_not_nan(act):
    """Reachable only through an overflowed pre-activation, but then the
    answer is the limit (as for the other activations), never NaN."""
    x = np.array([[-np.inf], [np.inf]], np.float32)
    y = np.empty_like(x)
    _core.activation_forward(y, x, ACTIVATIONS[act])
    assert not np.isnan(y).any(), y
    W, b = np.ones((1, 1), np.float32), np.zeros(1, np.float32)
    dx, dW, db, dpre = np.zeros_like(x), np.zeros_like(W), np.zeros_like(b), np.empty_like(x)
    _core.dense_backward(dx, dW, db, dpre, np.ones_like(x), y, x, W, ACTIVATIONS[act], False, x)
    assert not np.isnan(dpre).any(), dpre


@pytest.mark.parametrize("act", ACTS)
def test_every_activation_path_gives_the_scalar_formulas_bits(act):
    """activation_forward takes this CPU's path (the hand-written AVX-512
    sigmoid, else the compiler's ISA clones); the scalar formula compiled for
    the baseline ISA is the reference, bit for bit, on 2^21 random bit
    patterns (every binade) and the special values. NaN stays NaN."""
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**32, size=1 << 21, dtype=np.uint64).astype(np.uint32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 87.3, -87.3, 88.0, -88.0, 87.4,
                         -87.4, 1e-45, -1e-45, 2.0**-126, 1.0, -1.0, 0.5, -0.5], np.float32)
    x = np.concatenate([bits.view(np.float32), specials])
    got, want = np.empty_like(x), np.empty_like(x)
    _core.activation_forward(got, x, ACTIVATIONS[act])
    _core.activation_reference(want, x, ACTIVATIONS[act])
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("cols", [1, 16, 37])
def test_the_dense_epilogue_gives_the_scalar_formulas_bits(act, cols):
    """The bias + activation epilogue of a dense layer (AVX-512 for the
    sigmoid, masked at the ragged end), through an identity weight: out =
    act(x + b) and pre = x + b exactly, against the scalar formula."""
    rng = np.random.default_rng(cols)
    x = (rng.standard_normal((5, cols)) * 30).astype(np.float32)
    b = (rng.standard_normal(cols) * 3).astype(np.float32)
    W = np.eye(cols, dtype=np.float32)
    out, pre = np.empty_like(x), np.empty_like(x)
    _core.dense_forward(out, x, W, b, ACTIVATIONS[act], False, pre)
    np.testing.assert_array_equal(pre, x + b)
    want = np.empty_like(x)
    _core.activation_reference(want, x + b, ACTIVATIONS[act])
    np.testing.assert_array_equal(out.view(np.uint32), want.view(np.uint32))
