"""Data-parallel training over MPI. Run under several ranks:

    mpirun -n 2 python -m pytest tests/mpi -q -p no:cacheprovider

(tests/test_mpi_launch.py does that from the ordinary test run). Every rank
runs every test; assertions compare values gathered from all ranks, so the
ranks pass or fail together and never wait on each other.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import pyae
from pyae import _distributed

HOST_OPS = Path(__file__).parents[1] / "host_ops.py"

MPI = pytest.importorskip("mpi4py.MPI", reason="the MPI tests need mpi4py")
COMM = MPI.COMM_WORLD
pytestmark = pytest.mark.skipif(COMM.Get_size() < 2,
                                reason="run under mpirun -n 2 (or more) to test several ranks")
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()


def shard_bounds(n, weights=None):
    """Uneven contiguous shards: rank r gets a share proportional to r + 1."""
    w = np.arange(1, SIZE + 1, dtype=float) if weights is None else np.asarray(weights, float)
    edges = np.r_[0, np.round(np.cumsum(w) / w.sum() * n)].astype(int)
    return edges[RANK], edges[RANK + 1]


def data(n=320, d=12, seed=0):
    return np.random.default_rng(seed).random((n, d)).astype(np.float32)


MODELS = {
    "ae": lambda b, **kw: pyae.Autoencoder(hidden=(8, 4), batch_size=b, seed=3, verbose=False,
                                           **kw),
    "dae": lambda b, **kw: pyae.DenoisingAutoencoder(hidden=(8,), noise=pyae.noise.Gaussian(0.3),
                                                     batch_size=b, seed=3, verbose=False, **kw),
    "dae-masking": lambda b, **kw: pyae.DenoisingAutoencoder(
        hidden=(8,), noise=pyae.noise.Masking(0.3), batch_size=b, seed=3, verbose=False, **kw),
    "vae": lambda b, **kw: pyae.VAE(hidden=(8,), latent_dim=3, batch_size=b, seed=3,
                                    verbose=False, **kw),
}


def all_true(flag):
    return COMM.allreduce(bool(flag), op=MPI.LAND)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_n_ranks_follow_one_process_with_n_times_the_batch(kind):
    """20 steps (2 epochs of 10 global batches of SIZE * 16 rows) on uneven
    shards: losses and weights match the single-process run with batch
    SIZE * 16, to rtol 1e-5."""
    b = 16
    X = data(n=SIZE * b * 10)
    lo, hi = shard_bounds(len(X))
    val = data(n=50, seed=1)
    vlo, vhi = shard_bounds(len(val), weights=np.arange(SIZE, 0, -1))
    dist = MODELS[kind](b, epochs=2).fit(X[lo:hi], validation_data=val[vlo:vhi], comm=COMM)
    single = MODELS[kind](SIZE * b, epochs=2).fit(X, validation_data=val)
    assert single.network_.step_count == dist.network_.step_count == 20
    ok = np.allclose(dist.history_["loss"], single.history_["loss"], rtol=1e-5) and \
        np.allclose(dist.history_["val_loss"], single.history_["val_loss"], rtol=1e-5) and \
        np.allclose(dist.network_.params, single.network_.params, rtol=1e-5, atol=1e-7)
    assert all_true(ok), (dist.history_, single.history_,
                          np.abs(dist.network_.params - single.network_.params).max())
    # The statistics of the anomaly scores too (and so the threshold).
    assert all_true(np.isclose(dist.threshold_, single.threshold_, rtol=1e-4))
    for name, value in single.outlier_stats_.items():
        assert all_true(np.allclose(dist.outlier_stats_[name], value, rtol=1e-4, atol=1e-5)), name


def test_weights_are_identical_on_every_rank_after_every_epoch(monkeypatch):
    hashes = []
    real = _distributed.train_epoch

    def recording(backend, *args):
        total = real(backend, *args)
        hashes.append(hashlib.sha256(backend.net.params.tobytes()).hexdigest())
        return total

    monkeypatch.setattr(_distributed, "train_epoch", recording)
    X = data(n=333)  # not a multiple of the global batch: a short last step
    lo, hi = shard_bounds(len(X))
    MODELS["dae"](32, epochs=4).fit(X[lo:hi], comm=COMM)
    every = COMM.allgather(hashes)
    assert len(hashes) == 4 and all(h == every[0] for h in every)


def test_seed_none_still_gives_every_rank_the_same_model():
    X = data()
    lo, hi = shard_bounds(len(X))
    m = pyae.Autoencoder(hidden=(6,), epochs=1, seed=None, verbose=False).fit(X[lo:hi], comm=COMM)
    digests = COMM.allgather(hashlib.sha256(m.network_.params.tobytes()).hexdigest())
    assert len(set(digests)) == 1


def test_scaling_is_learnt_from_every_rank():
    X = data() * np.arange(1, 13, dtype=np.float32) - 3.0
    lo, hi = shard_bounds(len(X))
    for scale in ("standard", "minmax"):
        m = pyae.Autoencoder(hidden=(6,), epochs=1, scale=scale, output_activation="identity",
                             loss="mse", verbose=False).fit(X[lo:hi], comm=COMM)
        single = pyae.Autoencoder(hidden=(6,), epochs=1, scale=scale,
                                  output_activation="identity", loss="mse",
                                  verbose=False).fit(X)
        assert all_true(np.allclose(m.scaler_[0], single.scaler_[0], rtol=1e-6) and
                        np.allclose(m.scaler_[1], single.scaler_[1], rtol=1e-6)), scale


def test_early_stopping_is_agreed_with_validation_rows_on_one_rank_only():
    X = data()
    lo, hi = shard_bounds(len(X))
    val = data(n=40, seed=2) if RANK == 0 else None
    m = MODELS["ae"](8, epochs=30, patience=1, tol=1e9).fit(X[lo:hi], validation_data=val,
                                                          comm=COMM)
    # tol 1e9: the second epoch is never an improvement, so every rank stops there.
    runs = COMM.allgather((len(m.history_["loss"]), m.history_["val_loss"]))
    assert all(r == runs[0] for r in runs) and runs[0][0] == 2


def test_bad_data_on_one_rank_stops_every_rank_with_its_message():
    X = data()
    lo, hi = shard_bounds(len(X))
    mine = X[lo:hi].copy()
    if RANK == SIZE - 1:
        mine[3, 2] = np.nan
    model = MODELS["ae"](16, epochs=2)
    with pytest.raises((ValueError, pyae.RankError)) as info:
        model.fit(mine, comm=COMM)
    text = str(info.value)
    assert "NaN" in text or "finite" in text
    if RANK != SIZE - 1:
        assert f"rank {SIZE - 1} of {SIZE} failed" in text
    assert not hasattr(model, "network_")


class Interrupted(BaseException):
    """Like KeyboardInterrupt (not an Exception), without pytest's handling of it."""


