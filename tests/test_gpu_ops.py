"""pyae._gpu.ops.CudaOps' stream ordering, on a fake CuPy that models
streams and events (no GPU needed): a copy may only read what the caller's
stream wrote after waiting for it."""

import ctypes
import types

import numpy as np
import pytest

from pyae._gpu.ops import CudaOps


class FakeEvent:
    def __init__(self, stream):
        self.stream, self.time = stream, stream.clock


class FakeStream:
    def __init__(self, cupy, name):
        self.cupy, self.name, self.ptr = cupy, name, id(self)
        self.clock = 0   # work enqueued so far
        self.seen = {}   # stream -> the point of its work this stream waits for

    def record(self):
        return FakeEvent(self)

    def wait_event(self, event):
        self.seen[event.stream] = max(self.seen.get(event.stream, 0), event.time)

    def __enter__(self):
        self.cupy.current.append(self)
        return self

    def __exit__(self, *exc):
        self.cupy.current.pop()


class FakeCupy:
    """The caller's stream has written the array (clock 1); a copy on any
    other stream must come after that."""

    def __init__(self):
        self.user = FakeStream(self, "caller")
        self.user.clock = 1
        self.current = [self.user]
        self.cuda = types.SimpleNamespace(get_current_stream=lambda: self.current[-1])

    def asnumpy(self, a, stream):
        if stream is not self.user and stream.seen.get(self.user, 0) < self.user.clock:
            raise AssertionError("copied on a stream that does not wait for the caller's")
        return np.array(a)


@pytest.fixture
def ops():
    fake = FakeCupy()
    ops = object.__new__(CudaOps)  # the real methods, on the fake CuPy
    ops.xp, ops.stream = fake, FakeStream(fake, "ops")
    return ops


def test_copies_to_the_host_wait_for_the_callers_stream(ops):
    np.testing.assert_array_equal(ops.to_host(np.arange(3.0)), np.arange(3.0))
    assert ops.xp.current == [ops.xp.user]  # the caller's stream is current again


def test_the_fake_catches_an_unordered_copy(ops):
    with pytest.raises(AssertionError, match="does not wait"):
        ops.xp.asnumpy(np.zeros(2), stream=ops.stream)


# ------------------------------------------------------------------ cuBLAS
class FakeCublasLib:
    """cuBLAS v2's calling convention on host memory (column-major, as the
    library is), recording the calls; like a stream under capture, it
    refuses set-up calls once ``capturing`` is set."""

    def __init__(self):
        self.calls, self.capturing, self.workspace = [], False, None
        for name in ("cublasCreate_v2", "cublasDestroy_v2", "cublasSetStream_v2",
                     "cublasSetWorkspace_v2", "cublasSetPointerMode_v2", "cublasSgemm_v2",
                     "cublasSgemv_v2"):
            setattr(self, name, self._recorder(name, getattr(self, "_" + name)))

    def _recorder(self, name, fn):
        def call(*args):  # a plain function: ctypes signatures can be set on it
            if self.capturing and name not in ("cublasSgemm_v2", "cublasSgemv_v2"):
                raise AssertionError(f"{name} during a capture")
            self.calls.append(name)
            return fn(*args)
        return call

    @staticmethod
    def _matrix(address, rows, cols, ld):
        """A column-major (rows, cols) view at a host address."""
        buf = (ctypes.c_float * (ld * (cols - 1) + rows)).from_address(address)
        flat = np.frombuffer(buf, dtype=np.float32)
        return np.lib.stride_tricks.as_strided(flat, (rows, cols), (4, 4 * ld))

    def _cublasCreate_v2(self, handle_ref):
        handle_ref._obj.value = 1234
        return 0

    def _cublasDestroy_v2(self, handle):
        return 0

    def _cublasSetStream_v2(self, handle, stream):
        self.workspace = None  # what the real one does
        return 0

    def _cublasSetWorkspace_v2(self, handle, ptr, size):
        assert ptr % 256 == 0 and size >= 16 * 1024
        self.workspace = (ptr, size)
        return 0

    def _cublasSetPointerMode_v2(self, handle, mode):
        return 0

    def _cublasSgemm_v2(self, h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc):
        a = self._matrix(A, k if ta else m, m if ta else k, lda)
        b = self._matrix(B, n if tb else k, k if tb else n, ldb)
        c = self._matrix(C, m, n, ldc)
        r = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b)
        c[...] = alpha._obj.value * r + beta._obj.value * c
        return 0

    def _cublasSgemv_v2(self, h, trans, m, n, alpha, A, lda, x, incx, beta, y, incy):
        a = self._matrix(A, m, n, lda)
        xv = self._matrix(x, n, 1, n)[:, 0]
        yv = self._matrix(y, m, 1, m)[:, 0]
        yv[...] = alpha._obj.value * (a.astype(np.float64) @ xv) + beta._obj.value * yv
        return 0


def test_gemms_run_on_an_own_handle_bound_once_to_the_stream_and_workspace(rng):
    from pyae._gpu.blas import Cublas

    lib = FakeCublasLib()
    workspace = np.zeros(64 * 1024 + 256, np.uint8)
    ws = workspace.ctypes.data + (-workspace.ctypes.data) % 256
    blas = Cublas(stream_ptr=77, workspace_ptr=ws, workspace_bytes=64 * 1024, lib=lib)
    assert lib.calls[:3] == ["cublasCreate_v2", "cublasSetStream_v2", "cublasSetWorkspace_v2"]
    assert lib.workspace == (ws, 64 * 1024)  # set after the stream, which resets it
    lib.capturing = True  # from here on only GEMMs may run, as inside a graph capture
    for trans_a in (False, True):
        for trans_b in (False, True):
            a = rng.standard_normal((5, 3) if trans_a else (3, 5)).astype(np.float32)
            b = rng.standard_normal((4, 5) if trans_b else (5, 4)).astype(np.float32)
            c = rng.standard_normal((3, 4)).astype(np.float32)
            want = (a.T if trans_a else a) @ (b.T if trans_b else b) + c
            blas.gemm(c, a, b, trans_a, trans_b, beta=1.0)
            np.testing.assert_allclose(c, want, rtol=1e-5, atol=1e-5)
    a = rng.standard_normal((6, 7)).astype(np.float32)
    out = np.ones(7, np.float32)
    blas.column_sums(out, a, np.ones(6, np.float32))
    np.testing.assert_allclose(out, 1 + a.sum(0), rtol=1e-5)
    lib.capturing = False
