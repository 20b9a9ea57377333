"""A careless or hostile caller against the layer table, the one network, the
enums, the new activations and model format 2: every bad input is a clean
Python exception (never a crash, never another exception type), and the
results of odd but valid calls match the plain ones."""

import json
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

import pyae
from pyae import _core, ops
from pyae._enums import ACTIVATIONS

A, R = _core.Activation, _core.LayerRole
FORMAT1 = Path(__file__).resolve().parent / "fixtures" / "format1"


def spec(d_in, d_out, act="relu", role="encoder", tied_to=-1):
    return _core.LayerSpec(d_in, d_out, getattr(A, act), getattr(R, role), tied_to)


def network(table, loss="mse", lr=1e-3, beta=1.0, seed=0):
    net = _core.Network(table, getattr(_core.Loss, loss), _core.OptimizerKind.adam, lr, 0.9,
                        0.999, 1e-8, 0.9, beta=beta)
    rng = np.random.default_rng(seed)
    net.params[:] = (rng.standard_normal(table.num_params) * 0.3).astype(np.float32)
    return net


# ------------------------------------------------------------ layer table
@pytest.mark.parametrize("rows,msg", [
    ([spec(0, 2), spec(2, 0, role="decoder")], "widths must be >= 1"),
    ([spec(-3, 2), spec(2, -3, role="decoder")], "widths must be >= 1"),
    ([spec(4, 4), spec(4, 4, role="decoder", tied_to=1)], "later layer"),
    ([spec(4, 4), spec(4, 4, role="decoder"), spec(4, 4, role="decoder", tied_to=1)],
     "not an encoder layer"),
    ([spec(4, 2), spec(2, 3), spec(3, 2, role="decoder", tied_to=0),
      spec(2, 4, role="decoder")], "another shape"),
    ([spec(4, 2), spec(2, 4, role="decoder", tied_to=-5)], "tied_to must be"),
    ([spec(4, 4, "identity", "latent_head"), spec(2, 4, "identity", "latent_head"),
      spec(2, 4, role="decoder")], "at most one latent head"),
    ([spec(4, 4, "identity", "latent_head"), spec(2, 4), spec(4, 4, role="decoder")],
     "last encoder-side layer"),
    ([spec(4, 3, "identity", "latent_head"), spec(1, 4, role="decoder")], "must be even"),
    ([spec(4, 4, "gelu", "latent_head"), spec(2, 4, role="decoder")], "identity activation"),
    ([spec(4, 4)], "needs an encoder and a decoder"),
    ([spec(4, 4), spec(4, 4)], "at least one encoder layer"),
    ([], "needs an encoder and a decoder"),
    ([spec(4, 4), _core.LayerSpec(4, 4, A.relu, R(-1))], "unknown role code -1"),
    ([spec(4, 2), spec(2, 5, role="decoder")], "output width"),
])
def test_bad_tables_are_value_errors(rows, msg):
    with pytest.raises(ValueError, match=msg):
        _core.LayerTable(rows)


def test_spec_repr_with_an_unknown_code_does_not_crash():
    """repr() read the activation's name through a null pointer (segfault)."""
    s = _core.LayerSpec(4, 2, A(99), R.encoder)
    assert "activation code 99" in repr(s)


def test_input_width_checks_the_layer_index():
    """input_width(-1) read before the rows (garbage; far out: segfault)."""
    t = _core.LayerTable.autoencoder(6, [4, 2], A.relu, A.sigmoid, False)
    assert [t.input_width(l) for l in range(len(t) + 1)] == [6, 4, 2, 4, 6]
    for bad in (-1, -10**8, len(t) + 1, 10**8):
        with pytest.raises(IndexError):
            t.input_width(bad)


def test_parameter_counts_that_cannot_be_allocated_are_refused():
    """num_params near 2^62 wrapped the buffers' byte count to a small
    allocation that the network then wrote past; such tables are refused."""
    big = 2**31 - 1
    with pytest.raises(ValueError, match="too many parameters"):
        _core.LayerTable([spec(2**30, big), spec(big, 2**30, role="decoder")])
    with pytest.raises(ValueError, match="too many parameters"):
        _core.LayerTable([spec(big, big), spec(big, big, role="decoder")])
    with pytest.raises(ValueError, match="latent_dim"):
        _core.LayerTable.vae(4, [], 2**30, A.relu, A.sigmoid)  # 2 * Z overflowed an int


