#include "kernels/packed_sgemm.h"

#include <algorithm>
#include <stdexcept>

#include "math/common.h"

#if defined(PYAE_HAS_AVX512_PATHS)
#include <immintrin.h>
#endif

namespace pyae {

namespace {

constexpr int kNR = kFp32PanelWidth;
constexpr int kMR = 12;  // rows of a register tile: 24 accumulators

#if defined(PYAE_HAS_AVX512_PATHS)
// MR rows of A times one panel -> C (MR, cols), cols <= 32 (masked stores).
template <int MR>
PYAE_AVX512 void tile(float* C, int ldc, const float* A, int lda, const float* panel, int K,
                      int cols) {
  __m512 acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int k = 0; k < K; ++k) {
    const __m512 b0 = _mm512_load_ps(panel + static_cast<std::size_t>(k) * kNR);
    const __m512 b1 = _mm512_load_ps(panel + static_cast<std::size_t>(k) * kNR + 16);
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(A[static_cast<std::size_t>(r) * lda + k]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
    }
  }
  const __mmask16 m0 = cols >= 16 ? 0xffff : static_cast<__mmask16>((1u << cols) - 1);
  const __mmask16 m1 =
      cols >= 32 ? 0xffff : cols <= 16 ? 0 : static_cast<__mmask16>((1u << (cols - 16)) - 1);
  for (int r = 0; r < MR; ++r) {
    float* c = C + static_cast<std::size_t>(r) * ldc;
    _mm512_mask_storeu_ps(c, m0, acc[r][0]);
    _mm512_mask_storeu_ps(c + 16, m1, acc[r][1]);
  }
}

using Tile = void (*)(float*, int, const float*, int, const float*, int, int);
constexpr Tile kTiles[kMR + 1] = {nullptr,   tile<1>, tile<2>, tile<3>,  tile<4>,  tile<5>, tile<6>,
                                  tile<7>,   tile<8>, tile<9>, tile<10>, tile<11>, tile<12>};
#endif

int round_up(int x, int m) { return (x + m - 1) / m * m; }

}  // namespace

Fp32PackedB::Fp32PackedB(bool trans_b, int K, int N, const float* B, int ldb) : K_(K), N_(N) {
  if (K < 1 || N < 1) throw std::invalid_argument("a packed operand needs K, N >= 1");
  words_.resize(static_cast<std::size_t>(round_up(N, kNR)) * K);  // zeroed: padding columns
  for (int n = 0; n < N; ++n) {
    float* col = words_.data() + static_cast<std::size_t>(n / kNR) * K * kNR + n % kNR;
    for (int k = 0; k < K; ++k)
      col[static_cast<std::size_t>(k) * kNR] = trans_b ? B[static_cast<std::size_t>(n) * ldb + k]
                                                       : B[static_cast<std::size_t>(k) * ldb + n];
  }
}

const float* Fp32PackedB::panel(int n0) const {
  return words_.data() + static_cast<std::size_t>(n0 / kNR) * K_ * kNR;
}

bool fp32_gemm_packed(int M, int n0, int cols, const float* A, int lda, const Fp32PackedB& B,
                      float* C, int ldc) {
#if defined(PYAE_HAS_AVX512_PATHS)
  if (!cpu_has_avx512()) return false;
  if (n0 % kNR != 0 || n0 < 0 || cols < 0 || n0 + cols > B.N())
    throw std::invalid_argument("fp32_gemm_packed: columns not on panel boundaries");
  for (int j0 = 0; j0 < cols; j0 += kNR) {
    const float* panel = B.panel(n0 + j0);
    const int width = std::min(kNR, cols - j0);
    for (int m0 = 0; m0 < M; m0 += kMR) {
      const int rows = std::min(kMR, M - m0);
      kTiles[rows](C + static_cast<std::size_t>(m0) * ldc + j0, ldc,
                   A + static_cast<std::size_t>(m0) * lda, lda, panel, B.K(), width);
    }
  }
  return true;
#else
  (void)M, (void)n0, (void)cols, (void)A, (void)lda, (void)B, (void)C, (void)ldc;
  return false;
#endif
}

}  // namespace pyae
