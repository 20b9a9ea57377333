"""Row-major GEMM and GEMV on cuBLAS, on a handle pyae owns.

CuPy's cuBLAS wrappers set the handle's stream before every call and refuse
to while a stream is capturing, so no step that calls them can become a CUDA
graph. pyae calls the cuBLAS library CuPy loaded directly (ctypes), on its
own handle, bound once -- before any capture -- to the ops stream and to a
workspace of its own (set after the stream: cublasSetStream resets it), so
captured GEMMs neither set streams nor allocate.

cuBLAS is column-major; a row-major (r, c) matrix is the column-major
(c, r) matrix in the same memory. So C = op(A) @ op(B) in row-major is
C^T = op(B)^T @ op(A)^T in column-major, which is the call below with the
operands swapped. ``gemm_arguments`` does that mapping; it is pure, so the
tests check it on the CPU against a column-major reference.
"""

from __future__ import annotations

import ctypes
import os

OP_N, OP_T = 0, 1     # cublasOperation_t
POINTER_MODE_HOST = 0  # cublasPointerMode_t: alpha and beta are host values
# cuBLAS's advice for graphs: a user workspace; 32 MiB covers Hopper's default.
WORKSPACE_BYTES = 32 * 2**20


def gemm_arguments(c_shape, a_shape, b_shape, trans_a, trans_b):
    """cuBLAS sgemm (transa, transb, m, n, k, lda, ldb, ldc) and operand order
    ("B first") for the row-major C (M, N) = op(A) @ op(B), where A and B
    are stored row-major with shapes a_shape and b_shape."""
    M, N = c_shape
    K = a_shape[0] if trans_a else a_shape[1]
    if (a_shape[1] if trans_a else a_shape[0]) != M or \
            (b_shape[1] if trans_b else b_shape[0]) != K or \
            (b_shape[0] if trans_b else b_shape[1]) != N:
        raise ValueError(f"gemm shapes do not match: C {c_shape}, A {a_shape} "
                         f"(trans {trans_a}), B {b_shape} (trans {trans_b})")
    return dict(transa=OP_T if trans_b else OP_N, transb=OP_T if trans_a else OP_N,
                m=N, n=M, k=K, lda=b_shape[1], ldb=a_shape[1], ldc=N)


def _address(a):
    """Device address of a CuPy array (host address of a NumPy one: tests)."""
    data = a.data
    return data.ptr if hasattr(data, "ptr") else a.ctypes.data


def load_cublas():
    """The cuBLAS library CuPy has loaded (never a second copy)."""
    import cupy_backends.cuda.libs.cublas  # noqa: F401 - makes CuPy load it

    for name in ("libcublas.so.13", "libcublas.so.12"):
        try:
            return ctypes.CDLL(name, mode=os.RTLD_NOLOAD)
        except OSError:
            continue
    raise RuntimeError("cannot find the cuBLAS library CuPy loaded (libcublas.so.13 or .12)")


def declare(lib):
    """ctypes signatures of the cuBLAS v2 functions pyae calls (all return
    cublasStatus_t, 0 on success)."""
    p, i, f = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)
    signatures = {
        "cublasCreate_v2": [ctypes.POINTER(ctypes.c_void_p)],
        "cublasDestroy_v2": [p],
        "cublasSetStream_v2": [p, p],
        "cublasSetWorkspace_v2": [p, p, ctypes.c_size_t],
        "cublasSetPointerMode_v2": [p, i],
        "cublasSgemm_v2": [p, i, i, i, i, i, f, p, i, p, i, f, p, i],
        "cublasSgemv_v2": [p, i, i, i, f, p, i, p, i, f, p, i],
    }
    for name, args in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, ctypes.c_int
    return lib


def _check(status, what):
    if status != 0:
        raise RuntimeError(f"cuBLAS {what} failed with status {status}")


class Cublas:
    """sgemm / sgemv on pyae's own cuBLAS handle, bound to one stream and
    one workspace at construction; host-side scalars (0 and 1)."""

    def __init__(self, stream_ptr, workspace_ptr, workspace_bytes, lib=None):
        self._lib = declare(lib if lib is not None else load_cublas())
        handle = ctypes.c_void_p()
        _check(self._lib.cublasCreate_v2(ctypes.byref(handle)), "create")
        self._handle = handle
        _check(self._lib.cublasSetStream_v2(handle, stream_ptr), "set stream")
        _check(self._lib.cublasSetWorkspace_v2(handle, workspace_ptr, workspace_bytes),
               "set workspace")
        _check(self._lib.cublasSetPointerMode_v2(handle, POINTER_MODE_HOST), "set pointer mode")
        self._scalars = {v: ctypes.c_float(v) for v in (0.0, 1.0)}

    def _scalar(self, value):
        return ctypes.byref(self._scalars[float(value)])

    def gemm(self, c, a, b, trans_a=False, trans_b=False, beta=0.0):
        """c = op(a) @ op(b) + beta * c, all row-major float32 (beta 0 or 1)."""
        g = gemm_arguments(c.shape, a.shape, b.shape, trans_a, trans_b)
        _check(self._lib.cublasSgemm_v2(
            self._handle, g["transa"], g["transb"], g["m"], g["n"], g["k"], self._scalar(1.0),
            _address(b), g["lda"], _address(a), g["ldb"], self._scalar(beta), _address(c),
            g["ldc"]), "sgemm")

    def column_sums(self, out, a, ones):
        """out (D) += column sums of row-major a (B, D); ones (B) of 1.0."""
        B, D = a.shape
        # Column-major a^T is (D, B) with leading dimension D: out += a^T @ ones.
        _check(self._lib.cublasSgemv_v2(
            self._handle, OP_N, D, B, self._scalar(1.0), _address(a), D, _address(ones), 1,
            self._scalar(1.0), _address(out), 1), "sgemv")

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle is not None:
            self._lib.cublasDestroy_v2(handle)
