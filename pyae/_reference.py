"""Plain NumPy float64 references for every kernel: the oracle of the tests.

Written for clarity, not speed; shapes follow the C++ kernels (csrc/).
"""

from __future__ import annotations

import numpy as np


def activation(x, name):
    x = np.asarray(x, dtype=np.float64)
    if name == "sigmoid":  # exp of -|x| only: no overflow, no cancellation
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "tanh":
        return np.tanh(x)
    if name == "identity":
        return x.copy()
    raise ValueError(name)


def activation_grad_from_output(y, name):
    y = np.asarray(y, dtype=np.float64)
    if name == "sigmoid":
        return y * (1.0 - y)
    if name == "relu":
        return (y > 0).astype(np.float64)
    if name == "tanh":
        return 1.0 - y * y
    return np.ones_like(y)


def effective_weight(weight, transposed):
    """The (D_out, D_in) matrix a layer applies."""
    w = np.asarray(weight, dtype=np.float64)
    return w.T if transposed else w


def dense_forward(inp, weight, bias, act, transposed=False):
    w = effective_weight(weight, transposed)
    return activation(np.asarray(inp, np.float64) @ w.T + np.asarray(bias, np.float64), act)


def dense_backward(dout, out, inp, weight, act, transposed=False):
    """Returns (dinp, dweight, dbias); dweight has the stored layout."""
    w = effective_weight(weight, transposed)
    dpre = np.asarray(dout, np.float64) * activation_grad_from_output(out, act)
    dw = dpre.T @ np.asarray(inp, np.float64)
    return dpre @ w, (dw.T if transposed else dw), dpre.sum(axis=0)


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
