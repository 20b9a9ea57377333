#include "kernels/noise.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <atomic>

#include "math/common.h"

#if defined(PYAE_HAS_AVX512_PATHS)
#include <immintrin.h>
#endif

#include "math/noise_math.h"
#include "runtime/parallel.h"

namespace pyae {

namespace {

constexpr std::uint64_t kChunkElems = kPhiloxChunkElems;
constexpr int kBlocks = kPhiloxChunkBlocks;

// The four Philox words of the chunk's 64 blocks, one array per word.
struct ChunkWords {
  alignas(64) std::uint32_t w[4][kBlocks];
};

PYAE_MULTIVERSION void philox_chunk_portable(ChunkWords* out, std::uint64_t seed,
                                             std::uint64_t stream, std::uint64_t b0) {
  for (int j = 0; j < kBlocks; ++j) {
    Philox4 p = philox_block(seed, stream, b0 + j);
    for (int k = 0; k < 4; ++k) out->w[k][j] = p.v[k];
  }
}

#if defined(PYAE_HAS_AVX512_PATHS)

// 32x32 -> 64-bit products of 16 lanes: the high halves from even lanes
// directly and odd lanes after a shift, the low halves in one multiply.
PYAE_AVX512 inline void mulhilo16(__m512i a, __m512i m, __m512i* hi, __m512i* lo) {
  __m512i even = _mm512_mul_epu32(a, m);
  __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
  *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
  *lo = _mm512_mullo_epi32(a, m);
}

// The same words as philox_chunk_portable, 16 blocks per vector (the
// compiler's own vectorisation of the 32x32->64 multiplies is 2.5x slower).
PYAE_AVX512 void philox_chunk_avx512(ChunkWords* out, std::uint64_t seed, std::uint64_t stream,
                                     std::uint64_t b0) {
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  // Multipliers in every 32-bit lane (mul_epu32 reads the even ones).
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>(0xCD9E8D57u));
  for (int g = 0; g < kBlocks; g += 16) {
    std::uint64_t block = b0 + g;  // 64-aligned, so the low word cannot wrap inside
    __m512i c0 = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(block)), lanes);
    __m512i c1 = _mm512_set1_epi32(static_cast<int>(block >> 32));
    __m512i c2 = _mm512_set1_epi32(static_cast<int>(stream));
    __m512i c3 = _mm512_set1_epi32(static_cast<int>(stream >> 32));
    std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      __m512i hi0, lo0, hi1, lo1;
      mulhilo16(c0, m0, &hi0, &lo0);
      mulhilo16(c2, m1, &hi1, &lo1);
      c0 = _mm512_ternarylogic_epi32(hi1, c1, _mm512_set1_epi32(static_cast<int>(k0)), 0x96);
      c1 = lo1;
      c2 = _mm512_ternarylogic_epi32(hi0, c3, _mm512_set1_epi32(static_cast<int>(k1)), 0x96);
      c3 = lo0;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    _mm512_store_si512(out->w[0] + g, c0);
    _mm512_store_si512(out->w[1] + g, c1);
    _mm512_store_si512(out->w[2] + g, c2);
    _mm512_store_si512(out->w[3] + g, c3);
  }
}
#endif

std::atomic<bool> g_force_portable{false};

bool use_avx512() {
#ifdef PYAE_HAS_AVX512_PATHS
  return cpu_has_avx512() && !g_force_portable;
#else
  return false;
#endif
}

void philox_chunk(ChunkWords* out, std::uint64_t seed, std::uint64_t stream, std::uint64_t b0) {
#ifdef PYAE_HAS_AVX512_PATHS
  if (use_avx512()) return philox_chunk_avx512(out, seed, stream, b0);
#endif
  philox_chunk_portable(out, seed, stream, b0);
}

// vals[64 k + j] = value of lane k of block j (the planar layout).
PYAE_MULTIVERSION void normals_from_words(float* vals, const ChunkWords* in) {
  for (int j = 0; j < kBlocks; ++j) {
    Philox4 p{{in->w[0][j], in->w[1][j], in->w[2][j], in->w[3][j]}};
    // Constant lanes: each call inlines to straight-line vector code.
    vals[j] = normal_from_block(p, 0);
    vals[kBlocks + j] = normal_from_block(p, 1);
    vals[2 * kBlocks + j] = normal_from_block(p, 2);
    vals[3 * kBlocks + j] = normal_from_block(p, 3);
  }
}

PYAE_MULTIVERSION void uniforms_from_words(float* vals, const ChunkWords* in) {
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < kBlocks; ++j) vals[kBlocks * k + j] = uniform_open01(in->w[k][j]);
}