def test_a_rank_failing_mid_training_stops_every_rank_and_training_can_resume(monkeypatch):
    X = data()
    lo, hi = shard_bounds(len(X))
    model = MODELS["dae"](16, epochs=3)
    calls = []
    real = _distributed.train_epoch

    def failing(backend, *args):
        if RANK == 0 and len(calls) == 1:
            real_step = backend.local_gradients

            def local_gradients(*a, **k):  # the 3rd step of epoch 2 raises on rank 0
                if backend.net.step_count == 13:
                    raise Interrupted("interrupted on rank 0")
                return real_step(*a, **k)
            backend.local_gradients = local_gradients
        calls.append(1)
        try:
            return real(backend, *args)
        finally:
            backend.__dict__.pop("local_gradients", None)

    monkeypatch.setattr(_distributed, "train_epoch", failing)
    with pytest.raises((Interrupted, pyae.RankError)) as info:
        model.fit(X[lo:hi], comm=COMM)
    if RANK != 0:
        assert "rank 0 of" in str(info.value) and "interrupted on rank 0" in str(info.value)
    assert not hasattr(model, "network_")  # all or nothing, on every rank
    monkeypatch.setattr(_distributed, "train_epoch", real)
    model.fit(X[lo:hi], comm=COMM)
    single = MODELS["dae"](16 * SIZE, epochs=3).fit(X)
    assert all_true(np.allclose(model.network_.params, single.network_.params, rtol=1e-5,
                                atol=1e-7))


def test_different_parameters_on_the_ranks_are_refused_on_every_rank():
    X = data()
    lo, hi = shard_bounds(len(X))
    model = MODELS["ae"](16, epochs=1, learning_rate=1e-3 * (RANK + 1))
    with pytest.raises(ValueError, match="different model parameters"):
        model.fit(X[lo:hi], comm=COMM)


def test_comm_must_be_an_mpi4py_communicator():
    with pytest.raises(TypeError, match="mpi4py intracommunicator"):
        MODELS["ae"](16, epochs=1).fit(data(), comm="COMM_WORLD")


def test_the_gil_is_free_while_a_rank_waits_in_the_allreduce():
    """A Python thread keeps running while this rank waits for a late rank
    in the gradient's Allreduce."""
    import threading
    import time

    X = data()
    lo, hi = shard_bounds(len(X))
    ticks, stop = [], threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=ticker)
    if RANK == 0:
        thread.start()
    else:
        time.sleep(0.5)  # rank 0 waits for this rank in its first collective
    MODELS["ae"](16, epochs=1).fit(X[lo:hi], comm=COMM)
    stop.set()
    if RANK == 0:
        thread.join()
    assert all_true(RANK != 0 or len(ticks) > 100)


