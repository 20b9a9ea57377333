#include "kernels/packed_sgemm.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "kernels/transpose16.h"
#include "math/common.h"
#include "runtime/scratch.h"

#if defined(PYAE_HAS_AVX512_PATHS)
#include <immintrin.h>
#endif

namespace pyae {

namespace {

constexpr int kNR = kFp32PanelWidth;
constexpr int kMR = 12;  // rows of a register tile: 24 accumulators
// Rows of an in-place B fetched ahead: at a stride of ldb the hardware
// prefetchers stop at each 4 KB page, and the input gradient's B (the weight,
// up to 784 x 256) comes from L2 or beyond. 16 beat 8 and 24, and gained
// more over none than 32 (A/B, fp32 training of the 784-256-64-256-784 AE at
// batch 128-1024, 2 threads).
constexpr int kAhead = 16;

int round_up(int x, int m) { return (x + m - 1) / m * m; }

#if defined(PYAE_HAS_AVX512_PATHS)
// MR rows of A times 32 columns of op(B) -> C (MR, cols), cols <= 32:
// B's rows are read at stride ldb (kPanel: a packed panel, stride 32 known
// at compile time, which frees a register in the loop), all 32 columns
// (zero padding past cols; masked loads here made GCC spill the
// accumulators), stores masked. accumulate: C += instead of C =.
template <int MR, bool kPanel>
PYAE_AVX512 void tile(float* C, int ldc, const float* A, int lda, const float* B, int ldb, int K,
                      int cols, bool accumulate) {
  const __mmask16 m0 = cols >= 16 ? 0xffff : static_cast<__mmask16>((1u << cols) - 1);
  const __mmask16 m1 =
      cols >= 32 ? 0xffff : cols <= 16 ? 0 : static_cast<__mmask16>((1u << (cols - 16)) - 1);
  __m512 acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int k = 0; k < K; ++k) {
    const float* b = B + static_cast<std::size_t>(k) * (kPanel ? kNR : ldb);
    const __m512 b0 = _mm512_loadu_ps(b);
    const __m512 b1 = _mm512_loadu_ps(b + 16);
    if constexpr (!kPanel) {  // an address past B's end is harmless: prefetches never fault
      const std::size_t bytes = sizeof(float) * kAhead * static_cast<std::size_t>(ldb);
      const auto ahead = reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(b) + bytes);
      _mm_prefetch(ahead, _MM_HINT_T0);
      _mm_prefetch(ahead + 64, _MM_HINT_T0);
    }
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(A[static_cast<std::size_t>(r) * lda + k]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < MR; ++r) {  // as sgemm with beta 1: C + (the whole dot product)
    float* c = C + static_cast<std::size_t>(r) * ldc;
    if (accumulate) {
      acc[r][0] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, c), acc[r][0]);
      acc[r][1] = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, c + 16), acc[r][1]);
    }
    _mm512_mask_storeu_ps(c, m0, acc[r][0]);
    _mm512_mask_storeu_ps(c + 16, m1, acc[r][1]);
  }
}

using Tile = void (*)(float*, int, const float*, int, const float*, int, int, int, bool);
template <bool kPanel>
constexpr Tile kTiles[kMR + 1] = {
    nullptr,          tile<1, kPanel>,  tile<2, kPanel>,  tile<3, kPanel>, tile<4, kPanel>,
    tile<5, kPanel>,  tile<6, kPanel>,  tile<7, kPanel>,  tile<8, kPanel>, tile<9, kPanel>,
    tile<10, kPanel>, tile<11, kPanel>, tile<12, kPanel>};

// C (M, cols) = A . panel, where the panel's row k is at B + k * ldb.
template <bool kPanel>
void panel_times(int M, int cols, const float* A, int lda, const float* B, int ldb, int K,
                 bool accumulate, float* C, int ldc) {
  for (int m0 = 0; m0 < M; m0 += kMR) {
    const int rows = std::min(kMR, M - m0);
    kTiles<kPanel>[rows](C + static_cast<std::size_t>(m0) * ldc, ldc,
                         A + static_cast<std::size_t>(m0) * lda, lda, B, ldb, K, cols, accumulate);
  }
}
#endif


