// 16 sigmoids at once with the exact bits of pyae::sigmoid (math/
// elementwise_math.h) -- checked for every one of the 2^32 floats when it was
// written, and on a sample of each binade in tests/test_kernels.py. The
// compiler's vectorisation of the scalar formula spends ~27 vector operations
// per 16 elements, this ~21: rint(t log2e) is one roundscale instead of an
// add and a subtract of 1.5 * 2^23 (equal for |t log2e| < 2^22), and
// y * 2^n is one scalef instead of building 2^n from its bits and multiplying
// (both round the exact product once).
#pragma once

#include "math/common.h"

#if defined(PYAE_HAS_AVX512_PATHS)
#include <immintrin.h>

namespace pyae {

PYAE_AVX512 inline __m512 sigmoid16(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  // t = -|x|, floored at -87.3 as fast_exp clamps (a NaN stays NaN: max
  // returns its second operand when either is NaN).
  __m512 t = _mm512_or_ps(x, _mm512_set1_ps(-0.0f));
  t = _mm512_max_ps(_mm512_set1_ps(-87.3f), t);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), t);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), one);
  const __m512 e = _mm512_scalef_ps(y, n);  // exp(-|x|)
  const __m512 q = _mm512_div_ps(one, _mm512_add_ps(one, e));
  const __mmask16 negative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mask_mul_ps(q, negative, e, q);  // x < 0: e / (1 + e)
}

}  // namespace pyae
#endif
