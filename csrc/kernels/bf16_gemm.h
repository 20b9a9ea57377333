// GEMM with bf16 operands and fp32 accumulation, for precision="bf16":
//   C(M, N) = alpha * bf16(op(A)) . bf16(op(B)) + beta * C
// where bf16() rounds each fp32 operand to nearest even (fp32 subnormals
// become signed zero, as the hardware treats bf16 subnormals). Same
// argument convention as sgemm (blas.h): row-major, op = transpose or not.
//
// Two paths, chosen at run time (runtime/cpu_features.cpp):
//   avx512_bf16  vdpbf16ps on 12 x 32 register tiles. Each output element is
//                one fp32 accumulator updated per k-pair, odd k then even k,
//                in ascending k, then alpha * acc + beta * C: the order the
//                NumPy emulation in pyae/_reference.py reproduces bit for bit.
//   amx          AMX-BF16 tiles (32 x 32 outputs, 32 k per tile op). The
//                hardware's order inside a tile op is not specified; the
//                error bound is that of any fp32 summation of K products,
//                |err| <= K * 2^-24 * sum_k |a_mk b_kn| (tests/test_bf16.py).
//                With alpha 1 and beta 1, whole 32-column blocks (16 or 32
//                rows, or M <= 16) add C inside the tiles: C is one more
//                term of that sum.
// Subnormal fp32 values (below 2^-126) are not kept: both paths flush
// subnormal products, and the AMX path also flushes a subnormal C that it
// adds inside the tiles.
// Both pack op(A) and op(B) into k-pair words (two bf16 in 32 bits), the
// layout vdpbf16ps and tdpbf16ps read. Single-threaded: the dense layers
// call it per thread tile, as they call sgemm.
#pragma once

#include <cstdint>

#include "runtime/buffer.h"

namespace pyae {

// X(name, code): the bf16 instruction paths (none: the CPU has neither).
#define PYAE_BF16_PATHS(X) \
  X(none, 0)               \
  X(avx512_bf16, 1)        \
  X(amx, 2)

enum class Bf16Path : int {
#define PYAE_BF16_PATH_VALUE(name, code) name = code,
  PYAE_BF16_PATHS(PYAE_BF16_PATH_VALUE)
#undef PYAE_BF16_PATH_VALUE
};

const char* bf16_path_name(Bf16Path path);
// Whether this CPU (and, for AMX, the OS) runs `path`.
bool bf16_path_available(Bf16Path path);
// The fastest available path; none when the CPU has no bf16 dot products.
// force_bf16_path makes it return `path` instead (tests and benchmarks run
// each path on one CPU; none pretends the CPU has no bf16); unforce undoes it.
Bf16Path bf16_best_path();
void force_bf16_path(Bf16Path path);
void unforce_bf16_path();

void bf16_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
               const float* A, int lda,  // (M, K), or (K, M) if trans_a
               const float* B, int ldb,  // (K, N), or (N, K) if trans_b
               float beta,
               float* C, int ldc,        // (M, N)
               Bf16Path path);

// Columns of a packed op(B) panel: column ranges of bf16_gemm_packed start
// at multiples of this.
constexpr int kBf16PanelWidth = 32;

// op(B) packed once, for an operand that stays fixed across calls (a model's
// weights at inference): bf16_gemm_packed then packs only A.
class Bf16PackedB {
 public:
  Bf16PackedB(bool trans_b, int K, int N,
              const float* B, int ldb);  // (K, N), or (N, K) if trans_b
  int K() const { return K_; }
  int N() const { return N_; }
  int pairs_padded() const { return Kp_; }
  int panels() const { return (N_ + kBf16PanelWidth - 1) / kBf16PanelWidth; }
  const std::uint32_t* panel(int n0) const;  // the panel holding column n0
  // Packs panels [first, last) again from B, of the shape and layout made
  // with: threads re-pack disjoint ranges of one weight after a step.
  void repack(bool trans_b, const float* B, int ldb, int first, int last);
  // Packs rows [k0, k1) of an untransposed B (K, N) again, in every panel
  // (k0 even; k1 even or K): threads re-pack the rows of a weight they own
  // after a step.
  void repack_rows(const float* B, int ldb, int k0, int k1);

 private:
  int K_, N_, Kp_;
  FloatBuffer words_;  // (N / 32 panels, Kp, 32) k-pair words
};

// C(M, cols) = alpha * bf16(op(A)) . op(B)[:, n0:n0 + cols] + beta * C, with
// n0 a multiple of kBf16PanelWidth and C pointing at column n0.
void bf16_gemm_packed(bool trans_a, int M, int n0, int cols, float alpha,
                      const float* A, int lda,  // (M, K), or (K, M) if trans_a
                      const Bf16PackedB& B, float beta,
                      float* C, int ldc,        // (M, cols)
                      Bf16Path path);

}  // namespace pyae
