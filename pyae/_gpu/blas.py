"""Row-major GEMM and GEMV on cuBLAS (through CuPy's handle).

cuBLAS is column-major; a row-major (r, c) matrix is the column-major
(c, r) matrix in the same memory. So C = op(A) @ op(B) in row-major is
C^T = op(B)^T @ op(A)^T in column-major, which is the call below with the
operands swapped. ``gemm_arguments`` does that mapping; it is pure, so the
tests check it on the CPU against a column-major reference.
"""

from __future__ import annotations

import numpy as np

OP_N, OP_T = 0, 1     # cublasOperation_t
POINTER_MODE_HOST = 0  # cublasPointerMode_t: alpha and beta are host values


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


class Cublas:
    """sgemm / sgemv on CuPy's cuBLAS handle, host-side scalars."""

    def __init__(self):
        import cupy
        from cupy_backends.cuda.libs import cublas

        self._cublas = cublas
        self._handle = cupy.cuda.device.get_cublas_handle()
        cublas.setPointerMode(self._handle, POINTER_MODE_HOST)
        # A workspace of our own, so captured GEMMs never allocate (cuBLAS's
        # advice for CUDA graphs); 32 MiB covers Hopper's default.
        self._workspace = cupy.empty(32 * 2**20, dtype=cupy.uint8)
        if hasattr(cublas, "setWorkspace"):
            cublas.setWorkspace(self._handle, self._workspace.data.ptr, self._workspace.nbytes)
        self._scalars = {v: np.array([v], dtype=np.float32) for v in (0.0, 1.0)}

    def _scalar(self, value):
        return self._scalars[float(value)].ctypes.data

    def gemm(self, c, a, b, trans_a=False, trans_b=False, beta=0.0):
        """c = op(a) @ op(b) + beta * c, all row-major float32 (beta 0 or 1)."""
        g = gemm_arguments(c.shape, a.shape, b.shape, trans_a, trans_b)
        self._cublas.sgemm(self._handle, g["transa"], g["transb"], g["m"], g["n"], g["k"],
                           self._scalar(1.0), b.data.ptr, g["lda"], a.data.ptr, g["ldb"],
                           self._scalar(beta), c.data.ptr, g["ldc"])

    def column_sums(self, out, a, ones):
        """out (D) += column sums of row-major a (B, D); ones (B) of 1.0."""
        B, D = a.shape
        # Column-major a^T is (D, B) with leading dimension D: out += a^T @ ones.
        self._cublas.sgemv(self._handle, OP_N, D, B, self._scalar(1.0), a.data.ptr, D,
                           ones.data.ptr, 1, self._scalar(1.0), out.data.ptr, 1)