#if defined(PYAE_HAS_AVX512_PATHS)
// pack_panels for a transposed B (N, K): 16 x 16 blocks of B transposed in
// registers (a scalar loop writing at stride 32 was as slow as the GEMM it
// fed at batch 128; 16-lane gathers were half the speed of this).
PYAE_AVX512 void pack_transposed_panels(float* words, int K, int N, const float* B, int ldb) {
  for (int n0 = 0; n0 < N; n0 += kNR) {
    float* panel = words + static_cast<std::size_t>(n0) * K;
    for (int half = 0; half < 2; ++half) {
      const int first = n0 + 16 * half;
      const int rows = std::clamp(N - first, 0, 16);
      for (int k0 = 0; k0 < K; k0 += 16) {
        const int ks = std::min(16, K - k0);
        const __mmask16 mask = static_cast<__mmask16>((1u << ks) - 1);
        __m512i r[16];  // the floats' bits
        for (int i = 0; i < 16; ++i)
          r[i] = i < rows ? _mm512_maskz_loadu_epi32(
                                mask, B + static_cast<std::size_t>(first + i) * ldb + k0)
                          : _mm512_setzero_si512();
        transpose16x16(r);
        for (int k = 0; k < ks; ++k)
          _mm512_storeu_si512(panel + static_cast<std::size_t>(k0 + k) * kNR + 16 * half, r[k]);
      }
    }
  }
}
#endif

// words (N / 32 panels, K, 32) = op(B) in panels, padding columns zero.
void pack_panels(float* words, bool trans_b, int K, int N, const float* B, int ldb) {
#if defined(PYAE_HAS_AVX512_PATHS)
  if (trans_b && cpu_has_avx512()) return pack_transposed_panels(words, K, N, B, ldb);
#endif
  const int padded = round_up(N, kNR);
  for (int n = 0; n < padded; ++n) {
    float* col = words + static_cast<std::size_t>(n / kNR) * K * kNR + n % kNR;
    for (int k = 0; k < K; ++k)
      col[static_cast<std::size_t>(k) * kNR] =
          n >= N    ? 0.0f
          : trans_b ? B[static_cast<std::size_t>(n) * ldb + k]
                    : B[static_cast<std::size_t>(k) * ldb + n];
  }
}

}  // namespace

Fp32PackedB::Fp32PackedB(bool trans_b, int K, int N, const float* B, int ldb) : K_(K), N_(N) {
  if (K < 1 || N < 1) throw std::invalid_argument("a packed operand needs K, N >= 1");
  words_.resize(static_cast<std::size_t>(round_up(N, kNR)) * K);
  pack_panels(words_.data(), trans_b, K, N, B, ldb);
}

void Fp32PackedB::repack(bool trans_b, const float* B, int ldb, int first, int last) {
  last = std::min(last, panels());
  if (first >= last) return;
  const int n0 = first * kNR;
  const float* from = trans_b ? B + static_cast<std::size_t>(n0) * ldb : B + n0;
  pack_panels(words_.data() + static_cast<std::size_t>(n0) * K_, trans_b, K_,
              std::min(N_, last * kNR) - n0, from, ldb);
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
  for (int j0 = 0; j0 < cols; j0 += kNR)
    panel_times<true>(M, std::min(kNR, cols - j0), A, lda, B.panel(n0 + j0), kNR, B.K(), false,
                      C + j0, ldc);
  return true;
#else
  (void)M, (void)n0, (void)cols, (void)A, (void)lda, (void)B, (void)C, (void)ldc;
  return false;
#endif
}

bool fp32_gemm(bool trans_b, int M, int N, int K, const float* A, int lda, const float* B,
               int ldb, float beta, float* C, int ldc) {
#if defined(PYAE_HAS_AVX512_PATHS)
  if (!cpu_has_avx512()) return false;
  if (beta != 0.0f && beta != 1.0f) return false;  // sgemm then: nothing thrown in a region
  if (M <= 0 || N <= 0) return true;
  if (K <= 0) {  // an empty sum
    if (beta == 0.0f)
      for (int m = 0; m < M; ++m) std::fill_n(C + static_cast<std::size_t>(m) * ldc, N, 0.0f);
    return true;
  }
  const bool accumulate = beta != 0.0f;
  if (trans_b) {  // rows of op(B) are columns of B: pack them into panels
    float* words = thread_scratch(kScratchPackB, static_cast<std::size_t>(round_up(N, kNR)) * K);
    pack_panels(words, true, K, N, B, ldb);
    for (int j0 = 0; j0 < N; j0 += kNR)
      panel_times<true>(M, std::min(kNR, N - j0), A, lda, words + static_cast<std::size_t>(j0) * K,
                        kNR, K, accumulate, C + j0, ldc);
    return true;
  }
  for (int j0 = 0; j0 < N; j0 += kNR) {
    const int cols = std::min(kNR, N - j0);
    if (cols == kNR) {
      panel_times<false>(M, cols, A, lda, B + j0, ldb, K, accumulate, C + j0, ldc);
    } else {  // the tile reads 32 columns: pad the last ones
      float* edge = thread_scratch(kScratchPackB, static_cast<std::size_t>(K) * kNR);
      pack_panels(edge, false, K, cols, B + j0, ldb);
      panel_times<true>(M, cols, A, lda, edge, kNR, K, accumulate, C + j0, ldc);
    }
  }
  return true;
#else
  (void)trans_b, (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb, (void)beta,
      (void)C, (void)ldc;
  return false;
#endif
}

}  // namespace pyae
