"""Dask arrays in, lazy Dask arrays out: inference over data larger than one
machine, on any Dask scheduler (threads, processes, a distributed cluster).

Given a dask array, every row-wise inference method (``transform``,
``reconstruct``, ``score_samples``, ...) returns a lazy dask array with the
input's row chunks, the right ``meta`` (float32 NumPy) and no work done. The
model enters the graph once, as one ``dask.delayed`` key that every block's
task depends on: a distributed scheduler ships it to each worker once (and
only to the workers that need it), not once per chunk. The graph holds a
copy of the model as it was at the call: training it further does not
change a lazy result. Results equal the NumPy ones block for block (random
draws are keyed by the row's index in the whole array).

Training from a dask array: ``fit(X_dask, comm=comm)`` gives each MPI rank
a contiguous share of X's rows, which it computes and trains on
(pyae._distributed); without comm, ``fit`` computes X into memory.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import numpy as np


def is_dask_array(X) -> bool:
    """True for a dask.array.Array (without importing dask otherwise)."""
    return type(X).__module__.startswith("dask.array") and hasattr(X, "map_blocks")


def _apply(block, model, method, args, kwargs, row_keyed, block_info=None):
    if row_keyed:  # the draws of the block's rows as in the whole array
        start = block_info[0]["array-location"][0][0]
        kwargs = {**kwargs, "first_row": kwargs.get("first_row", 0) + start}
    return getattr(model, method)(block, *args, **kwargs)


def lazy_rows(width, dtype=np.float32, row_keyed=False):
    """Decorates a method of rows -> rows: given a dask array, it maps over
    the row blocks lazily; ``width``: a Widths.
    ``row_keyed``: the method takes ``first_row``, the index of X's first
    row in the whole array (its random draws are keyed by row)."""
    def decorate(method):
        @functools.wraps(method)
        def run(self, X, *args, **kwargs):
            if not is_dask_array(X):
                return method(self, X, *args, **kwargs)
            return map_rows(self, method.__name__, X, width, np.dtype(dtype), row_keyed,
                            args, kwargs)
        return run
    return decorate


def map_rows(model, method, X, width, dtype, row_keyed, args, kwargs):
    import copy

    import dask
    import dask.array as da

    model._check_fitted()
    if kwargs.get("out") is not None:
        raise ValueError("out= is for NumPy inputs; a dask array gives a new dask array")
    n_in = width.n_in(model)
    if X.ndim != 2 or X.shape[1] != n_in:
        raise ValueError(f"X must be a 2-D dask array of (n_samples, {n_in}), got shape "
                         f"{X.shape}")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
    if row_keyed and any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(f"{method} keys its random draws by row: it needs the row chunk "
                         "sizes (call X.compute_chunk_sizes() first)")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})  # whole rows in every block
    columns = width.out(model)
    # One key for the model (a copy: later training leaves this result alone).
    model_key = dask.delayed(copy.deepcopy(model), pure=False)
    token = f"pyae-{method}"
    if columns is None:
        return da.map_blocks(_apply, X, model_key, method, args, kwargs, row_keyed,
                             token=token, dtype=dtype, drop_axis=1, chunks=(X.chunks[0],),
                             meta=np.empty((0,), dtype=dtype))
    return da.map_blocks(_apply, X, model_key, method, args, kwargs, row_keyed, token=token,
                         dtype=dtype, chunks=(X.chunks[0], (columns,)),
                         meta=np.empty((0, columns), dtype=dtype))


class Widths(NamedTuple):
    """A row method's output columns (None: one value per row) and input
    columns, each from the fitted model."""
    out: Callable
    n_in: Callable


def features(model):
    return model.n_features_in_


def codes(model):
    return model._layout_.code_width


FEATURES_TO_FEATURES = Widths(features, features)
FEATURES_TO_CODES = Widths(codes, features)
CODES_TO_FEATURES = Widths(features, codes)
FEATURES_TO_ONE = Widths(lambda model: None, features)


def local_rows(X, comm):
    """This process's rows of dask array X as NumPy: with an MPI comm, rank
    r's contiguous share of the rows (by rows where the chunk sizes are
    known, else by whole blocks); without, all of X."""
    if comm is None:
        return X.compute()
    rank, size = comm.Get_rank(), comm.Get_size()
    if any(np.isnan(c) for c in X.chunks[0]):  # e.g. from a dask dataframe
        blocks = X.numblocks[0]
        return X.blocks[blocks * rank // size:blocks * (rank + 1) // size].compute()
    n = X.shape[0]
    return X[n * rank // size:n * (rank + 1) // size].compute()
