"""Where a fitted model's network runs, behind one set of methods.

``CpuBackend`` drives the C++ ``pyae._core.Network``; ``GpuBackend`` a
``pyae._gpu.network.DeviceNetwork`` made from that network's state. The
model classes call only these methods and never ask which device they are
on. The C++ network stays the host copy of the state: files are written from
it, and a GPU backend copies its state back (``sync_to_host``) before a
save or a move to the CPU.

Both take inputs already placed by ``input`` (validated float32 arrays on
the backend's device) and return arrays on that device; ``to_caller`` puts
a result on the side the caller's array came from.
"""

from __future__ import annotations

import numpy as np

from . import _device
from ._device import as_device_matrix, is_gpu_array
from ._validation import as_float32_matrix


def input_array(device, X, name, n_features, owner):
    """X validated and placed on ``device`` (before any backend exists)."""
    if device == "cuda":
        return as_device_matrix(X, _device.cuda_ops(), name, n_features, owner)
    return as_float32_matrix(X, name, n_features, owner)


def output_array(out, shape):
    """A new float32 array, or the caller's ``out`` after checking it."""
    if out is None:
        return np.empty(shape, dtype=np.float32)
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or \
            not out.flags.c_contiguous or not out.flags.writeable:
        raise TypeError("out must be a writeable, C-contiguous float32 numpy.ndarray")
    if out.shape != tuple(shape):
        raise ValueError(f"out has shape {out.shape}, expected {tuple(shape)}")
    return out


def raise_overflow(X, what):
    """Finite inputs (validated) gave a non-finite ``what``: the network
    overflowed float32 on them. A clear error rather than NaN answers."""
    raise FloatingPointError(
        f"the network's {what} overflowed float32 on this input (values up to "
        f"{float(abs(X).max()):.3g}); rescale the data to the range the model was trained on "
        "(or, if it is in that range, the weights are too large)")


class CpuBackend:
    device = "cpu"

    @staticmethod
    def check_available():
        """Raises a clear RuntimeError when this device cannot run here."""

    def __init__(self, net, device_config=None):
        """``net``: the model's C++ network, its precision already set;
        ``device_config`` is for the GPU."""
        self.net = net
        self.precision = net.precision.name
        self._out_widths = [row.d_out for row in net.table.layers]

    def input(self, X, name, n_features, owner):
        return as_float32_matrix(X, name, n_features, owner)

    def to_host(self, a):
        return a

    def to_caller(self, result, X):
        return result

    def train_epoch(self, X, order, batch):
        """One pass over X (n, D) in ``order``; the epoch's mean loss."""
        net, n = self.net, X.shape[0]
        net.reserve(min(batch, n))
        total = 0.0
        for start in range(0, n, batch):
            rows = order[start:start + batch]
            total += net.train_step(X, rows)[0] * len(rows)
        return total / n

    # Data-parallel training (pyae._distributed drives these, one step at a time).
    def local_gradients(self, X, rows, keys, global_batch):
        """The gradient of rows ``rows`` of X at positions ``keys`` of a
        global batch split across ranks, as a mean over that batch; left in
        the gradient buffer. Returns the rows' summed loss."""
        loss = self.net.compute_gradients(X, rows, keys=keys)[0]
        self.net.grads[...] *= np.float32(len(rows) / global_batch)
        return loss * len(rows)

    def gradients(self):
        """The gradient buffer (N) the ranks sum in place."""
        return self.net.grads

    def sum_gradients(self, coll):
        """Sums the gradient across ranks in place; True if a rank flagged a failure."""
        return coll.sum_gradients(self.net.grads)

    def apply_gradients(self, n_rows):
        self.net.apply_gradients()

    def forward(self, X, first, last, out=None):
        out = output_array(out, (X.shape[0], self._out_widths[last - 1]))
        if not self.net.forward(X, out, first, last):
            raise_overflow(X, "output")
        return out

    def row_losses(self, X, target, first, out=None):
        """Per-row losses; +inf where a row's loss is past float32's range."""
        rows = output_array(out, (X.shape[0],))
        if not self.net.row_losses(X, target, rows, first):
            raise_overflow(X, "loss")
        return rows

    def snapshot(self):
        return self.net.params.copy()

    def restore_params(self, snapshot):
        self.net.mutable_params()[:] = snapshot

    def set_learning_rate(self, lr):
        self.net.set_learning_rate(lr)

    def sync_to_host(self):
        pass


