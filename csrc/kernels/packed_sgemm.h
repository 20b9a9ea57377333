// fp32 GEMM on a 12 x 32 AVX-512 register tile, for the shapes autoencoders
// run (K and the row count in the hundreds), where OpenBLAS loses time to
// packing both operands on every call:
//  - inference packs each weight once per parameter version, and a sharded
//    training step once per step (models/network.cpp), into panels of 32
//    columns, and streams each panel against 12 input rows at a time, read
//    in place;
//  - fp32_gemm reads A and an untransposed B in place, B's rows being the
//    panel rows; a transposed B, and the last columns of an untransposed
//    one (the tile reads 32), are packed per call into thread scratch.
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
  int panels() const { return (N_ + kFp32PanelWidth - 1) / kFp32PanelWidth; }
  const float* panel(int n0) const;  // the (K, 32) panel holding column n0
  // Packs panels [first, last) again from B, of the shape and layout made
  // with: threads re-pack disjoint ranges of one weight after a step.
  void repack(bool trans_b, const float* B, int ldb, int first, int last);

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

// C = A . op(B) + beta * C on one thread. False (nothing written) when this
// CPU lacks AVX-512 or beta is neither 0 nor 1: the caller uses sgemm.
// (A transposed, the weight gradient's case, is left to OpenBLAS: faster
// there at these shapes, measured.)
bool fp32_gemm(bool trans_b, int M, int N, int K,
               const float* A, int lda,  // (M, K)
               const float* B, int ldb,  // (K, N), or (N, K) if trans_b
               float beta,
               float* C, int ldc);       // (M, N)

}  // namespace pyae