def test_fit_from_a_dask_array_each_rank_computing_its_own_blocks():
    da = pytest.importorskip("dask.array", reason="needs dask[array]")
    X = data(n=SIZE * 16 * 10)
    touched = []

    def record(block, block_info=None):
        touched.append(block_info[0]["array-location"][0])
        return block

    # Every rank describes the whole array; each computes only its blocks.
    Xd = da.from_array(X, chunks=(40, 12)).map_blocks(
        record, dtype=np.float32, meta=np.empty((0, 12), np.float32))
    dist = MODELS["vae"](16, epochs=2).fit(Xd, comm=COMM)
    single = MODELS["vae"](16 * SIZE, epochs=2).fit(X)
    assert all_true(np.allclose(dist.network_.params, single.network_.params, rtol=1e-5,
                                atol=1e-7))
    everyone = sorted(t for ts in COMM.allgather(touched) for t in ts)
    assert everyone == [(s, s + 40) for s in range(0, len(X), 40)]  # each block once, in all


@pytest.fixture
def gpu_stand_in(monkeypatch):
    """device="cuda" on the tests' NumPy stand-in of the GPU's ops: the GPU
    network's data-parallel step runs (its gradient sum over MPI, as NCCL
    needs a GPU)."""
    spec = importlib.util.spec_from_file_location("host_ops", HOST_OPS)
    host_ops = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(host_ops)
    ops = host_ops.HostOps()
    monkeypatch.setattr("pyae._device.cuda_ops", lambda: ops)
    return ops


@pytest.mark.parametrize("kind", ["ae", "dae", "vae"])
def test_gpu_ranks_follow_one_gpu_process_with_n_times_the_batch(gpu_stand_in, kind):
    b = 16
    X = data(n=SIZE * b * 10 + 7)  # a short last step too
    lo, hi = shard_bounds(len(X))
    dist = MODELS[kind](b, epochs=2, device="cuda").fit(X[lo:hi], comm=COMM)
    single = MODELS[kind](SIZE * b, epochs=2, device="cuda").fit(X)
    dist._sync_to_host()
    single._sync_to_host()
    assert single.network_.step_count == dist.network_.step_count == 22
    ok = np.allclose(dist.history_["loss"], single.history_["loss"], rtol=1e-5) and \
        np.allclose(dist.network_.params, single.network_.params, rtol=1e-5, atol=1e-7)
    assert all_true(ok), (dist.history_, single.history_,
                          np.abs(dist.network_.params - single.network_.params).max())
    digests = COMM.allgather(hashlib.sha256(dist.network_.params.tobytes()).hexdigest())
    assert len(set(digests)) == 1


def test_fit_from_a_dask_array_of_unknown_chunk_sizes():
    da = pytest.importorskip("dask.array", reason="needs dask[array]")
    X = data(n=SIZE * 16 * 4)
    Xd = da.from_array(X, chunks=(32, 12))
    Xd = Xd[Xd[:, 0] >= 0]  # a boolean mask: row chunks of unknown size
    assert np.isnan(Xd.chunks[0][0])
    dist = MODELS["ae"](16, epochs=1).fit(Xd, comm=COMM)
    single = MODELS["ae"](16 * SIZE, epochs=1).fit(X)
    assert all_true(np.allclose(dist.network_.params, single.network_.params, rtol=1e-5,
                                atol=1e-7))


def test_a_rank_with_no_rows_stops_every_rank():
    X = data(n=64)
    mine = X if RANK == 0 else X[:0]
    with pytest.raises((ValueError, pyae.RankError)) as info:
        MODELS["ae"](16, epochs=1).fit(mine, comm=COMM)
    assert "empty" in str(info.value) or "0 samples" in str(info.value) or \
        "no samples" in str(info.value), str(info.value)


def test_verbose_may_differ_between_ranks():
    X = data()
    lo, hi = shard_bounds(len(X))
    m = pyae.Autoencoder(hidden=(6,), epochs=1, seed=0, verbose=(RANK == 0)).fit(X[lo:hi],
                                                                                 comm=COMM)
    digests = COMM.allgather(hashlib.sha256(m.network_.params.tobytes()).hexdigest())
    assert len(set(digests)) == 1


def test_a_rank_failing_in_the_score_statistics_stops_every_rank(monkeypatch):
    X = data()
    lo, hi = shard_bounds(len(X))
    if RANK == SIZE - 1:
        def broken(*a, **k):
            raise MemoryError("no memory for the neighbour search")
        monkeypatch.setattr(pyae.Autoencoder, "_neighbours", staticmethod(broken))
    model = MODELS["ae"](16, epochs=1)
    with pytest.raises((MemoryError, pyae.RankError), match="neighbour search"):
        model.fit(X[lo:hi], comm=COMM)
    assert not hasattr(model, "network_")


def test_fit_predict_labels_this_ranks_rows():
    X = data()
    lo, hi = shard_bounds(len(X))
    labels = MODELS["ae"](16, epochs=1, contamination=0.1).fit_predict(X[lo:hi], comm=COMM)
    assert len(labels) == hi - lo
    flagged = COMM.allreduce(int(np.sum(labels == -1)))
    assert abs(flagged - 0.1 * len(X)) <= 2  # the share over all ranks' rows
