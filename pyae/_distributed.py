"""Data-parallel training over MPI: ``model.fit(X_local, comm=comm)``.

Each rank holds a contiguous shard of the global data set, in rank order.
Every rank draws the same global permutation of all rows from the model's
seed; a global batch is ``size * batch_size`` consecutive entries of it, and
each rank computes the gradient of the rows of that batch it holds (on
average ``batch_size``), with the DAE's noise and the VAE's epsilon drawn as
at the row's position in the global batch. The gradients (each scaled by
its share of the batch) are summed with one in-place ``Allreduce`` and every
rank applies the same update. So N ranks follow the trajectory of one
process with batch ``N * batch_size`` whatever the sharding, up to the
order of floating-point sums.

Failures: a rank whose step raises puts NaN in the gradient it contributes;
every rank sees it after the allreduce, the messages are gathered, and every
rank raises (the failing one its own exception, the others a RankError
naming it). No rank is left waiting in a collective.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np


class RankError(RuntimeError):
    """Another rank of a distributed fit failed; the message says which and why."""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Local:
    """One process: every collective is the identity."""

    rank, size, offset = 0, 1, 0

    def set_rows(self, n_local):
        pass

    def offset_of(self, n_local):
        return 0

    def n_rows(self, n_local):
        return n_local

    def any(self, flag):
        return bool(flag)

    def bcast_array(self, a):
        pass

    def sum(self, a):
        return np.asarray(a, dtype=np.float64)

    minimum = maximum = sum

    def gather(self, a):
        return a

    def agree(self, error):
        if error is not None:
            raise error

    def run(self, fn):
        return fn()

    def close(self):
        pass


LOCAL = Local()


class Mpi:
    """The collectives a distributed fit needs, over an mpi4py communicator.
    mpi4py releases the GIL inside every MPI call."""

    def __init__(self, comm):
        try:
            from mpi4py import MPI
        except ImportError as e:  # pragma: no cover - the [mpi] extra
            raise ImportError("comm= needs mpi4py: pip install 'pyae[mpi]'") from e
        if not isinstance(comm, MPI.Intracomm):
            raise TypeError(f"comm must be an mpi4py intracommunicator (e.g. MPI.COMM_WORLD), "
                            f"got {type(comm).__name__}")
        # A private copy: fit's collectives never match the caller's own
        # messages, or another fit's on the same communicator.
        self.MPI, self.comm = MPI, comm.Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.offset = 0  # of this rank's training rows, once set_rows ran

    def set_rows(self, n_local):
        """Collective: this rank's training rows are global rows offset..."""
        self.offset = self.offset_of(n_local)

    def offset_of(self, n_local):
        """Collective: the global index of this rank's first row of a set
        sharded in rank order (n_local rows here)."""
        return int(self.comm.exscan(int(n_local)) or 0)  # rank 0 receives None

    def n_rows(self, n_local):
        return int(self.comm.allreduce(int(n_local)))

    def any(self, flag):
        return bool(self.comm.allreduce(bool(flag), op=self.MPI.LOR))

    def _reduce(self, a, op):
        buf = np.array(a, dtype=np.float64)  # a copy: the caller's array stays as it was
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=op)
        return buf

    def sum(self, a):
        return self._reduce(a, self.MPI.SUM)

    def minimum(self, a):
        return self._reduce(a, self.MPI.MIN)

    def maximum(self, a):
        return self._reduce(a, self.MPI.MAX)

    def gather(self, a):
        """Every rank's rows of ``a`` (n_r, ...), concatenated in rank order."""
        a = np.ascontiguousarray(a)
        shape = a.shape[1:]
        counts = self.comm.allgather(len(a))
        out = np.empty((sum(counts), *shape), dtype=a.dtype)
        width = int(np.prod(shape, dtype=np.int64))
        self.comm.Allgatherv(a, [out, [c * width for c in counts]])
        return out

    def agree(self, error):
        """Collective: raises on every rank if any rank has an ``error``."""
        messages = self.comm.allgather(None if error is None else _describe(error))
        if error is not None:
            raise error
        for rank, message in enumerate(messages):
            if message is not None:
                raise RankError(f"rank {rank} of {self.size} failed: {message}")

    def run(self, fn):
        """Collective: fn() on this rank; if it raises on any rank, every
        rank raises (this one its own exception, the others a RankError)."""
        error = result = None
        try:
            result = fn()
        except BaseException as e:  # an interrupt too: the others must not wait
            error = e
        self.agree(error)
        return result

    def close(self):
        self.comm.Free()

    def sum_gradients(self, grads):
        """In-place sum of every rank's (N) float32 NumPy gradient; True,
        with grads zeroed for a clean next step, when the sum holds the NaN
        flag (a failed rank, or divergence). GPU gradients: pyae._gpu.nccl."""
        self.comm.Allreduce(self.MPI.IN_PLACE, grads, op=self.MPI.SUM)
        if grads[0] != grads[0]:
            grads[...] = 0.0
            return True
        return False

    def bcast(self, value):
        return self.comm.bcast(value, root=0)

    def bcast_array(self, a):
        self.comm.Bcast(a, root=0)


def collective(comm):
    return LOCAL if comm is None else Mpi(comm)


def check_same_config(coll, cfg, n_features):
    """Collective: every rank was given the same parameters and feature count."""
    if coll.size == 1:
        return
    from . import _core

    # verbose may differ (verbose=(rank == 0) is natural); the instruction
    # path may not: ranks that round differently would drift apart.
    same = {k: repr(v) for k, v in sorted(cfg.items()) if k != "verbose"}
    text = json.dumps(same | {"n_features": n_features, "simd_level": _core.simd_level(),
                              "bf16_path": _core.bf16_best_path()})
    digests = coll.comm.allgather(hashlib.sha256(text.encode()).hexdigest())
    if len(set(digests)) > 1:
        raise ValueError("the ranks were given different model parameters or feature counts, "
                         "or run different instruction paths (pyae.simd_level()) "
                         f"(rank digests {[d[:8] for d in digests]}); every rank must build "
                         "the same model on the same kind of CPU")


def train_epoch(backend, X, order, batch, coll):
    """One epoch of data-parallel training on this rank's shard X (n_r, D)
    (a backend's device array): ``order`` (n) is the global permutation,
    ``batch`` the global batch. Returns the epoch's summed per-row loss over
    all ranks."""
    lo = coll.offset
    owned = (order >= lo) & (order < lo + len(X))
    total, failure = 0.0, None
    for start in range(0, len(order), batch):
        seg = order[start:start + batch]
        pos = np.flatnonzero(owned[start:start + batch])
        if failure is None and len(pos):
            try:
                total += backend.local_gradients(X, seg[pos] - lo, pos, len(seg))
            except BaseException as e:  # reported to every rank below
                failure = e
        if failure is not None:
            backend.gradients()[:1] = np.nan
        if backend.sum_gradients(coll):
            coll.agree(failure)
            raise FloatingPointError("training diverged (a NaN gradient); lower learning_rate")
        backend.apply_gradients(len(pos))
    return float(coll.sum([float(total)])[0])  # a GPU sum comes to the host once