class GpuBackend:
    device = "cuda"
    precision = "fp32"

    @staticmethod
    def check_available():
        _device.cuda_ops()

    def __init__(self, net, device_config):
        """``net``: the model's C++ network, whose state the GPU copy starts
        from; ``device_config()``: DeviceNetwork's keyword arguments."""
        from ._gpu.network import DeviceNetwork

        config = device_config()
        self.net, self.beta = net, config.get("beta", 1.0)
        self.gpu = DeviceNetwork(_device.cuda_ops(), net.table, **config)
        self.gpu.load_state(net.params, net.optimizer_state(0), net.optimizer_state(1),
                            net.step_count)
        self.ops = self.gpu.ops

    def input(self, X, name, n_features, owner):
        return as_device_matrix(X, self.ops, name, n_features, owner)

    def to_host(self, a):
        return self.ops.to_host(a) if is_gpu_array(a) else a

    def to_caller(self, result, X):
        if is_gpu_array(X):
            return result if is_gpu_array(result) else self.ops.to_device(result)
        return self.ops.to_host(result) if is_gpu_array(result) else result

    def train_epoch(self, X, order, batch):
        sums = self.gpu.train_epoch(X, order, batch)
        if self.net.table.variational:
            return float(sums[0] + self.beta * sums[1]) / X.shape[0]
        return float(sums[0]) / X.shape[0]

    def local_gradients(self, X, rows, keys, global_batch):
        """As the CPU's; the loss sum is a device scalar (no sync per step)."""
        before = self.gpu.totals.copy()
        self.gpu.local_gradients(X, rows, keys, global_batch)
        sums = self.gpu.totals - before
        return sums[0] + self.beta * sums[1] if self.net.table.variational else sums[0]

    def gradients(self):
        return self.gpu.grads

    def sum_gradients(self, coll):
        """Through NCCL on GPUs; over MPI for the host stand-ins of the tests."""
        grads = self.gpu.grads
        if isinstance(grads, np.ndarray):
            return coll.sum_gradients(grads)
        if getattr(self, "_nccl", None) is None:
            from ._gpu.nccl import NcclSum

            self._nccl = NcclSum(coll.comm)
        with self.ops.activate():
            return self._nccl.sum(grads)

    def apply_gradients(self, n_rows):
        self.gpu.apply_gradients(n_rows)

    def forward(self, X, first, last, out=None):
        _no_out(out)
        result = self.gpu.forward(X, first, last)
        if not bool(self.ops.xp.isfinite(result).all()):
            raise_overflow(X, "output")
        return result

    def row_losses(self, X, target, first, out=None):
        _no_out(out)
        table = self.net.table
        pred = self.gpu.forward(X, first, len(table), logits=self.gpu.bce)
        rows = self.gpu.loss_rows(pred, target, vae_nll=table.variational)
        if bool(self.ops.xp.isnan(rows).any()):
            raise_overflow(X, "loss")
        return rows

    def snapshot(self):
        return self.gpu.snapshot()

    def restore_params(self, snapshot):
        self.gpu.restore(snapshot, parts=("params",))

    def set_learning_rate(self, lr):
        self.net.set_learning_rate(lr)
        self.gpu.set_learning_rate(lr)

    def sync_to_host(self):
        """Copies the GPU's weights, optimiser state and step count back."""
        params, state0, state1, step_count = self.gpu.host_state()
        net = self.net
        net.mutable_params()[:] = params
        for k, state in enumerate((state0, state1)):
            if state is not None:
                net.optimizer_state(k)[:] = state
        net.step_count = step_count


def _no_out(out):
    if out is not None:
        raise ValueError("out= is supported on device='cpu' only")


BACKENDS = {"cpu": CpuBackend, "cuda": GpuBackend}
