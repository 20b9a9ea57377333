// Per-element math shared by the CPU loops and the CUDA kernels.
// Branch-free and libm-free so the compiler vectorises every loop that uses
// it. fast_exp/fast_log follow Cephes expf/logf (max error ~2 ulp).
#pragma once

#if !defined(__CUDACC_RTC__)
#include <cmath>
#include <cstdint>
#include <cstring>
#endif

#include "common.h"

namespace pyae {

PYAE_HD float bits_to_float(std::int32_t i) {
#if defined(__CUDA_ARCH__)
  return __int_as_float(i);
#else
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
#endif
}

PYAE_HD std::int32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_int(f);
#else
  std::int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
#endif
}

PYAE_HD float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

// x, or 0 where |x| is below the smallest normal float (1.17549435e-38).
// The optimisers' moments go through it: a moment whose gradient has become
// exactly zero (a collapsed VAE's encoder, a dead unit) decays geometrically
// into subnormals, and CPU arithmetic on subnormals takes a microcode
// assist (a VAE's epochs on random data slowed 2.5x after 3 epochs, 35% of
// its first moments subnormal). A flushed first moment would have moved
// its parameter by at most lr / (1 - beta1^t) * 1.2e-38 / eps (1e-32 at
// Adam's defaults' first step), a flushed SGD momentum by lr * 1.2e-38.
// Adam's second moment is flushed only once the first is 0 (adam_moments):
// alone, it would turn a tiny gradient's step m / sqrt(v) into m / eps.
PYAE_HD float flush_subnormal(float x) { return fabsf(x) < 1.17549435e-38f ? 0.0f : x; }

// Adam's moments after gradient g (torch.optim's order), flushed as above.
PYAE_HD void adam_moments(float& m, float& v, float g, float one_minus_beta1, float beta2,
                          float one_minus_beta2) {
  m = flush_subnormal(m + one_minus_beta1 * (g - m));
  v = v * beta2 + one_minus_beta2 * g * g;
  v = m == 0.0f ? flush_subnormal(v) : v;
}

// a * b + c rounded once. Polynomials use it explicitly (pyae builds with
// -ffp-contract=off): one instruction where the CPU has FMA, and the same
// correctly rounded result on every ISA and on GPUs.
PYAE_HD float fmadd(float a, float b, float c) { return fmaf(a, b, c); }