# ---------------------------------------------------------------- network
def test_network_refuses_non_finite_or_negative_settings():
    t = _core.LayerTable.vae(4, [], 2, A.relu, A.sigmoid)
    for beta in (-1.0, float("nan"), float("inf"), 1e39):  # 1e39 is inf as a float
        with pytest.raises(ValueError, match="beta"):
            network(t, beta=beta)
    for lr in (float("nan"), float("inf"), 0.0, -1.0):
        with pytest.raises(ValueError, match="learning rate"):
            network(t, lr=lr)
    with pytest.raises(ValueError, match="finite"):
        _core.Network(t, _core.Loss.mse, _core.OptimizerKind.adam, 1e-3, float("nan"), 0.999,
                      1e-8, 0.9)
    with pytest.raises(ValueError, match="unknown loss"):
        _core.Network(t, _core.Loss(7), _core.OptimizerKind.adam, 1e-3, 0.9, 0.999, 1e-8, 0.9)
    net = network(t)
    with pytest.raises(ValueError, match="learning rate"):
        net.set_learning_rate(float("nan"))
    with pytest.raises(ValueError, match="step count"):
        net.step_count = -3  # Adam's bias correction then divides by zero
    assert net.step_count == 0


def test_a_failed_reserve_leaves_a_working_network():
    """A reserve() that ran out of memory left dropped buffers behind and the
    old capacity: the next step wrote through null pointers (segfault)."""
    net = network(_core.LayerTable.autoencoder(100, [100], A.relu, A.identity, False))
    X = np.random.default_rng(0).random((8, 100), dtype=np.float32)
    rows = np.arange(8, dtype=np.int64)
    net.train_step(X, rows)
    with pytest.raises(MemoryError):
        net.reserve(2**30)  # 400 GB per buffer
    assert np.isfinite(net.train_step(X, rows)[0])


def test_gpu_network_after_a_failed_reserve_replays_no_stale_graph(monkeypatch):
    """The GPU network's reserve() replaced buffers, then failed, and kept its
    old capacity and captured steps: the next epoch replayed a CUDA graph of
    freed buffers. Run on the NumPy stand-in, whose "graph" checks that the
    buffers it was captured with are still the network's."""
    import importlib.util

    from pyae._gpu.network import DeviceNetwork

    path = Path(__file__).with_name("host_ops.py")
    spec_ = importlib.util.spec_from_file_location("host_ops", path)
    host_ops = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(host_ops)

    class BakedOps(host_ops.HostOps):
        def capture(self, fn):
            self.captures += 1
            baked = [id(a) for a in net._acts + net._dacts]

            def replay():
                assert [id(a) for a in net._acts + net._dacts] == baked, "stale graph"
                fn()
            return replay

    X = np.random.default_rng(0).random((32, 6), dtype=np.float32)
    model = pyae.Autoencoder(hidden=(4,), epochs=1, verbose=False).fit(X)
    ops = BakedOps()
    net = DeviceNetwork(ops, model.network_.table, **model._backend_config())
    order = np.arange(32)
    net.train_epoch(X, order, 8)

    class OutOfMemory:  # an xp whose allocations fail once the activations are replaced
        calls = 0

        def __getattr__(self, name):
            return getattr(np, name)

        def zeros(self, *a, **k):
            OutOfMemory.calls += 1
            if OutOfMemory.calls > len(net._widths()):
                raise MemoryError("out of device memory")
            return np.zeros(*a, **k)

    monkeypatch.setattr(ops, "xp", OutOfMemory())
    with pytest.raises(MemoryError):
        net.reserve(16)
    monkeypatch.setattr(ops, "xp", np)
    assert np.isfinite(net.train_epoch(X, order, 8)).all()