PYAE_MULTIVERSION void apply_gaussian(float* out, const float* inp, const float* eps, int n,
                                      float std, float lo, float hi) {
  for (int i = 0; i < n; ++i) out[i] = gaussian_corrupt(inp[i], eps[i], std, lo, hi);
}

PYAE_MULTIVERSION void apply_uniform(float* out, const float* inp, const float* u, int n,
                                     NoiseConfig cfg) {
  if (cfg.kind == NoiseKind::salt_and_pepper) {
    for (int i = 0; i < n; ++i)
      out[i] = salt_and_pepper_corrupt(inp[i], u[i], cfg.a, cfg.b, cfg.lo, cfg.hi);
  } else {
    for (int i = 0; i < n; ++i) out[i] = masking_corrupt(inp[i], u[i], cfg.a);
  }
}

// Runs fn(vals, offset_in_output, count) for every chunk of the element range
// [first, first + N), in parallel; vals holds the chunk's draws from `first`.
template <class Fn>
void for_each_chunk(std::size_t N, std::uint64_t first, bool normal, std::uint64_t seed,
                    std::uint64_t stream, Fn fn) {
  if (N == 0) return;
  const std::uint64_t begin_chunk = first / kChunkElems;
  const std::uint64_t end_chunk = (first + N - 1) / kChunkElems + 1;
  const std::uint64_t chunks = end_chunk - begin_chunk;
  run_parallel(threads_for_work(static_cast<double>(N) * 16.0), [&](int thread, int threads) {
    std::uint64_t c0 = chunks * thread / threads, c1 = chunks * (thread + 1) / threads;
    ChunkWords words;
    alignas(64) float vals[kChunkElems];
    for (std::uint64_t c = begin_chunk + c0; c < begin_chunk + c1; ++c) {
      std::uint64_t chunk_first = c * kChunkElems;
      std::uint64_t lo = std::max(chunk_first, first);
      std::uint64_t hi = std::min(chunk_first + kChunkElems, first + N);
      philox_chunk(&words, seed, stream, c * kBlocks);
      if (normal) normals_from_words(vals, &words);
      else uniforms_from_words(vals, &words);
      fn(vals + (lo - chunk_first), static_cast<std::size_t>(lo - first),
         static_cast<int>(hi - lo));
    }
  });
}

}  // namespace

void corrupt(float* out, const float* inp, std::size_t N, const NoiseConfig& cfg,
             std::uint64_t seed, std::uint64_t stream, std::uint64_t first_index) {
  switch (cfg.kind) {
    case NoiseKind::gaussian:
      return for_each_chunk(N, first_index, true, seed, stream,
                            [&](const float* eps, std::size_t at, int n) {
                              apply_gaussian(out + at, inp + at, eps, n, cfg.a, cfg.lo, cfg.hi);
                            });
    case NoiseKind::salt_and_pepper:
    case NoiseKind::masking:
      return for_each_chunk(N, first_index, false, seed, stream,
                            [&](const float* u, std::size_t at, int n) {
                              apply_uniform(out + at, inp + at, u, n, cfg);
                            });
    case NoiseKind::none:
      if (out != inp) std::copy(inp, inp + N, out);
      return;
  }
  throw std::invalid_argument("unknown noise kind " + std::to_string(static_cast<int>(cfg.kind)));
}

const char* philox_path() { return use_avx512() ? "avx512" : "portable"; }

void force_portable_philox(bool on) { g_force_portable = on; }

void philox_uniform(float* out, std::size_t N, std::uint64_t seed, std::uint64_t stream,
                    std::uint64_t first_index) {
  for_each_chunk(N, first_index, false, seed, stream, [&](const float* u, std::size_t at, int n) {
    std::copy(u, u + n, out + at);
  });
}

void philox_normal(float* out, std::size_t N, std::uint64_t seed, std::uint64_t stream,
                   std::uint64_t first_index) {
  for_each_chunk(N, first_index, true, seed, stream, [&](const float* e, std::size_t at, int n) {
    std::copy(e, e + n, out + at);
  });
}

void gaussian_corrupt_with(float* out, const float* inp, const float* eps, std::size_t N,
                           float std, float lo, float hi) {
  apply_gaussian(out, inp, eps, static_cast<int>(N), std, lo, hi);
}

void uniform_corrupt_with(float* out, const float* inp, const float* u, std::size_t N,
                          const NoiseConfig& cfg) {
  apply_uniform(out, inp, u, static_cast<int>(N), cfg);
}

}  // namespace pyae