// exp(x); inputs are clamped to [-87.3, 88] so the result stays a normal float.
PYAE_HD float fast_exp(float x) {
  x = clampf(x, -87.3f, 88.0f);
  // n = round(x / ln2) without a libm call: add and subtract 1.5 * 2^23.
  const float shifter = 12582912.0f;
  float n = (x * 1.44269504088896341f + shifter) - shifter;
  float r = fmadd(n, -0.693359375f, x);
  r = fmadd(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = fmadd(p, r, 1.3981999507e-3f);
  p = fmadd(p, r, 8.3334519073e-3f);
  p = fmadd(p, r, 4.1665795894e-2f);
  p = fmadd(p, r, 1.6666665459e-1f);
  p = fmadd(p, r, 5.0000001201e-1f);
  float y = fmadd(p, r * r, r) + 1.0f;
  return y * bits_to_float((static_cast<std::int32_t>(n) + 127) << 23);
}

// log(x) for finite x > 0 (the only inputs it gets: 1 + exp(-|z|) in [1, 2]).
PYAE_HD float fast_log(float x) {
  std::int32_t bits = float_to_bits(x);
  float e = static_cast<float>(((bits >> 23) & 0xff) - 126);
  float m = bits_to_float((bits & 0x807fffff) | 0x3f000000);  // m in [0.5, 1)
  bool small = m < 0.707106781186547524f;
  e = small ? e - 1.0f : e;
  m = small ? m + m - 1.0f : m - 1.0f;
  float z = m * m;
  float y = 7.0376836292e-2f;
  y = fmadd(y, m, -1.1514610310e-1f);
  y = fmadd(y, m, 1.1676998740e-1f);
  y = fmadd(y, m, -1.2420140846e-1f);
  y = fmadd(y, m, 1.4249322787e-1f);
  y = fmadd(y, m, -1.6668057665e-1f);
  y = fmadd(y, m, 2.0000714765e-1f);
  y = fmadd(y, m, -2.4999993993e-1f);
  y = fmadd(y, m, 3.3333331174e-1f);
  y = y * m * z;
  y = fmadd(e, -2.12194440e-4f, y);
  y = fmadd(z, -0.5f, y);
  return fmadd(e, 0.693359375f, m + y);
}

// Stable sigmoid: only ever exponentiates -|x|, so nothing overflows.
PYAE_HD float sigmoid(float x) {
  float e = fast_exp(-(x < 0.0f ? -x : x));
  float r = 1.0f / (1.0f + e);
  return x >= 0.0f ? r : e * r;
}

// tanh: Cephes odd polynomial near zero (no cancellation), exp form elsewhere.
PYAE_HD float tanh_approx(float x) {
  float ax = x < 0.0f ? -x : x;
  float z = x * x;
  float poly = -5.70498872745e-3f;
  poly = fmadd(poly, z, 2.06390887954e-2f);
  poly = fmadd(poly, z, -5.37397155531e-2f);
  poly = fmadd(poly, z, 1.33314422036e-1f);
  poly = fmadd(poly, z, -3.33332819422e-1f);
  float near_zero = fmadd(poly * z, x, x);
  float e = fast_exp(-2.0f * ax);
  float far = (1.0f - e) / (1.0f + e);
  far = x < 0.0f ? -far : far;
  return ax < 0.625f ? near_zero : far;
}

// erf(x) (Abramowitz & Stegun 7.1.26 on |x|, odd extension): absolute error
// below 1.5e-7, branch-free, with the same bits on every ISA and the GPU.
PYAE_HD float erf_approx(float x) {
  float ax = x < 0.0f ? -x : x;
  float t = 1.0f / fmadd(0.3275911f, ax, 1.0f);
  float p = 1.061405429f;
  p = fmadd(p, t, -1.453152027f);
  p = fmadd(p, t, 1.421413741f);
  p = fmadd(p, t, -0.284496736f);
  p = fmadd(p, t, 0.254829592f);
  float y = 1.0f - p * t * fast_exp(-ax * ax);
  return x < 0.0f ? -y : y;
}

// Standard normal CDF and density (GELU and its gradient). The density is
// 0 where exp would underflow (fast_exp clamps, which x * pdf would magnify).
PYAE_HD float normal_cdf(float x) { return 0.5f * (1.0f + erf_approx(x * 0.70710678118654752f)); }
PYAE_HD float normal_pdf(float x) {
  float h = 0.5f * x * x;
  return h > 87.0f ? 0.0f : 0.39894228040143268f * fast_exp(-h);
}

// exp(x) - 1 without cancellation near 0 (Taylor to x^7 for |x| < 0.25,
// relative error < 1e-9 there).
PYAE_HD float expm1_approx(float x) {
  float ax = x < 0.0f ? -x : x;
  float p = 1.0f / 5040.0f;
  p = fmadd(p, x, 1.0f / 720.0f);
  p = fmadd(p, x, 1.0f / 120.0f);
  p = fmadd(p, x, 1.0f / 24.0f);
  p = fmadd(p, x, 1.0f / 6.0f);
  p = fmadd(p, x, 0.5f);
  float series = fmadd(p * x, x, x);
  return ax < 0.25f ? series : fast_exp(x) - 1.0f;
}

// x * sigmoid(x); 0 below -88, where sigmoid's clamped exp would make
// x * sigmoid(x) a large error.
PYAE_HD float silu(float x) { return x < -88.0f ? 0.0f : x * sigmoid(x); }

// x * Phi(x); 0 below -10, where Phi(x) is 0 in float32 anyway (and x * Phi
// would be NaN at -inf).
PYAE_HD float gelu(float x) { return x < -10.0f ? 0.0f : x * normal_cdf(x); }

// A NaN for a code outside the enum: it surfaces as divergence instead of
// running as some other activation (the bindings reject such codes first).
PYAE_HD float invalid_code() { return bits_to_float(0x7fc00000); }

PYAE_HD float activate(float x, Activation act) {
  switch (act) {
    case Activation::identity: return x;
    case Activation::sigmoid: return sigmoid(x);
    case Activation::relu: return x > 0.0f ? x : 0.0f;
    case Activation::tanh: return tanh_approx(x);
    case Activation::leaky_relu: return x > 0.0f ? x : kLeakyReluSlope * x;
    case Activation::elu: return x > 0.0f ? x : kEluAlpha * expm1_approx(x);
    case Activation::gelu: return gelu(x);
    case Activation::silu: return silu(x);
  }
  return invalid_code();
}

// d act / d pre-activation at pre-activation x with output y. Every
// activation but GELU and SiLU reads only y (see needs_preactivation); their
// callers may pass anything as x.
PYAE_HD float activation_grad(float y, float x, Activation act) {
  switch (act) {
    case Activation::identity: return 1.0f;
    case Activation::sigmoid: return y * (1.0f - y);
    case Activation::relu: return y > 0.0f ? 1.0f : 0.0f;
    case Activation::tanh: return 1.0f - y * y;
    case Activation::leaky_relu: return y > 0.0f ? 1.0f : kLeakyReluSlope;
    case Activation::elu: return y > 0.0f ? 1.0f : y + kEluAlpha;
    case Activation::gelu: {
      // x * pdf is 0 where pdf is (also at x = +-inf, where it would be NaN).
      float pdf = normal_pdf(x);
      return pdf == 0.0f ? normal_cdf(x) : fmadd(x, pdf, normal_cdf(x));
    }
    case Activation::silu: {
      // 0 and 1 in the tails (x * (1 - s) would be NaN at +-inf).
      float s = sigmoid(x);
      float g = s * fmadd(x, 1.0f - s, 1.0f);
      return x < -88.0f ? 0.0f : (x > 88.0f ? 1.0f : g);
    }
  }
  return invalid_code();
}

// Binary cross-entropy of target t against logit z, stable for any |z|:
// max(z, 0) - z t + log(1 + exp(-|z|)).
PYAE_HD float bce_with_logits(float z, float t) {
  float az = z < 0.0f ? -z : z;
  return (z > 0.0f ? z : 0.0f) - z * t + fast_log(1.0f + fast_exp(-az));
}

}  // namespace pyae
