// Per-element noise formulas on Philox words (host and device).
//
// uniform:  u = (x >> 9 + 0.5) / 2^23: exact in float32 (24 significant
//           bits), in [2^-24, 1 - 2^-24].
// normal:   Box-Muller on a pair of words (x_a, x_b): r = sqrt(-2 ln u(x_a));
//           the angle is uniform on the circle: quadrant = top 2 bits of
//           x_b, offset in (-pi/4, pi/4) from its next 23 bits, so sin and
//           cos need only short polynomials. Lanes (0, 1) and (2, 3) of a
//           block form the two pairs; even lanes take cos, odd lanes sin.
// All functions are branch-free so the CPU loops vectorise; pyae builds
// with -ffp-contract=off so every ISA (and the reference) rounds alike.
#pragma once

#if !defined(__CUDACC_RTC__)
#include <cmath>
#include <cstdint>
#endif

#include "elementwise_math.h"
#include "philox.h"

namespace pyae {

PYAE_HD float uniform_open01(std::uint32_t x) {
  return (static_cast<float>(x >> 9) + 0.5f) * 1.1920928955078125e-7f;  // 2^-23
}

// sin and cos of psi in [-pi/4, pi/4] (Cephes sinf/cosf polynomials).
PYAE_HD void sincos_quarter(float psi, float* s, float* c) {
  float z = psi * psi;
  float sp = -1.9515295891e-4f;
  sp = fmadd(sp, z, 8.3321608736e-3f);
  sp = fmadd(sp, z, -1.6666654611e-1f);
  *s = fmadd(psi * z, sp, psi);
  float cp = 2.443315711809948e-5f;
  cp = fmadd(cp, z, -1.388731625493765e-3f);
  cp = fmadd(cp, z, 4.166664568298827e-2f);
  *c = fmadd(z * z, cp, fmadd(z, -0.5f, 1.0f));
}

// The standard normal for `lane` (0..3) of a Philox block.
PYAE_HD float normal_from_block(const Philox4& w, int lane) {
  std::uint32_t xr = w.v[lane & 2];        // radius word of the pair
  std::uint32_t xa = w.v[(lane & 2) + 1];  // angle word of the pair
  float r = sqrtf(-2.0f * fast_log(uniform_open01(xr)));
  std::uint32_t quadrant = xa >> 30;
  float t = (static_cast<float>((xa >> 7) & 0x7FFFFFu) + 0.5f) * 1.1920928955078125e-7f;
  float psi = (t - 0.5f) * 1.57079632679489662f;  // (-pi/4, pi/4)
  float s, c;
  sincos_quarter(psi, &s, &c);
  // Rotate (cos psi, sin psi) by quadrant * pi/2: odd quadrants swap sin
  // and cos; cos is negated in quadrants 1 and 2, sin in 2 and 3.
  bool odd = (quadrant & 1u) != 0;
  float cos_abs = odd ? s : c;
  float sin_abs = odd ? c : s;
  std::uint32_t cos_sign = ((quadrant ^ (quadrant >> 1)) & 1u) << 31;
  std::uint32_t sin_sign = (quadrant >> 1) << 31;
  float value = (lane & 1) ? bits_to_float(float_to_bits(sin_abs) ^ static_cast<std::int32_t>(sin_sign))
                           : bits_to_float(float_to_bits(cos_abs) ^ static_cast<std::int32_t>(cos_sign));
  return r * value;
}

PYAE_HD float gaussian_corrupt(float x, float eps, float std, float lo, float hi) {
  return clampf(x + std * eps, lo, hi);
}

// u < amount * salt_ratio: salt (hi); u < amount: pepper (lo); else unchanged.
PYAE_HD float salt_and_pepper_corrupt(float x, float u, float amount, float salt_ratio, float lo,
                                      float hi) {
  float salt = amount * salt_ratio;
  return u < salt ? hi : (u < amount ? lo : x);
}

PYAE_HD float masking_corrupt(float x, float u, float fraction) { return u < fraction ? 0.0f : x; }

}  // namespace pyae
