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
    net.mutable_params()[:] = (rng.standard_normal(table.num_params) * 0.3).astype(np.float32)
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


def test_train_step_rejects_bad_arguments():
    t = _core.LayerTable.vae(4, [], 2, A.relu, A.sigmoid)
    net = network(t, "bce")
    X = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    rows = np.arange(8, dtype=np.int64)
    with pytest.raises(ValueError, match="eps has the wrong shape"):
        net.train_step(X, rows, np.zeros((8, 3), np.float32))
    with pytest.raises(TypeError):
        net.train_step(X, rows, np.zeros((8, 2)))  # float64 is not converted
    with pytest.raises(IndexError, match="outside the data"):
        net.train_step(X, np.array([0, 8], np.int64))
    with pytest.raises(IndexError, match="outside the data"):
        net.train_step(X, np.array([-1], np.int64))
    with pytest.raises(ValueError, match="non-empty"):
        net.train_step(X, np.zeros(0, np.int64))
    ae = network(_core.LayerTable.autoencoder(4, [2], A.relu, A.sigmoid, False))
    with pytest.raises(ValueError, match="latent head"):
        ae.train_step(X, rows, np.zeros((8, 2), np.float32))


@pytest.mark.parametrize("B", [1, 3, 40, 1000])
def test_bce_row_losses_through_a_latent_head(B):
    """A VAE without hidden layers: row_losses from layer 0 with BCE ran the
    head into a buffer sized for mu only (heap overflow) and fed the decoder
    [mu | log sigma^2] rows as if they were mu."""
    t = _core.LayerTable.vae(6, [], 40, A.relu, A.sigmoid)
    net = network(t, "bce")
    rng = np.random.default_rng(B)
    X = rng.random((B, 6), dtype=np.float32)
    head = np.empty((B, 80), np.float32)
    net.forward(X, head, 0, 1)
    mu = np.ascontiguousarray(head[:, :40])
    via_head, via_mu = np.empty(B, np.float32), np.empty(B, np.float32)
    net.row_losses(X, X, via_head, 0)
    net.row_losses(mu, X, via_mu, 1)
    np.testing.assert_array_equal(via_head, via_mu)


