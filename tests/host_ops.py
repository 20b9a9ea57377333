"""A NumPy stand-in for pyae._gpu.ops.CudaOps: the same methods, run on the
CPU with pyae's C++ kernels (or NumPy). It lets the tests drive the GPU
network's step logic (buffers, layer order, device-side counters, loss
sums) on a machine without a GPU and compare it with the C++ network."""

import contextlib

import numpy as np

from pyae import _core, _reference as ref
from pyae._enums import ACTIVATIONS

NAMES = {int(v): k for k, v in ACTIVATIONS.items()}
# Bookkeeping, not device work: never part of a captured graph's tape.
_NOT_RECORDED = {"activate", "capture", "to_device", "to_host"}


def _flat(a):
    return a.reshape(-1)


def _address(a):
    return a.__array_interface__["data"][0]


class HostOps:
    """As strict as a GPU where the tests can be: a captured step is a graph
    that holds the buffers (addresses) of its recording, so a replay whose
    step would touch other buffers fails (on a GPU it would read freed or
    stale memory)."""

    xp = np
    _tape = None  # the ops calls of the step being recorded or replayed

    def __init__(self):
        self.captures = 0

    def __getattribute__(self, name):
        attr = object.__getattribute__(self, name)
        tape = object.__getattribute__(self, "_tape")
        if tape is None or name.startswith("_") or not callable(attr) or name in _NOT_RECORDED:
            return attr

        def recorded(*args, **kwargs):
            tape.append((name, tuple(_address(a) for a in (*args, *kwargs.values())
                                     if isinstance(a, np.ndarray))))
            return attr(*args, **kwargs)
        return recorded

    def activate(self):
        return contextlib.nullcontext()

    def capture(self, fn):
        """The graph of fn: its first run records the buffers every op uses;
        each later run must use the same ones."""
        self.captures += 1
        graph = []

        def replay():
            self._tape = []
            try:
                fn()
            finally:
                calls, self._tape = self._tape, None
            if not graph:
                graph.extend(calls)
            elif calls != graph:
                changed = next(c for c, g in zip(calls, graph) if c != g)
                raise AssertionError(
                    f"a replayed graph would run on other buffers than it captured ({changed[0]})")
        return replay

    def to_device(self, a, out=None):
        if out is None:
            return np.array(a)
        out[...] = a
        return out

    def to_host(self, a):
        return np.array(a)

    def zero(self, a):
        a[...] = 0

    def gemm(self, c, a, b, trans_a=False, trans_b=False, beta=0.0):
        r = (a.T if trans_a else a) @ (b.T if trans_b else b)
        c[...] = r + c if beta else r

    def column_sums(self, out, a, ones):
        assert ones.shape == (a.shape[0],) and (ones == 1).all(), "ones must be (B) of 1.0"
        out += a.sum(axis=0, dtype=np.float32)

    def bias_activation(self, out, pre, bias, B, D, act):
        x = out + bias
        if pre is not None:
            pre[...] = x
        _core.activation_forward(out, x, _core.Activation(act))

    def activation_grad(self, dpre, dout, out, pre, N, act):
        g = ref.activation_grad(out, pre, NAMES[act]).astype(np.float32)
        dpre[...] = dout * g

    def gather_rows(self, out, data, order, counters, B, D):
        first = int(counters[1])
        out[...] = data[order[first:first + B]]

    def noise(self, out, inp, N, kind, a, b, lo, hi, normal, seed, stream, counters, first):
        if counters is not None:
            stream += int(counters[0])
        if inp is None:
            _core.philox_draws(_flat(out), bool(normal), seed, stream, first)
        else:
            _core.corrupt(_flat(out), _flat(inp), _core.NoiseKind(kind), a, b, lo, hi, seed, stream,
                          first)

    def reparameterize_forward(self, z, mu_logvar, eps, B, Z):
        _core.reparameterize_forward(z, mu_logvar, eps.reshape(B, Z))

    def reparameterize_backward(self, dmu_logvar, dz, z, mu_logvar, B, Z):
        _core.reparameterize_backward(dmu_logvar, dz, z, mu_logvar)

    def kl(self, dmu_logvar, row_kl, mu_logvar, B, Z, grad_scale):
        _core.kl_rows(dmu_logvar, row_kl, mu_logvar, grad_scale)

    def loss_rows(self, grad, rows, pred, target, B, D, bce, grad_scale, row_scale, row_shift):
        p, t = pred.astype(np.float64), target.astype(np.float64)
        if bce:
            terms = np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))
            dterm = 1 / (1 + np.exp(-p)) - t
        else:
            terms, dterm = (p - t) ** 2, p - t
        if grad is not None:
            grad += (np.float32(grad_scale) * dterm).astype(np.float32)
        rows[...] = terms.sum(axis=1) * row_scale + row_shift

    def accumulate(self, totals, slot, rows, B, scale):
        totals[slot] += scale * rows.astype(np.float64).sum()

    def adam(self, params, m, v, grads, N, lr, beta1, beta2, eps, counters):
        _core.adam_update(params, m, v, grads, lr, beta1, beta2, eps, int(counters[0]) + 1)
        grads[...] = 0

    def sgd_momentum(self, params, buf, grads, N, lr, momentum):
        _core.sgd_momentum_update(params, buf, grads, lr, momentum)
        grads[...] = 0

    def advance(self, counters, B):
        counters[0] += 1
        counters[1] += B
