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

}  // namespace pyae
