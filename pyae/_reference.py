"""Plain NumPy float64 references for every kernel: the oracle of the tests.

Written for clarity, not speed; shapes follow the C++ kernels (csrc/).
"""

from __future__ import annotations

import numpy as np


from math import erf as _erf

_LEAKY_SLOPE, _ELU_ALPHA = 0.01, 1.0  # csrc/math/enums.h


def _normal_cdf(x):
    return 0.5 * (1.0 + np.vectorize(_erf, otypes=[np.float64])(x / np.sqrt(2.0)))


def _normal_pdf(x):
    return np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


def _sigmoid(x):  # exp of -|x| only: no overflow, no cancellation
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def activation(x, name):
    x = np.asarray(x, dtype=np.float64)
    if name == "sigmoid":
        return _sigmoid(x)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "tanh":
        return np.tanh(x)
    if name == "identity":
        return x.copy()
    if name == "leaky_relu":
        return np.where(x > 0, x, _LEAKY_SLOPE * x)
    if name == "elu":
        return np.where(x > 0, x, _ELU_ALPHA * np.expm1(np.minimum(x, 0.0)))
    if name == "gelu":
        return x * _normal_cdf(x)
    if name == "silu":
        return x * _sigmoid(x)
    raise ValueError(name)


def activation_grad(y, x, name):
    """d act / d pre-activation at pre-activation x with output y (GELU and
    SiLU read x, every other activation only y, as the kernels do)."""
    y = np.asarray(y, dtype=np.float64)
    if name == "sigmoid":
        return y * (1.0 - y)
    if name == "relu":
        return (y > 0).astype(np.float64)
    if name == "tanh":
        return 1.0 - y * y
    if name == "identity":
        return np.ones_like(y)
    if name == "leaky_relu":
        return np.where(y > 0, 1.0, _LEAKY_SLOPE)
    if name == "elu":
        return np.where(y > 0, 1.0, y + _ELU_ALPHA)
    x = np.asarray(x, dtype=np.float64)
    if name == "gelu":
        return _normal_cdf(x) + x * _normal_pdf(x)
    if name == "silu":
        s = _sigmoid(x)
        return s * (1.0 + x * (1.0 - s))
    raise ValueError(name)


def effective_weight(weight, transposed):
    """The (D_out, D_in) matrix a layer applies."""
    w = np.asarray(weight, dtype=np.float64)
    return w.T if transposed else w


def dense_forward(inp, weight, bias, act, transposed=False):
    w = effective_weight(weight, transposed)
    return activation(np.asarray(inp, np.float64) @ w.T + np.asarray(bias, np.float64), act)


def dense_backward(dout, out, inp, weight, act, transposed=False, bias=None):
    """Returns (dinp, dweight, dbias); dweight has the stored layout. GELU
    and SiLU need the bias to form the pre-activation."""
    w = effective_weight(weight, transposed)
    pre = None
    if act in ("gelu", "silu"):
        pre = np.asarray(inp, np.float64) @ w.T + np.asarray(bias, np.float64)
    dpre = np.asarray(dout, np.float64) * activation_grad(out, pre, act)
    dw = dpre.T @ np.asarray(inp, np.float64)
    return dpre @ w, (dw.T if transposed else dw), dpre.sum(axis=0)


# ---------------------------------------------------------------- bf16
def round_bf16(x):
    """float32 values rounded to bfloat16 (nearest even), returned as
    float32: NaN stays NaN (quiet), subnormals become signed zero (the
    hardware treats bf16 subnormals as zero), overflow rounds to inf.
    csrc/kernels/bf16_gemm.cpp: bf16_bits."""
    u = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    mag = u & 0x7FFFFFFF
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF
    bits = np.where(mag > 0x7F800000, ((u >> 16) | 0x40) & 0xFFFF,
                    np.where(mag < 0x00800000, (u >> 16) & 0x8000, rounded))
    return (bits.astype(np.uint32) << 16).view(np.float32).reshape(np.shape(x))


