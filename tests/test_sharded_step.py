"""A training step on several threads splits the batch into contiguous
shards, one per thread (Network::sharded_step): each shard's noise and
epsilon are drawn at its rows' places in the whole batch, and the shards'
gradients are summed weighted by their share. Batches too small for a
shard per thread are split by columns instead (Network::column_step): each
thread owns a strip of every layer's outputs for the whole batch (a VAE's
latent head is one thread's), and the threads add their parts of each
input gradient. Either way T threads follow
one thread up to float32 summation order, and repeat themselves exactly."""

import numpy as np
import pytest

import pyae
from pyae import _core


@pytest.fixture
def threads():
    before = pyae.get_num_threads()
    yield pyae.set_num_threads
    pyae.set_num_threads(before)


MODELS = {
    "ae": lambda: pyae.Autoencoder(hidden=(48, 12), batch_size=256, epochs=2, verbose=False),
    "dae": lambda: pyae.DenoisingAutoencoder(hidden=(48, 12), batch_size=256, epochs=2,
                                             verbose=False),
    "vae": lambda: pyae.VAE(hidden=(48,), latent_dim=6, batch_size=256, epochs=2, verbose=False),
    "tied_bce": lambda: pyae.Autoencoder(hidden=(48, 12), loss="bce", tied_weights=True,
                                         batch_size=256, epochs=2, verbose=False),
}


