// out = x . W^T for a few rows of x (small batches), streaming W once.
//
// Shapes: x (M, K) with row stride ldx, W (N, K) row-major (rows of the
// weight), out (M, N) with row stride ldo; M small (<= kSmallGemmMaxRows).
// OpenBLAS re-packs the whole weight on every sgemm call, which dominates at
// batch 2..32; this kernel reads each weight row once from memory and keeps
// the few input rows in cache. Returns false when the CPU lacks AVX-512 (the
// caller then uses sgemm).
#pragma once

namespace pyae {

constexpr int kSmallGemmMaxRows = 32;

bool small_gemm_xwt(float* out, int ldo,         // (M, N)
                    const float* x, int ldx,     // (M, K)
                    const float* W,              // (N, K)
                    int M, int N, int K);

}  // namespace pyae