@pytest.mark.parametrize("loss,hidden", [("bce", []), ("bce", [5, 4]), ("mse", [5])])
def test_forward_and_row_losses_over_every_layer_range(loss, hidden):
    """Any (first, last) equals running the layers one by one (continuing
    from mu after the latent head); bad ranges are ValueErrors."""
    t = _core.LayerTable.vae(6, hidden, 2, A.silu, A.sigmoid)
    net = network(t, loss)
    rng = np.random.default_rng(1)
    L = len(t)
    for B in (1, 5, 70):
        for first in range(L):
            x = rng.random((B, t.input_width(first)), dtype=np.float32)
            for last in range(first + 1, L + 1):
                out = np.full((B, t[last - 1].d_out), np.nan, np.float32)
                net.forward(x, out, first, last)
                cur = x
                for l in range(first, last):
                    step = np.empty((B, t[l].d_out), np.float32)
                    net.forward(np.ascontiguousarray(cur), step, l, l + 1)
                    cur = step[:, :t[l].d_out // 2] if l == t.latent_layer and l < last - 1 \
                        else step
                np.testing.assert_allclose(out, cur, rtol=1e-5, atol=1e-6)
            rows = np.empty(B, np.float32)
            net.row_losses(x, rng.random((B, 6), dtype=np.float32), rows, first)
            assert np.isfinite(rows).all()
    x = rng.random((3, 6), dtype=np.float32)
    for first, last in ((0, 0), (-1, 2), (0, L + 1), (2, 1)):
        with pytest.raises(ValueError, match="bad layer range"):
            net.forward(x, np.empty((3, 6), np.float32), first, last)
    for first in (-1, L, 99):
        with pytest.raises(ValueError, match="bad first layer"):
            net.row_losses(x, x, np.empty(3, np.float32), first)
    read_only = np.empty((3, t[0].d_out), np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        net.forward(x, read_only, 0, 1)


# ------------------------------------------------------------ model files
def _saved(tmp_path, kind):
    X = np.random.default_rng(0).random((40, 10), dtype=np.float32)
    model = {"ae": pyae.Autoencoder(hidden=(6, 3), tied_weights=True, activation="gelu"),
             "vae": pyae.VAE(hidden=(6,), latent_dim=2, activation="elu")}[kind]
    path = tmp_path / f"{kind}.safetensors"
    model.set_params(epochs=1, verbose=False).fit(X).save(path)
    return path.read_bytes()


def _edit_meta(blob, key, value):
    """The file with metadata field `key` set to the text `value` (None: removed)."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    if value is None:
        header["__metadata__"].pop(key)
    else:
        header["__metadata__"][key] = value
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + blob[8 + n:]


def _edit_json(blob, key, edit):
    (n,) = struct.unpack("<Q", blob[:8])
    value = json.loads(json.loads(blob[8:8 + n])["__metadata__"][key])
    result = edit(value)
    return _edit_meta(blob, key, json.dumps(value if result is None else result))


DEEP = "[" * 100000 + "]" * 100000
MUTATIONS = {
    "layers missing": lambda b: _edit_meta(b, "layers", None),
    "layers deeply nested": lambda b: _edit_meta(b, "layers", DEEP),
    "config deeply nested": lambda b: _edit_meta(b, "config", DEEP),
    "training deeply nested": lambda b: _edit_meta(b, "training", DEEP),
    "layers not a list": lambda b: _edit_meta(b, "layers", '{"a": 1}'),
    "row without d_in": lambda b: _edit_json(b, "layers", lambda L: L[0].pop("d_in") and None),
    "row with an extra key": lambda b: _edit_json(b, "layers", lambda L: L[0].update(x=1)),
    "width as a string": lambda b: _edit_json(b, "layers", lambda L: L[0].update(d_in="10")),
    "width 3.5": lambda b: _edit_json(b, "layers", lambda L: L[0].update(d_out=3.5)),
    "width true": lambda b: _edit_json(b, "layers", lambda L: L[0].update(d_in=True)),
    "tied_to -2": lambda b: _edit_json(b, "layers", lambda L: L[0].update(tied_to=-2)),
    "activation number": lambda b: _edit_json(b, "layers", lambda L: L[0].update(activation=7)),
    "huge table": lambda b: _edit_json(b, "layers", lambda L: L * 5000),
    "n_features 2**31": lambda b: _edit_meta(b, "n_features", str(2**31)),
    "n_features 10**30": lambda b: _edit_meta(b, "n_features", str(10**30)),
    "hidden 2**31": lambda b: _edit_json(b, "config", lambda c: c.update(hidden=[2**31, 3])),
    "hidden 10**9": lambda b: _edit_json(b, "config", lambda c: c.update(hidden=[10**9, 3])),
    "model a list": lambda b: _edit_meta(b, "model", '["VAE"]'),
    "training a list": lambda b: _edit_meta(b, "training", "[1]"),
    "history a list": lambda b: _edit_json(b, "training", lambda t: t.update(history=[1])),
    "negative step count": lambda b: _edit_json(b, "training", lambda t: t.update(step_count=-5)),
    "step count 2.7": lambda b: _edit_json(b, "training", lambda t: t.update(step_count=2.7)),
    "shuffle state missing": lambda b: _edit_json(b, "training", lambda t: t.pop("shuffle_rng")),
    "history missing": lambda b: _edit_json(b, "training", lambda t: t.pop("history")),
    "format version ' 2'": lambda b: _edit_meta(b, "format_version", " 2"),
    "format version 02": lambda b: _edit_meta(b, "format_version", "02"),
    "format version in other digits": lambda b: _edit_meta(b, "format_version", "\u0662"),
}


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_mutated_format2_files_raise_model_file_error(tmp_path, kind):
    """Before: RecursionError (deep JSON), TypeError (widths past a C int,
    a list as the model type), AttributeError (training not an object),
    MemoryError (huge hidden widths were allocated before the tensors were
    checked); a negative step count and odd version texts loaded."""
    blob = _saved(tmp_path, kind)
    path = tmp_path / "mutant.safetensors"
    for name, mutate in MUTATIONS.items():
        mutant = mutate(blob)
        path.write_bytes(mutant)
        with pytest.raises(pyae.ModelFileError):
            pyae.load(path)
            pytest.fail(f"{name}: loaded")
        try:
            _core.CModel(mutant)
        except ValueError:
            pass  # the C library reads only the table, n_features and the tensors


@pytest.mark.parametrize("name", ["ae_tied", "dae_bce", "vae"])
def test_format1_files_with_corrupt_configs_raise_model_file_error(tmp_path, name):
    blob = (FORMAT1 / f"{name}.safetensors").read_bytes()
    path = tmp_path / "mutant.safetensors"
    edits = [dict(hidden=[2**31]), dict(hidden=[10**9, 3]), dict(hidden=[0]), dict(hidden="6"),
             dict(activation="swish")]
    if name != "vae":
        edits.append(dict(tied_weights="false"))
    for edit in edits:
        path.write_bytes(_edit_json(blob, "config", lambda c: c.update(edit)))
        with pytest.raises(pyae.ModelFileError):
            pyae.load(path)
    for n_features in (str(2**31), "0", "11"):
        path.write_bytes(_edit_meta(blob, "n_features", n_features))
        with pytest.raises(pyae.ModelFileError):
            pyae.load(path)
        with pytest.raises(ValueError):
            _core.CModel(path.read_bytes())


# ------------------------------------------------------- model parameters
def test_widths_beyond_a_c_int_are_clear_errors():
    X = np.random.default_rng(0).random((10, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="hidden width must be at most"):
        pyae.Autoencoder(hidden=(2**31,), verbose=False).fit(X)
    with pytest.raises(ValueError, match="latent_dim must be at most"):
        pyae.VAE(hidden=(3,), latent_dim=2**30, verbose=False).fit(X)


def test_tied_weights_must_be_a_bool():
    """bool("false") is True: the string built a tied model."""
    X = np.random.default_rng(0).random((10, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="tied_weights must be True or False"):
        pyae.Autoencoder(hidden=(2,), tied_weights="false", verbose=False).fit(X)
    pyae.Autoencoder(hidden=(2,), tied_weights=np.bool_(True), epochs=1, verbose=False).fit(X)


def test_log_likelihood_rejects_a_bad_batch_size():
    """batch_size=-1 returned np.empty's uninitialised memory as the scores."""
    X = np.random.default_rng(0).random((20, 5), dtype=np.float32)
    vae = pyae.VAE(hidden=(4,), latent_dim=2, epochs=1, verbose=False).fit(X)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="batch_size"):
            vae.log_likelihood(X, k=2, batch_size=bad)


# ------------------------------------------------------------ activations
@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_ops_reject_nan_and_inf_inputs(act):
    """relu(NaN) was 0: a NaN vanished inside the kernel."""
    x = np.ones((3, 2), np.float32)
    W, b = np.ones((2, 2), np.float32), np.zeros(2, np.float32)
    pre = np.empty((3, 2), np.float32)
    out = ops.dense_forward(x, W, b, act, pre=pre)
    for bad in (np.nan, np.inf):
        xb = x.copy()
        xb[1, 1] = bad
        with pytest.raises(ValueError, match="inp contains 1 NaN or infinite"):
            ops.dense_forward(xb, W, b, act)
        Wb = W.copy()
        Wb[0, 0] = bad
        with pytest.raises(ValueError, match="weight contains"):
            ops.dense_forward(x, Wb, b, act)
        with pytest.raises(ValueError, match="dout contains"):
            ops.dense_backward(np.full_like(out, bad), out, x, W, act, pre=pre)
        with pytest.raises(ValueError, match="pre contains"):
            ops.dense_backward(np.ones_like(out), out, x, W, act, pre=np.full_like(pre, bad))
        with pytest.raises(ValueError, match="x contains"):
            ops.activation(xb, act)
    with pytest.raises(ValueError, match="pred contains"):
        ops.mse_loss(np.full((2, 2), np.nan, np.float32), np.zeros((2, 2), np.float32))


@pytest.mark.parametrize("act", ["leaky_relu", "elu", "gelu", "silu"])
def test_training_on_huge_data_diverges_cleanly(act):
    X = (np.random.default_rng(0).random((64, 6)) * 1e6).astype(np.float32)
    for model in (pyae.Autoencoder(hidden=(4, 2), activation=act, output_activation="identity",
                                   learning_rate=0.1, epochs=3, verbose=False),
                  pyae.VAE(hidden=(4,), latent_dim=2, activation=act, loss="gaussian",
                           output_activation="identity", learning_rate=0.1, epochs=3,
                           verbose=False)):
        try:
            model.fit(X)
        except FloatingPointError:
            continue
        assert np.isfinite(model.network_.params).all()


# ---------------------------------------------------- threads and backends
def test_concurrent_inference_matches_serial():
    rng = np.random.default_rng(0)
    X = rng.random((200, 12), dtype=np.float32)
    models = [pyae.Autoencoder(hidden=(8, 3), activation="gelu", epochs=1, verbose=False),
              pyae.VAE(hidden=(), latent_dim=3, epochs=1, verbose=False)]
    for m in models:
        m.fit(X)
        calls = [m.transform, m.score_samples, m.reconstruct]
        if isinstance(m, pyae.VAE):
            calls.append(lambda Xb: m.elbo(Xb, n_samples=2))
        batches = [X[:1], X[1:6], X[10:74], X] * 3
        for fn in calls:
            want = [fn(b) for b in batches]
            got = [None] * len(batches)

            def run(i):
                got[i] = fn(batches[i])

            threads = [threading.Thread(target=run, args=(i,)) for i in range(len(batches))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)


def test_moving_saving_and_cloning_after_fit(tmp_path):
    import copy
    import pickle

    sklearn_base = pytest.importorskip("sklearn.base")
    X = np.random.default_rng(0).random((50, 6), dtype=np.float32)
    for make in (lambda: pyae.VAE(hidden=(4,), latent_dim=2, activation="silu"),
                 lambda: pyae.DenoisingAutoencoder(hidden=(4,), activation="leaky_relu")):
        m = make().set_params(epochs=1, verbose=False).fit(X)
        want = m.reconstruct(X)
        m.set_params(device="cpu")
        for _ in range(3):
            m.to("cpu")
        m.save(tmp_path / "m.safetensors")
        for back in (pyae.load(tmp_path / "m.safetensors"), pickle.loads(pickle.dumps(m)),
                     copy.deepcopy(m)):
            np.testing.assert_array_equal(back.reconstruct(X), want)
        assert not hasattr(sklearn_base.clone(m), "network_")
        assert not hasattr(copy.deepcopy(make()), "network_")


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


# ------------------------------------------------ pyae.ops (issue 11, item 8)
def test_ops_refuse_outputs_that_overlap_their_inputs():
    rng = np.random.default_rng(0)
    x = rng.random((256, 256), dtype=np.float32)
    W, b = rng.random((256, 256), dtype=np.float32), np.zeros(256, np.float32)
    with pytest.raises(ValueError, match="out overlaps inp"):
        pyae.ops.dense_forward(x, W, b, "identity", out=x)  # was silently wrong (error 15.8)
    out = pyae.ops.dense_forward(x, W, b, "identity")
    with pytest.raises(ValueError, match="dinp overlaps inp"):
        pyae.ops.dense_backward(out, out, x, W, "identity", dinp=x)
    with pytest.raises(ValueError, match="params overlaps grads"):
        pyae.ops.adam_update(W, W, np.zeros_like(W), np.zeros_like(W), step=1)


@pytest.mark.parametrize("kw,msg", [
    (dict(lr=float("nan")), "lr"), (dict(lr=-1.0), "lr"), (dict(lr=0.0), "lr"),
    (dict(beta1=1.0), "beta1"), (dict(beta2=1.5), "beta2"), (dict(eps=0.0), "eps"),
    (dict(step=1.7), "step"), (dict(step=0), "step"), (dict(step=True), "step")])
def test_adam_update_validates_its_hyperparameters(kw, msg):
    p = np.ones(4, np.float32)
    args = {"step": 1, **kw}
    with pytest.raises(ValueError, match=msg):
        pyae.ops.adam_update(p, np.ones(4, np.float32), np.zeros(4, np.float32),
                             np.zeros(4, np.float32), **args)
    np.testing.assert_array_equal(p, 1.0)


def test_kernel_widths_beyond_int_are_refused_not_truncated():
    """(1, 2**32 + 3) used to run as width 3. np.empty commits no memory, and
    the check comes before any element is read."""
    x = np.empty((1, 2**32 + 3), np.float32)
    W, b = np.ones((2, 3), np.float32), np.zeros(2, np.float32)
    out = np.empty((1, 2), np.float32)
    with pytest.raises(ValueError, match="beyond pyae's kernels"):
        _core.dense_forward(out, x, W, b, _core.Activation.identity, False)


# ------------------------------------------------ smaller items (issue 11, 9)
def test_bad_small_arguments_name_themselves():
    X = np.random.default_rng(0).random((30, 5), dtype=np.float32)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        pyae.Autoencoder(hidden=(2,), seed=-1, verbose=False).fit(X)
    with pytest.raises(ValueError, match="momentum must be a number"):
        pyae.Autoencoder(hidden=(2,), momentum="x", verbose=False).fit(X)
    with pytest.raises(ValueError, match="validation_data is an empty tuple"):
        pyae.Autoencoder(hidden=(2,), epochs=1, verbose=False).fit(X, validation_data=())
    vae = pyae.VAE(hidden=(4,), latent_dim=2, epochs=1, beta=np.float32(1), verbose=False).fit(X)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="seed must be an integer"):
            vae.sample(3, seed=bad)
    with pytest.raises(ValueError, match="sample must be True or False"):
        vae.transform(X, sample="yes")
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, 4096\]"):
        pyae.set_num_threads(2**31)


def test_noise_row_offsets_past_the_element_index_range_are_a_clear_error():
    X = np.zeros((3, 5), np.float32)
    noise = pyae.noise.Gaussian(0.1)
    last = (2**64 - X.size) // 5  # the largest offset whose elements all have an index
    assert noise(X, seed=1, row_offset=last).shape == X.shape
    for bad in (last + 1, 2**63, 2**64 - 1):
        with pytest.raises(ValueError, match="past index 2\\*\\*64"):
            noise(X, seed=1, row_offset=bad)
