"""pyae.ops: the fused C++ kernels on NumPy arrays, for custom models.

All arrays are float32 and C-contiguous; nothing is silently converted.
Input arrays holding NaN or Inf raise ValueError, as everywhere in pyae (a
kernel would otherwise hide some: relu(NaN) is 0).
Gradient convention (every backward op): gradients are *accumulated* into
the buffers you pass (``dinp``, ``dweight``, ``dbias``, ``grad``); buffers
pyae allocates for you start at zero. Weights are (D_out, D_in) as in
``out = act(inp @ weight.T + bias)``.
"""

from __future__ import annotations

import numpy as np

from . import _core
from ._enums import ACTIVATIONS, LOSSES
from ._validation import _raise_not_finite, check_kernel_array, choice

__all__ = [
    "dense_forward",
    "dense_backward",
    "activation",
    "mse_loss",
    "bce_with_logits_loss",
    "adam_update",
    "sgd_momentum_update",
]


def _act(name: str):
    return ACTIVATIONS[choice(name, "activation", ACTIVATIONS)]


def _input(a, name, ndim=None):
    """An input array: checked like every kernel array, and finite."""
    check_kernel_array(a, name, ndim)
    if not _core.all_finite(a):
        _raise_not_finite(a, name)
    return a


def _out_buffer(buf, shape, name, inputs=()):
    """A new zeroed buffer, or the caller's after checking its shape and that
    it shares no memory with the inputs (a GEMM reading what it writes
    gives wrong results silently)."""
    if buf is None:
        return np.zeros(shape, dtype=np.float32)
    check_kernel_array(buf, name)
    if buf.shape != tuple(shape):
        raise ValueError(f"{name} has shape {buf.shape}, expected {tuple(shape)}")
    for other_name, other in inputs:
        if other is not None and np.shares_memory(buf, other):
            raise ValueError(f"{name} overlaps {other_name}: give it a buffer of its own")
    return buf


def _distinct(named):
    """The arrays of an in-place update may not share memory."""
    for i, (name, a) in enumerate(named):
        for other_name, other in named[i + 1:]:
            if np.shares_memory(a, other):
                raise ValueError(f"{name} overlaps {other_name}: give each its own buffer")


def _hyper(value, name, low, high, low_open=False, high_open=True):
    """A finite optimiser hyperparameter within its range."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not np.isfinite(value) or value < low or value > high or \
            (low_open and value == low) or (high_open and value == high):
        bounds = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a finite number in {bounds}, got {value!r}")
    return float(value)


def dense_forward(inp, weight, bias, activation="sigmoid", *, out=None, pre=None):
    """out (B, D_out) = activation(inp (B, D_in) @ weight.T (D_out, D_in) + bias (D_out)).

    ``pre`` (B, D_out), if given, receives the pre-activation, which
    dense_backward needs for "gelu" and "silu"."""
    _input(inp, "inp", 2)
    _input(weight, "weight", 2)
    _input(bias, "bias", 1)
    inputs = (("inp", inp), ("weight", weight), ("bias", bias))
    out = _out_buffer(out, (inp.shape[0], bias.shape[0]), "out", inputs)
    if pre is not None:
        pre = _out_buffer(pre, out.shape, "pre", (*inputs, ("out", out)))
    _core.dense_forward(out, inp, weight, bias, _act(activation), False, pre)
    return out


def dense_backward(dout, out, inp, weight, activation="sigmoid", *, dinp=None, dweight=None,
                   dbias=None, need_dinp=True, pre=None):
    """Gradients of dense_forward given dout = dL/dout and the saved out
    (and, for "gelu" and "silu", the saved pre-activation ``pre``).

    Returns (dinp, dweight, dbias), accumulated into the given buffers.
    dinp is None when need_dinp is False (first layer of a network).
    """
    for a, n, d in ((dout, "dout", 2), (out, "out", 2), (inp, "inp", 2), (weight, "weight", 2)):
        _input(a, n, d)
    B, D_in = inp.shape
    D_out = dout.shape[1]
    inputs = (("dout", dout), ("out", out), ("inp", inp), ("weight", weight), ("pre", pre))
    dweight = _out_buffer(dweight, weight.shape, "dweight", inputs)
    dbias = _out_buffer(dbias, (D_out,), "dbias", (*inputs, ("dweight", dweight)))
    dinp = _out_buffer(dinp, (B, D_in), "dinp", (*inputs, ("dweight", dweight),
                                                  ("dbias", dbias))) if need_dinp else None
    dpre = np.empty((B, D_out), dtype=np.float32)
    if pre is not None:
        _input(pre, "pre", 2)
    _core.dense_backward(dinp, dweight, dbias, dpre, dout, out, inp, weight, _act(activation),
                         False, pre)
    return dinp, dweight, dbias


def activation(x, name="sigmoid", *, out=None):
    """Element-wise activation (sigmoid is the stable form)."""
    _input(x, "x")
    out = _out_buffer(out, x.shape, "out")
    _core.activation_forward(out, x, _act(name))
    return out


def _loss(kind, pred, target, grad, name):
    _input(pred, name, 2)
    _input(target, "target", 2)
    if target.shape != pred.shape:
        raise ValueError(f"target has shape {target.shape}, {name} has {pred.shape}")
    grad = _out_buffer(grad, pred.shape, "grad")
    row_loss = np.empty(pred.shape[0], dtype=np.float32)
    loss = _core.loss_rows(LOSSES[kind], grad, row_loss, pred, target)
    return loss, grad, row_loss


def mse_loss(pred, target, *, grad=None):
    """Mean squared error over all elements.

    Returns (loss, grad, per_sample) with grad = dL/dpred accumulated into
    ``grad`` and per_sample the mean over features of each row.
    """
    return _loss("mse", pred, target, grad, "pred")


def bce_with_logits_loss(logits, target, *, grad=None):
    """Binary cross-entropy of sigmoid(logits) against target, from logits.

    Stable for saturated outputs. Returns (loss, dL/dlogits, per_sample).
    """
    return _loss("bce", logits, target, grad, "logits")


def adam_update(params, grads, m, v, *, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """In-place Adam (torch.optim.Adam formula); step counts from 1."""
    for a, n in ((params, "params"), (grads, "grads"), (m, "m"), (v, "v")):
        _input(a, n)
    _distinct((("params", params), ("grads", grads), ("m", m), ("v", v)))
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"step must be an integer >= 1 (the update's count), got {step!r}")
    _core.adam_update(params.reshape(-1), m.reshape(-1), v.reshape(-1), grads.reshape(-1),
                      _hyper(lr, "lr", 0.0, np.inf, low_open=True), _hyper(beta1, "beta1", 0, 1),
                      _hyper(beta2, "beta2", 0, 1), _hyper(eps, "eps", 0.0, np.inf, low_open=True),
                      int(step))


def sgd_momentum_update(params, grads, momentum_buffer, *, lr, momentum=0.9):
    """In-place SGD with momentum (torch.optim.SGD formula, no dampening)."""
    for a, n in ((params, "params"), (grads, "grads"), (momentum_buffer, "momentum_buffer")):
        _input(a, n)
    _distinct((("params", params), ("grads", grads), ("momentum_buffer", momentum_buffer)))
    _core.sgd_momentum_update(params.reshape(-1), momentum_buffer.reshape(-1), grads.reshape(-1),
                              _hyper(lr, "lr", 0.0, np.inf, low_open=True),
                              _hyper(momentum, "momentum", 0, 1))
