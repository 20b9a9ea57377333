// fp32 GEMM on a weight packed once, for inference at batches past the
// small-batch kernel (small_gemm.h): OpenBLAS re-packs the weight on every
// sgemm call; this packs it once per parameter version (models/network.cpp)
// into panels of 32 columns, and a 12 x 32 AVX-512 register tile streams
// each panel against 12 input rows at a time, read in place.
//   C(M, cols) = A (M, K) . op(B)[:, n0:n0 + cols]
// Each output is one float32 FMA chain over k in ascending order.
#pragma once

#include "runtime/buffer.h"

namespace pyae {

constexpr int kFp32PanelWidth = 32;

class Fp32PackedB {
 public:
  Fp32PackedB(bool trans_b, int K, int N,
              const float* B, int ldb);  // (K, N), or (N, K) if trans_b
  int K() const { return K_; }
  int N() const { return N_; }
  const float* panel(int n0) const;  // the (K, 32) panel holding column n0

 private:
  int K_, N_;
  FloatBuffer words_;  // (N / 32 panels, K, 32)
};

// False (nothing written) when this CPU lacks AVX-512: the caller uses sgemm.
// n0 is a multiple of kFp32PanelWidth; C points at column n0.
bool fp32_gemm_packed(int M, int n0, int cols,
                      const float* A, int lda,  // (M, K)
                      const Fp32PackedB& B,
                      float* C, int ldc);       // (M, cols)

}  // namespace pyae
