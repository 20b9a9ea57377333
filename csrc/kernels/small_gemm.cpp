#include "kernels/small_gemm.h"

#include "math/common.h"

#if defined(PYAE_HAS_AVX512_PATHS)
#include <immintrin.h>

namespace pyae {

namespace {

// Sums the lanes of 16 accumulators at once: lane l of the result is the sum
// of acc[l]. A shuffle tree costs ~3 instructions per sum against ~9 for 16
// separate horizontal reductions (which cost up to half the tile at K = 256).
PYAE_AVX512 inline __m512 reduce16(const __m512* acc) {
  // The tree leaves the sums in a shuffled lane order; taking the inputs in
  // its inverse order puts sum l in lane l.
  static constexpr int kOrder[16] = {0, 4, 8, 12, 2, 6, 10, 14, 1, 5, 9, 13, 3, 7, 11, 15};
  __m512 a[8], b[4], c[2];
  for (int i = 0; i < 8; ++i) {
    __m512 x = acc[kOrder[2 * i]], y = acc[kOrder[2 * i + 1]];
    a[i] = _mm512_add_ps(_mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(3, 2, 3, 2)));
  }
  for (int i = 0; i < 4; ++i)
    b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  for (int i = 0; i < 2; ++i)
    c[i] = _mm512_add_ps(_mm512_unpacklo_ps(b[2 * i], b[2 * i + 1]),
                         _mm512_unpackhi_ps(b[2 * i], b[2 * i + 1]));
  return _mm512_add_ps(_mm512_unpacklo_ps(c[0], c[1]), _mm512_unpackhi_ps(c[0], c[1]));
}

// MR input rows x 4 weight rows: 4 * MR accumulators of 16 lanes each.
template <int MR>
PYAE_AVX512 void tile(float* out, int ldo, const float* x, int ldx, const float* W, int K,
                      int n_rows) {
  __m512 acc[MR][4];
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < 4; ++n) acc[m][n] = _mm512_setzero_ps();
  const float* w[4];
  for (int n = 0; n < 4; ++n) w[n] = W + static_cast<long>(n < n_rows ? n : 0) * K;
  int k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 wv[4];
    for (int n = 0; n < 4; ++n) wv[n] = _mm512_loadu_ps(w[n] + k);
    for (int m = 0; m < MR; ++m) {
      __m512 xv = _mm512_loadu_ps(x + static_cast<long>(m) * ldx + k);
      for (int n = 0; n < 4; ++n) acc[m][n] = _mm512_fmadd_ps(xv, wv[n], acc[m][n]);
    }
  }
  if (k < K) {
    __mmask16 tail = static_cast<__mmask16>((1u << (K - k)) - 1u);
    __m512 wv[4];
    for (int n = 0; n < 4; ++n) wv[n] = _mm512_maskz_loadu_ps(tail, w[n] + k);
    for (int m = 0; m < MR; ++m) {
      __m512 xv = _mm512_maskz_loadu_ps(tail, x + static_cast<long>(m) * ldx + k);
      for (int n = 0; n < 4; ++n) acc[m][n] = _mm512_fmadd_ps(xv, wv[n], acc[m][n]);
    }
  }
  if constexpr (MR == 4) {
    __m512 sums = reduce16(&acc[0][0]);  // lane 4 m + n = out[m][n]
    __mmask8 cols = static_cast<__mmask8>((1u << n_rows) - 1u);
    _mm_mask_storeu_ps(out, cols, _mm512_extractf32x4_ps(sums, 0));
    _mm_mask_storeu_ps(out + ldo, cols, _mm512_extractf32x4_ps(sums, 1));
    _mm_mask_storeu_ps(out + 2L * ldo, cols, _mm512_extractf32x4_ps(sums, 2));
    _mm_mask_storeu_ps(out + 3L * ldo, cols, _mm512_extractf32x4_ps(sums, 3));
  } else {
    for (int m = 0; m < MR; ++m)
      for (int n = 0; n < n_rows; ++n)
        out[static_cast<long>(m) * ldo + n] = _mm512_reduce_add_ps(acc[m][n]);
  }
}

template <int MR>
PYAE_AVX512 void rows_block(float* out, int ldo, const float* x, int ldx, const float* W, int N,
                            int K) {
  for (int n = 0; n < N; n += 4)
    tile<MR>(out + n, ldo, x, ldx, W + static_cast<long>(n) * K, K, N - n < 4 ? N - n : 4);
}

}  // namespace

bool small_gemm_xwt(float* out, int ldo, const float* x, int ldx, const float* W, int M, int N,
                    int K) {
  if (!cpu_has_avx512() || M < 1 || M > kSmallGemmMaxRows) return false;
  // Weight rows outer (each is read from memory once), input rows in blocks
  // of up to 4 that stay in L1.
  for (int n0 = 0; n0 < N; n0 += 64) {
    int nb = N - n0 < 64 ? N - n0 : 64;
    const float* Wb = W + static_cast<long>(n0) * K;
    int m = 0;
    for (; m + 4 <= M; m += 4)
      rows_block<4>(out + static_cast<long>(m) * ldo + n0, ldo, x + static_cast<long>(m) * ldx, ldx, Wb, nb, K);
    float* o = out + static_cast<long>(m) * ldo + n0;
    const float* xr = x + static_cast<long>(m) * ldx;
    switch (M - m) {
      case 3: rows_block<3>(o, ldo, xr, ldx, Wb, nb, K); break;
      case 2: rows_block<2>(o, ldo, xr, ldx, Wb, nb, K); break;
      case 1: rows_block<1>(o, ldo, xr, ldx, Wb, nb, K); break;
      default: break;
    }
  }
  return true;
}

}  // namespace pyae

#else

namespace pyae {
bool small_gemm_xwt(float*, int, const float*, int, const float*, int, int, int) { return false; }
}  // namespace pyae

#endif
