"""Everything a DeviceNetwork needs from a GPU, in one object: CuPy for
memory, cuBLAS GEMMs, the CUDA kernels, and CUDA-graph capture. The tests
drive the same network with a NumPy stand-in of this interface."""

from __future__ import annotations

import contextlib

from .blas import WORKSPACE_BYTES, Cublas
from .kernels import load_kernels


class CudaOps:
    def __init__(self, kernels: str = "auto"):
        import cupy

        self.xp = cupy
        self.kernels = load_kernels(kernels)
        # Captures need a stream other than the legacy default stream.
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self._workspace = cupy.empty(WORKSPACE_BYTES, dtype=cupy.uint8)  # 512-byte aligned
        self.blas = Cublas(self.stream.ptr, self._workspace.data.ptr, WORKSPACE_BYTES)

    def __getattr__(self, name):  # the kernels: ops.noise(...), ops.adam(...)
        return getattr(self.kernels, name)

    def gemm(self, c, a, b, trans_a=False, trans_b=False, beta=0.0):
        self.blas.gemm(c, a, b, trans_a, trans_b, beta)

    def column_sums(self, out, a, ones):
        """out (D) += column sums of a (B, D); ones (B) of 1.0, owned by the
        caller (a buffer shared between networks could be freed under
        another network's captured graph)."""
        self.blas.column_sums(out, a, ones)

    def zero(self, a):
        self.xp.cuda.runtime.memsetAsync(a.data.ptr, 0, a.nbytes, self.stream.ptr)

    def to_device(self, a, out=None):
        with self.activate():
            if out is None:
                return self.xp.asarray(a)
            out.set(a, stream=self.stream)
            return out

    def to_host(self, a):
        """A NumPy copy of a; ordered after the caller's stream (which may
        have written a) and waited for."""
        with self.activate():
            return self.xp.asnumpy(a, stream=self.stream)

    def capture(self, fn):
        """Records fn's launches once into a CUDA graph; returns a function
        that replays them with a single launch."""
        self.stream.begin_capture()
        try:
            fn()
        finally:
            graph = self.stream.end_capture()
        graph.upload(self.stream)
        return lambda: graph.launch(self.stream)

    @contextlib.contextmanager
    def activate(self):
        """CuPy and the kernels run on this object's stream inside the
        block, ordered after the caller's stream (whose arrays it may read)
        and before the caller's later work (which may read its results)."""
        caller = self.xp.cuda.get_current_stream()
        if caller.ptr == self.stream.ptr:
            yield
            return
        self.stream.wait_event(caller.record())
        with self.stream:
            yield
        caller.wait_event(self.stream.record())
