// int8 inference GEMM (precision="int8"): C(M, N) = dequantised
// q(A) . q(B), with
//   weights  per output column n: scale_b[n] = max_k |b(k, n)| / 127,
//            q = rint(b * (127 / max)) in [-127, 127], quantised once;
//   inputs   per row m (dynamic, at each call): scale_a[m] likewise;
//   output   acc (exact int32 sum of products) as float * scale_a[m] * scale_b[n],
//            left to right in float32.
// Integer sums are exact, so both paths give the same bits, and the NumPy
// emulation (pyae/_reference.py: int8_gemm) reproduces them.
//   avx512_vnni  vpdpbusd (u8 x s8): the input goes in offset by 128 and
//                128 * column sum of q(B) comes off the sum.
//   amx          AMX-INT8 tdpbssd (s8 x s8), 32 x 32 outputs per step.
// Operands are packed as k-quad words (four int8 in 32 bits).
#pragma once

#include <cstdint>

#include "runtime/buffer.h"

namespace pyae {

#define PYAE_INT8_PATHS(X) \
  X(none, 0)               \
  X(avx512_vnni, 1)        \
  X(amx, 2)

enum class Int8Path : int {
#define PYAE_INT8_PATH_VALUE(name, code) name = code,
  PYAE_INT8_PATHS(PYAE_INT8_PATH_VALUE)
#undef PYAE_INT8_PATH_VALUE
};

const char* int8_path_name(Int8Path path);
bool int8_path_available(Int8Path path);
// The fastest available path (none without VNNI or AMX-INT8); forced like
// the bf16 path for tests and benchmarks.
Int8Path int8_best_path();
void force_int8_path(Int8Path path);
void unforce_int8_path();

constexpr int kInt8PanelWidth = 32;
// The deepest K whose sums fit int32 on both paths: VNNI's offset inputs
// reach 255 * 127 per product (255 * 127 * 66000 < 2^31).
constexpr int kInt8MaxDepth = 66000;

// op(B) (K, N) quantised per column and packed once.
class Int8PackedB {
 public:
  Int8PackedB(bool trans_b, int K, int N,
              const float* B, int ldb);  // (K, N), or (N, K) if trans_b
  int K() const { return K_; }
  int N() const { return N_; }
  int quads_padded() const { return Kq_; }
  const std::uint32_t* panel(int n0) const;  // the panel holding column n0
  const float* scales() const { return scales_.data(); }          // (N)
  const std::int32_t* offset_sums() const {  // (N): 128 * column sums of q(B)
    return reinterpret_cast<const std::int32_t*>(offset_sums_.data());
  }

 private:
  int K_, N_, Kq_;
  FloatBuffer words_;        // (N / 32 panels, Kq, 32) k-quad words
  FloatBuffer scales_;       // (N)
  FloatBuffer offset_sums_;  // (N) int32
};

// C(M, cols) = int8 GEMM of A's rows with columns n0:n0 + cols of B (n0 a
// multiple of kInt8PanelWidth; C points at column n0).
void int8_gemm_packed(int M, int n0, int cols,
                      const float* A, int lda,  // (M, K)
                      const Int8PackedB& B,
                      float* C, int ldc,        // (M, cols)
                      Int8Path path);

}  // namespace pyae