def bf16_gemm_dot_products(a, b):
    """bf16(a) (M, K) . bf16(b) (K, N) in float32 exactly as the
    AVX512-BF16 path sums: one accumulator per output, per k-pair first
    += a[2p+1] b[2p+1] then += a[2p] b[2p] (each product exact in float32,
    each sum rounded), pairs ascending. The product of two bf16 values fits
    float32's mantissa, so only the additions round."""
    a, b = round_bf16(a), round_bf16(b)
    if a.shape[1] % 2:
        a = np.pad(a, ((0, 0), (0, 1)))
        b = np.pad(b, ((0, 1), (0, 0)))
    acc = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for p in range(a.shape[1] // 2):
        for k in (2 * p + 1, 2 * p):
            acc = acc + np.outer(a[:, k], b[k]).astype(np.float32)
    return acc


def bf16_gemm_error_bound(a, b):
    """|C - exact| <= K 2^-24 sum_k |a b| for any float32 summation order of
    the K exact products of bf16(a) and bf16(b) (the AMX path's bound)."""
    a64 = np.abs(round_bf16(a).astype(np.float64))
    b64 = np.abs(round_bf16(b).astype(np.float64))
    return a.shape[1] * 2.0**-24 * (a64 @ b64)


def bf16_dense_forward(inp, weight, bias, act, transposed=False):
    """A precision="bf16" layer: the GEMM's operands rounded, the rest exact."""
    w = round_bf16(np.asarray(effective_weight(weight, transposed), np.float32))
    x = round_bf16(np.asarray(inp, np.float32))
    pre = x.astype(np.float64) @ w.astype(np.float64).T + np.asarray(bias, np.float64)
    return activation(pre, act), pre


def bf16_dense_backward(dout, out, pre, inp, weight, act, transposed=False):
    """(dinp, dweight (stored layout), dbias) of a precision="bf16" layer:
    both backward GEMMs take bf16-rounded operands (dpre, the input, the weight)."""
    w = round_bf16(np.asarray(effective_weight(weight, transposed), np.float32)).astype(np.float64)
    dpre = np.asarray(dout, np.float64) * activation_grad(out, pre, act)
    dp = round_bf16(dpre.astype(np.float32)).astype(np.float64)
    dw = dp.T @ round_bf16(np.asarray(inp, np.float32)).astype(np.float64)
    return dp @ w, (dw.T if transposed else dw), dpre.sum(axis=0)


def quantise_int8_rows(x):
    """Per-row symmetric int8 quantisation as precision="int8" does it:
    (q int64 in [-127, 127], scale float32 (rows, 1)), all in float32:
    q = rint(x * (127 / max|x|)), scale = max|x| / 127 (0 for a zero row)."""
    x = np.asarray(x, np.float32)
    m = np.abs(x).max(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inv = (np.float32(127) / m).astype(np.float32)
        zero = ~np.isfinite(inv)  # a zero row, or 127 / max past float32: q = 0, scale 0
        q = np.rint(np.where(zero, np.float32(0), x * inv).astype(np.float32)).astype(np.int64)
    return q, np.where(zero, np.float32(0), m / np.float32(127)).astype(np.float32)


def int8_gemm(a, b):
    """a (M, K) . b (K, N) as the int8 kernels compute it: a quantised per
    row, b per column, the exact integer sum as float32 times scale_a[m]
    then scale_b[n] (csrc/kernels/int8_gemm.h)."""
    qa, sa = quantise_int8_rows(a)
    qb, sb = quantise_int8_rows(np.asarray(b, np.float32).T)
    acc = (qa @ qb.T).astype(np.float32)
    return ((acc * sa).astype(np.float32) * sb.T).astype(np.float32)


def mse_loss(pred, target):
    """Mean over all elements; returns (loss, dL/dpred, per-sample mean)."""
    diff = np.asarray(pred, np.float64) - np.asarray(target, np.float64)
    return (diff**2).mean(), 2.0 * diff / diff.size, (diff**2).mean(axis=1)


def bce_with_logits_loss(logits, target):
    z = np.asarray(logits, np.float64)
    t = np.asarray(target, np.float64)
    elem = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    return elem.mean(), (activation(z, "sigmoid") - t) / z.size, elem.mean(axis=1)


def adam_update(params, grads, m, v, step, lr, beta1, beta2, eps):
    """torch.optim.Adam's formula; returns new (params, m, v)."""
    g = np.asarray(grads, np.float64)
    m = beta1 * np.asarray(m, np.float64) + (1 - beta1) * g
    v = beta2 * np.asarray(v, np.float64) + (1 - beta2) * g * g
    bc1 = 1 - beta1**step
    bc2 = 1 - beta2**step
    p = np.asarray(params, np.float64) - lr / bc1 * m / (np.sqrt(v) / np.sqrt(bc2) + eps)
    return p, m, v


def sgd_momentum_update(params, grads, buf, lr, momentum):
    buf = momentum * np.asarray(buf, np.float64) + np.asarray(grads, np.float64)
    return np.asarray(params, np.float64) - lr * buf, buf


def unpack(table, params):
    """The float64 (weights, biases, transposed, activation names) of a flat
    parameter vector laid out by a layer table (pyae._core.LayerTable)."""
    params = np.asarray(params, np.float64)
    ws, bs, ts, acts = [], [], [], []
    for row in table.layers:
        owner = table[row.tied_to] if row.tied_to >= 0 else row
        n = owner.d_in * owner.d_out
        ws.append(params[row.weight_offset:row.weight_offset + n].reshape(owner.d_out, owner.d_in))
        bs.append(params[row.bias_offset:row.bias_offset + row.d_out])
        ts.append(row.tied_to >= 0)
        acts.append(row.activation.name)
    return ws, bs, ts, acts


def network_forward(weights, biases, transposed, acts, x):
    """Forward through a list of layers; returns every activation."""
    outs = [np.asarray(x, np.float64)]
    for w, b, t, a in zip(weights, biases, transposed, acts):
        outs.append(dense_forward(outs[-1], w, b, a, t))
    return outs


def network_loss(weights, biases, transposed, acts, x, loss):
    """Training loss of an autoencoder (BCE is taken on the last logits)."""
    last = acts[-1]
    if loss == "bce":
        acts = list(acts[:-1]) + ["identity"]
    out = network_forward(weights, biases, transposed, acts, x)[-1]
    if loss == "bce":
        assert last == "sigmoid"
        return bce_with_logits_loss(out, x)[0]
    return mse_loss(out, x)[0]


# ---------------------------------------------------------------- noise
_PHILOX_M = (0xD2511F53, 0xCD9E8D57)
_PHILOX_W = (0x9E3779B9, 0xBB67AE85)


def philox4x32_10(counter, key):
    """Philox4x32-10 on arrays: counter (4, n) and key (2, n) of uint32."""
    c = [np.asarray(x, dtype=np.uint64) for x in counter]
    k = [np.asarray(x, dtype=np.uint64) for x in key]
    mask = np.uint64(0xFFFFFFFF)
    for _ in range(10):
        p0 = np.uint64(_PHILOX_M[0]) * c[0]
        p1 = np.uint64(_PHILOX_M[1]) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k[0], p1 & mask,
             (p0 >> np.uint64(32)) ^ c[3] ^ k[1], p0 & mask]
        k = [(k[0] + np.uint64(_PHILOX_W[0])) & mask, (k[1] + np.uint64(_PHILOX_W[1])) & mask]
    return [x.astype(np.uint32) for x in c]


def philox_words(n, seed, stream, first_index=0):
    """All four Philox words of the block of each element first_index ..
    first_index + n - 1, and the element's lane (csrc/philox.h: chunks of
    256 elements, lane-major)."""
    idx = np.arange(first_index, first_index + n, dtype=np.uint64)
    e = idx % np.uint64(256)
    block = (idx // np.uint64(256)) * np.uint64(64) + e % np.uint64(64)
    lane = (e // np.uint64(64)).astype(np.int64)
    m = np.uint64(0xFFFFFFFF)
    words = philox4x32_10(
        [block & m, block >> np.uint64(32), np.full(n, stream & 0xFFFFFFFF, np.uint64),
         np.full(n, stream >> 32, np.uint64)],
        [np.full(n, seed & 0xFFFFFFFF, np.uint64), np.full(n, seed >> 32, np.uint64)])
    return np.stack(words), lane


def uniform_open01(x):
    return ((np.asarray(x, np.uint32) >> 9).astype(np.float64) + 0.5) * 2.0**-23


def philox_uniform(n, seed, stream, first_index=0):
    words, lane = philox_words(n, seed, stream, first_index)
    return uniform_open01(words[lane, np.arange(n)])


def philox_normal(n, seed, stream, first_index=0):
    """Box-Muller with pyae's angle mapping (see csrc/noise_math.h), float64."""
    words, lane = philox_words(n, seed, stream, first_index)
    cols = np.arange(n)
    xr = words[lane & 2, cols]
    xa = words[(lane & 2) + 1, cols]
    r = np.sqrt(-2.0 * np.log(uniform_open01(xr)))
    quadrant = xa >> np.uint32(30)
    t = (((xa >> np.uint32(7)) & np.uint32(0x7FFFFF)).astype(np.float64) + 0.5) * 2.0**-23
    theta = (t - 0.5) * np.pi / 2 + quadrant * np.pi / 2
    return r * np.where(lane & 1, np.sin(theta), np.cos(theta))


def gaussian_corrupt(x, eps, std, lo, hi):
    return np.clip(np.asarray(x, np.float64) + std * np.asarray(eps, np.float64), lo, hi)


def salt_and_pepper_corrupt(x, u, amount, salt_ratio, lo, hi):
    x = np.asarray(x, np.float64)
    return np.where(u < amount * salt_ratio, hi, np.where(u < amount, lo, x))


def masking_corrupt(x, u, fraction):
    return np.where(u < fraction, 0.0, np.asarray(x, np.float64))


# ------------------------------------------------------------------ VAE
def reparameterize(mu_logvar, eps):
    ml = np.asarray(mu_logvar, np.float64)
    Z = ml.shape[1] // 2
    return ml[:, :Z] + np.exp(0.5 * ml[:, Z:]) * np.asarray(eps, np.float64)


def kl_divergence(mu_logvar):
    """Per-sample KL(N(mu, sigma^2) || N(0, I))."""
    ml = np.asarray(mu_logvar, np.float64)
    Z = ml.shape[1] // 2
    mu, lv = ml[:, :Z], ml[:, Z:]
    return -0.5 * np.sum(1 + lv - mu**2 - np.exp(lv), axis=1)


def reconstruction_nll(out, target, kind):
    """Per-sample NLL summed over features: 'bce' (out = logits) or
    'gaussian' (unit variance, out = mean)."""
    out, t = np.asarray(out, np.float64), np.asarray(target, np.float64)
    if kind == "bce":
        return (np.maximum(out, 0) - out * t + np.log1p(np.exp(-np.abs(out)))).sum(axis=1)
    return 0.5 * ((t - out) ** 2).sum(axis=1) + 0.5 * out.shape[1] * np.log(2 * np.pi)


def vae_loss(weights, biases, acts, head, x, eps, kind, beta):
    """Mean over the batch of NLL + beta * KL for a VAE given as a list of
    layers (the head layer outputs [mu | logvar])."""
    h = np.asarray(x, np.float64)
    for l in range(head):
        h = dense_forward(h, weights[l], biases[l], acts[l])
    ml = dense_forward(h, weights[head], biases[head], "identity")
    h = reparameterize(ml, eps)
    last = len(weights) - 1
    for l in range(head + 1, len(weights)):
        act = "identity" if (l == last and kind == "bce") else acts[l]
        h = dense_forward(h, weights[l], biases[l], act)
    return np.mean(reconstruction_nll(h, x, kind) + beta * kl_divergence(ml))


def central_difference_gradient(f, p0, h=1e-6):
    """Gradient of the scalar f at the flat float64 vector p0, by central
    differences (the check every backward is held to)."""
    grad = np.empty_like(p0)
    for i in range(p0.size):
        p = p0.copy()
        p[i] += h
        up = f(p)
        p[i] -= 2 * h
        grad[i] = (up - f(p)) / (2 * h)
    return grad
