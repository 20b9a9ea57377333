// Noise corruption kernels over flat float32 arrays.
//
// Shapes: N elements (a (B, D) batch is N = B * D). `first_index` is the
// global index of element 0, so corrupting a matrix in pieces with the right
// offsets gives the same bits as corrupting it whole. out may alias inp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "math/enums.h"

namespace pyae {

struct NoiseConfig {
  NoiseKind kind;
  float a;  // gaussian: std; salt_and_pepper: amount; masking: fraction
  float b;  // salt_and_pepper: salt ratio
  float lo, hi;  // gaussian: clip range; salt_and_pepper: pepper and salt values
};

void corrupt(float* out,        // (N)
             const float* inp,  // (N)
             std::size_t N, const NoiseConfig& cfg, std::uint64_t seed, std::uint64_t stream,
             std::uint64_t first_index);

// The raw draws, for tests and for callers that inject randomness.
void philox_uniform(float* out, std::size_t N, std::uint64_t seed, std::uint64_t stream,
                    std::uint64_t first_index);  // out (N)
void philox_normal(float* out, std::size_t N, std::uint64_t seed, std::uint64_t stream,
                   std::uint64_t first_index);  // out (N)

// Which Philox implementation runs ("avx512" or "portable"); tests can
// force the portable one to check both give the same bits.
const char* philox_path();
void force_portable_philox(bool on);

// Exact, randomness-injected forms: out = f(inp, draws).
void gaussian_corrupt_with(float* out, const float* inp, const float* eps,  // (N) each
                           std::size_t N, float std, float lo, float hi);
void uniform_corrupt_with(float* out, const float* inp, const float* u,  // (N) each
                          std::size_t N, const NoiseConfig& cfg);

}  // namespace pyae