@pytest.mark.parametrize("batch", [256, 100])  # 100: all but tied_bce split by columns
@pytest.mark.parametrize("T", [2, 3])  # 3: the optimiser folds the leading shards first
@pytest.mark.parametrize("name", list(MODELS))
def test_two_threads_follow_one_thread(name, T, batch, threads):
    # 300 features: 30k multiply-adds per sample, past the column split's least
    X = np.random.default_rng(0).random((700, 300), dtype=np.float32)
    threads(1)
    one = MODELS[name]().set_params(batch_size=batch).fit(X)
    threads(T)
    two = MODELS[name]().set_params(batch_size=batch).fit(X)
    again = MODELS[name]().set_params(batch_size=batch).fit(X)
    np.testing.assert_array_equal(two.network_.params, again.network_.params)
    np.testing.assert_allclose(two.network_.params, one.network_.params, rtol=1e-4, atol=2e-6)
    np.testing.assert_allclose(two.history_["loss"], one.history_["loss"], rtol=1e-5)


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("T", [2, 3, 4])
def test_a_sharded_step_equals_the_weighted_shard_gradients(T, tied, threads):
    """The step's gradient is the share-weighted sum of the shards' own
    gradients, each computed as a part of the whole batch (keys): checked
    through an SGD step of rate 1, whose update is the gradient itself.
    The optimiser sums the shards as it reads them, in shard order; the
    weights the shards share are packed for the step (changed weights
    again at the next), and every shard's buffer is zeroed for the next
    step: two steps, the weights changed in between."""
    from pyae._enums import ACTIVATIONS, LOSSES, NOISE_KINDS, OPTIMIZERS

    threads(T)
    table = _core.LayerTable.autoencoder(40, [16], ACTIVATIONS["sigmoid"],
                                         ACTIVATIONS["sigmoid"], tied)
    net = _core.Network(table, LOSSES["mse"], OPTIMIZERS["sgd"], 1.0, 0.9, 0.999, 1e-8, 0.0)
    net.mutable_params()[:] = np.random.default_rng(0).uniform(-0.5, 0.5, net.params.size)
    net.set_noise(NOISE_KINDS["gaussian"], 0.3, 0.0, 0.0, 1.0, 7)
    X = np.random.default_rng(1).random((500, 40), dtype=np.float32)
    B = 100 * T + 1  # shards of unequal size
    rows = np.arange(17, 17 + B, dtype=np.int64)
    first = [B * t // T for t in range(T + 1)]
    for step in (1, 2):
        losses, grads, shares = [], [], []
        for lo, hi in zip(first[:-1], first[1:]):
            losses.append(net.compute_gradients(X, rows[lo:hi],
                                                keys=np.arange(lo, hi, dtype=np.int64))[0])
            grads.append(net.grads.copy())
            shares.append(np.float32((hi - lo) / B))
        before = net.params.copy()
        loss = net.train_step(X, rows)[0]  # sharded: T threads
        assert net.step_count == step
        assert loss == pytest.approx(sum(s * l for s, l in zip(shares, losses)), rel=1e-6)
        want = shares[0] * grads[0]
        for s, g in zip(shares[1:], grads[1:]):
            want = want + s * g
        np.testing.assert_allclose(net.params, before - want, rtol=0, atol=1e-7)
        assert not net.grads.any()  # consumed: zero for the next step
        net.mutable_params()[:] *= np.float32(0.75)


def test_a_bad_row_in_a_sharded_step_raises_and_changes_nothing(threads):
    threads(2)
    X = np.random.default_rng(2).random((300, 30), dtype=np.float32)
    model = pyae.Autoencoder(hidden=(8,), batch_size=256, epochs=1, verbose=False).fit(X)
    net = model.network_
    before, steps = net.params.copy(), net.step_count
    rows = np.arange(256, dtype=np.int64)
    rows[200] = 300
    with pytest.raises(IndexError, match="outside the data"):
        net.train_step(X, rows)
    np.testing.assert_array_equal(net.params, before)
    assert net.step_count == steps
    rows[200] = 5  # the next step is unaffected by the failed one
    threads(1)
    solo = pyae.Autoencoder(hidden=(8,), batch_size=256, epochs=1, verbose=False).fit(X)
    solo.network_.train_step(X, rows)
    threads(2)
    net.train_step(X, rows)
    np.testing.assert_allclose(net.params, solo.network_.params, rtol=1e-4, atol=2e-6)



def test_injected_epsilon_is_split_with_the_rows(threads):
    """train_step(eps=...) gives each shard its own rows of eps."""
    X = np.random.default_rng(3).random((300, 30), dtype=np.float32)
    rows = np.arange(10, 266, dtype=np.int64)
    eps = np.random.default_rng(4).standard_normal((256, 5)).astype(np.float32)
    nets = []
    for n in (1, 2):
        threads(n)
        model = pyae.VAE(hidden=(16,), latent_dim=5, epochs=1, batch_size=256,
                         verbose=False).fit(X[:256])
        model.network_.train_step(X, rows, eps)
        nets.append(model.network_)
    np.testing.assert_allclose(nets[1].params, nets[0].params, rtol=1e-4, atol=2e-6)
    eps[200:] = 0.0  # the second shard's rows: a different eps must change the step
    threads(2)
    other = pyae.VAE(hidden=(16,), latent_dim=5, epochs=1, batch_size=256,
                     verbose=False).fit(X[:256])
    other.network_.train_step(X, rows, eps)
    assert not np.allclose(other.network_.params, nets[1].params, rtol=1e-6, atol=1e-8)


def test_sharded_steps_follow_changes_of_precision_and_thread_count(threads):
    """Step packs are per precision and the panel split per thread count:
    switching either between steps still gives each step the share-weighted
    gradients of its shards (checked through SGD of rate 1, as above)."""
    from pyae._enums import ACTIVATIONS, LOSSES, OPTIMIZERS, PRECISIONS

    table = _core.LayerTable.autoencoder(50, [24, 6], ACTIVATIONS["sigmoid"],
                                         ACTIVATIONS["sigmoid"], True)
    net = _core.Network(table, LOSSES["mse"], OPTIMIZERS["sgd"], 1.0, 0.9, 0.999, 1e-8, 0.0)
    net.mutable_params()[:] = np.random.default_rng(0).uniform(-0.5, 0.5, net.params.size)
    X = np.random.default_rng(1).random((400, 50), dtype=np.float32)
    has_bf16 = _core.bf16_best_path() != "none"
    plan = [("fp32", 2), ("bf16", 2), ("fp32", 3), ("bf16", 3), ("fp32", 2)]
    for precision, T in plan:
        if precision == "bf16" and not has_bf16:
            continue
        threads(T)
        net.set_precision(PRECISIONS[precision])
        B = 64 * T + 5
        rows = np.arange(3, 3 + B, dtype=np.int64)
        first = [B * t // T for t in range(T + 1)]
        grads, shares = [], []
        for lo, hi in zip(first[:-1], first[1:]):
            net.compute_gradients(X, rows[lo:hi], keys=np.arange(lo, hi, dtype=np.int64))
            grads.append(net.grads.copy())
            shares.append(np.float32((hi - lo) / B))
        before = net.params.copy()
        net.train_step(X, rows)
        want = shares[0] * grads[0]
        for s, g in zip(shares[1:], grads[1:]):
            want = want + s * g
        np.testing.assert_allclose(net.params, before - want, rtol=0, atol=1e-7,
                                   err_msg=f"{precision}, {T} threads")


def _column_net(loss, precision, noise, widths=(40, 9)):
    from pyae._enums import ACTIVATIONS, LOSSES, NOISE_KINDS, OPTIMIZERS, PRECISIONS

    table = _core.LayerTable.autoencoder(70, list(widths), ACTIVATIONS["sigmoid"],
                                         ACTIVATIONS["sigmoid"], False)
    net = _core.Network(table, LOSSES[loss], OPTIMIZERS["sgd"], 1.0, 0.9, 0.999, 1e-8, 0.0)
    net.set_precision(PRECISIONS[precision])
    net.mutable_params()[:] = np.random.default_rng(0).uniform(-0.5, 0.5, net.params.size)
    if noise:
        net.set_noise(NOISE_KINDS["gaussian"], 0.3, 0.0, 0.0, 1.0, 7)
    return net


PRECISIONS_HERE = ["fp32"] + (["bf16"] if _core.bf16_best_path() != "none" else [])


@pytest.mark.parametrize("precision", PRECISIONS_HERE)
@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("noise", [False, True])
@pytest.mark.parametrize("T", [2, 3, 5])  # 5: threads past the 9-wide code's one strip
def test_a_column_step_is_the_whole_batch_gradient(T, noise, loss, precision, threads):
    """Split by columns, the step's gradient is the whole batch's (computed
    on one thread): checked through an SGD step of rate 1, whose update is
    the gradient itself, twice with the weights changed in between (each
    thread re-packs its own panels), and the gradient is consumed."""
    threads(T)
    net = _column_net(loss, precision, noise)
    net.step_split = "columns"
    X = np.random.default_rng(1).random((300, 70), dtype=np.float32)
    rows = np.arange(5, 205, dtype=np.int64)
    for step in (1, 2):
        loss_whole = net.compute_gradients(X, rows)[0]
        whole = net.grads.copy()
        want = net.params - whole
        got_loss = net.train_step(X, rows)[0]
        assert net.step_count == step
        assert got_loss == pytest.approx(loss_whole, rel=1e-6)
        np.testing.assert_allclose(net.params, want, rtol=0, atol=1e-7)
        assert not net.grads.any()  # consumed: zero for the next step
        net.mutable_params()[:] *= np.float32(0.75)


@pytest.mark.parametrize("T", [2, 5])
def test_small_batches_split_by_columns_and_large_ones_by_rows(T, threads):
    """The automatic rule: columns where a shard of rows per thread would
    not fill the threads, unless the network is tiny; tied networks always
    by rows. A column step and a row step of the same batch
    give the same update."""
    threads(T)
    X = np.random.default_rng(1).random((300, 70), dtype=np.float32)
    for B in (1, 3, 40, 127, 128, 256):  # 1, 3: fewer rows than some threads
        rows = np.arange(B, dtype=np.int64)
        got = {}
        for split in ("auto", "rows", "columns"):
            net = _column_net("mse", "fp32", True, widths=(256, 64))
            net.step_split = split
            net.train_step(X, rows)
            got[split] = net.params.copy()
        np.testing.assert_allclose(got["rows"], got["columns"], rtol=0, atol=1e-7)
        same = "columns" if B < 64 * T else "rows"
        np.testing.assert_array_equal(got["auto"], got[same], err_msg=f"batch {B}")
        auto = _column_net("mse", "fp32", True, widths=(256, 64))
        assert auto.splits_columns(B) == (same == "columns")
        # 70-40-9-40-70: 6.3k multiply-adds per sample, barriers cost more than its layers
        assert not _column_net("mse", "fp32", True).splits_columns(B)
    net = _column_net("mse", "fp32", False)
    assert net.step_split == "auto"
    with pytest.raises(ValueError, match="'auto', 'rows' or 'columns'"):
        net.step_split = "diagonal"
    assert net.step_split == "auto"


def test_columns_on_a_tied_network_fall_back_to_rows(threads):
    """A tied weight's two users own different parts of it: rows."""
    threads(2)
    X = np.random.default_rng(1).random((300, 300), dtype=np.float32)
    make = lambda: pyae.Autoencoder(hidden=(96,), tied_weights=True, batch_size=64, epochs=1,
                                    verbose=False)
    a, b = make().fit(X[:64]), make().fit(X[:64])
    b.network_.step_split = "columns"
    rows = np.arange(10, 74, dtype=np.int64)
    a.network_.train_step(X, rows)
    b.network_.train_step(X, rows)
    np.testing.assert_array_equal(a.network_.params, b.network_.params)
    assert not b.network_.splits_columns(64)


@pytest.mark.parametrize("precision", PRECISIONS_HERE)
@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("latent,hidden", [(6, [40]), (40, [64, 50])])  # 40: 2Z past a panel
@pytest.mark.parametrize("injected", [False, True])
def test_a_column_step_of_a_vae_is_the_whole_batch_gradient(injected, latent, hidden, loss,
                                                            precision, threads):
    """A VAE splits by columns with its latent head on one thread (the
    reparameterisation pairs mu and log sigma^2 columns, and the KL term):
    the step's losses (total, reconstruction, KL) and gradient are the whole
    batch's, with epsilon drawn (Philox) or injected."""
    from pyae._enums import ACTIVATIONS, LOSSES, OPTIMIZERS, PRECISIONS

    threads(2)
    table = _core.LayerTable.vae(70, hidden, latent, ACTIVATIONS["sigmoid"],
                                 ACTIVATIONS["sigmoid"])
    net = _core.Network(table, LOSSES[loss], OPTIMIZERS["sgd"], 1.0, 0.9, 0.999, 1e-8, 0.0)
    net.set_precision(PRECISIONS[precision])
    net.mutable_params()[:] = np.random.default_rng(0).uniform(-0.5, 0.5, net.params.size)
    net.set_latent_seed(11)
    net.step_split = "columns"
    X = np.random.default_rng(1).random((300, 70), dtype=np.float32)
    rows = np.arange(5, 105, dtype=np.int64)
    eps = np.random.default_rng(2).standard_normal((100, latent)).astype(np.float32)
    for step in (1, 2):
        args = (X, rows, eps) if injected else (X, rows)
        whole = net.compute_gradients(*args)
        want = net.params - net.grads
        scale = np.abs(net.grads).max()
        got = net.train_step(*args)
        np.testing.assert_allclose(got, whole, rtol=1e-6)
        # (the gradient to float32 summation order; params to their last bit)
        np.testing.assert_allclose(net.params, want, rtol=5e-7, atol=1e-7 * max(scale, 1.0))
        assert not net.grads.any()
        net.mutable_params()[:] *= np.float32(0.9)


def test_a_bad_row_in_a_column_step_raises_and_changes_nothing(threads):
    threads(2)
    net = _column_net("mse", "fp32", False)
    X = np.random.default_rng(2).random((300, 70), dtype=np.float32)
    before = net.params.copy()
    rows = np.arange(64, dtype=np.int64)
    rows[40] = 300
    with pytest.raises(IndexError, match="outside the data"):
        net.train_step(X, rows)
    np.testing.assert_array_equal(net.params, before)
    assert net.step_count == 0 and not net.grads.any()
    rows[40] = 7
    net.compute_gradients(X, rows)
    want = net.params - net.grads
    net.train_step(X, rows)
    np.testing.assert_allclose(net.params, want, rtol=0, atol=1e-7)


def test_switching_splits_and_threads_between_steps_keeps_every_pack_current(threads):
    """Rows and columns share the packed weights (columns re-pack each
    thread's own panels, rows all of them): any sequence of splits, thread
    counts and precisions gives every step the whole batch's gradient."""
    net = _column_net("bce", "fp32", False, widths=(96, 33))
    X = np.random.default_rng(3).random((400, 70), dtype=np.float32)
    rows = np.arange(3, 203, dtype=np.int64)
    from pyae._enums import PRECISIONS

    for precision, T, split in [("fp32", 2, "columns"), ("fp32", 2, "rows"), ("bf16", 3, "columns"),
                                ("bf16", 2, "rows"), ("bf16", 2, "columns"), ("fp32", 3, "columns"),
                                ("fp32", 1, "columns"), ("fp32", 2, "rows")]:
        if precision not in PRECISIONS_HERE:
            continue
        threads(T)
        net.set_precision(PRECISIONS[precision])
        net.step_split = split
        net.compute_gradients(X, rows)
        want = net.params - net.grads
        net.train_step(X, rows)
        tol = 1e-7 if split == "columns" else 2e-7  # rows: shares summed in another order
        np.testing.assert_allclose(net.params, want, rtol=0, atol=tol,
                                   err_msg=f"{precision}, {T} threads, {split}")
        net.mutable_params()[:] *= np.float32(0.9)



NEEDS_BF16 = pytest.mark.skipif(_core.bf16_best_path() == "none",
                                reason="this CPU has neither AVX512-BF16 nor AMX-BF16")


@NEEDS_BF16
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("widths", [(50, [24, 6]), (70, [33, 5])])  # part panels, odd rows
@pytest.mark.parametrize("T", [2, 3, 4])
def test_bf16_rows_steps_update_and_repack_their_own_rows(T, widths, optimizer, threads):
    """An untied bf16 network's rows step updates and re-packs in its own
    region, each thread its rows of every weight (Network::update_and_repack),
    and the next step multiplies by those packs. Every rows step is the
    optimiser applied to the share-weighted shard gradients (computed on a
    second network from the same weights): steps in a row (packs from the
    last update), after a write to the parameters (packed afresh), and after
    a column step and a one-thread step (neither re-packs every panel)."""
    from pyae._enums import ACTIVATIONS, LOSSES, OPTIMIZERS, PRECISIONS

    D, hidden = widths
    table = _core.LayerTable.autoencoder(D, hidden, ACTIVATIONS["sigmoid"],
                                         ACTIVATIONS["sigmoid"], False)
    lr = 1.0 if optimizer == "sgd" else 0.01
    net = _core.Network(table, LOSSES["mse"], OPTIMIZERS[optimizer], lr, 0.9, 0.999, 1e-8, 0.0)
    ref = _core.Network(table, LOSSES["mse"], OPTIMIZERS["sgd"], 1.0, 0.9, 0.999, 1e-8, 0.0)
    for n in (net, ref):
        n.set_precision(PRECISIONS["bf16"])
    net.mutable_params()[:] = np.random.default_rng(0).uniform(-0.5, 0.5, net.params.size)
    X = np.random.default_rng(1).random((600, D), dtype=np.float32)
    B = 64 * T + 7
    first = [B * t // T for t in range(T + 1)]
    threads(T)
    for step, before in enumerate(["", "", "write", "", "columns", "", "one thread", ""]):
        rows = np.arange(5 * step, 5 * step + B, dtype=np.int64)
        if before == "write":
            net.mutable_params()[:] *= np.float32(0.9)
        elif before:  # a step of another kind
            threads(1 if before == "one thread" else T)
            net.step_split = "columns"
            net.train_step(X, rows[:40])
            threads(T)
            net.step_split = "rows"
        ref.mutable_params()[:] = net.params
        g = None
        for lo, hi in zip(first[:-1], first[1:]):
            ref.compute_gradients(X, rows[lo:hi], keys=np.arange(lo, hi, dtype=np.int64))
            part = np.float32((hi - lo) / B) * ref.grads
            g = part if g is None else g + part
        want = net.params.copy()
        if optimizer == "adam":
            m, v = net.optimizer_state(0).copy(), net.optimizer_state(1).copy()
            pyae.ops.adam_update(want, g, m, v, step=net.step_count + 1, lr=lr)
        else:
            want -= g
        assert net.splits_columns(B) is False
        net.train_step(X, rows)
        np.testing.assert_allclose(net.params, want, rtol=0, atol=1e-7,
                                   err_msg=f"step {step}, after {before or 'a rows step'}")
        assert not net.grads.any()
        if optimizer == "adam":
            np.testing.assert_array_equal(net.optimizer_state(0), m)
            np.testing.assert_array_equal(net.optimizer_state(1), v)
