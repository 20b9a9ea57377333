// OpenBLAS (scipy-openblas32 build: symbols carry a scipy_ prefix).
#pragma once

#include <cblas.h>

namespace pyae {

// C(M, N) = alpha * op(A) * op(B) + beta * C, row-major.
inline void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                  int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  scipy_cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
                    ldc);
}

// y(M or N) = alpha * op(A) x + beta * y, A row-major (M, N) before op.
inline void sgemv(bool trans_a, int M, int N, float alpha, const float* A, int lda,
                  const float* x, float beta, float* y) {
  scipy_cblas_sgemv(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, M, N, alpha, A, lda, x, 1,
                    beta, y, 1);
}

}  // namespace pyae
