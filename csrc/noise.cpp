#include "noise.h"

#include <algorithm>

#include "noise_math.h"
#include "parallel.h"

namespace pyae {

namespace {

constexpr int kChunkBlocks = 64;  // 256 elements: the draws stay in L1
constexpr std::uint64_t kChunkElems = 4 * kChunkBlocks;

// vals[4 j + lane] for blocks b0 .. b0 + nb - 1; the loop over j vectorises.
PYAE_MULTIVERSION void draw_normals(float* vals, std::uint64_t seed, std::uint64_t stream,
                                    std::uint64_t b0, int nb) {
  for (int j = 0; j < nb; ++j) {
    Philox4 w = philox_block(seed, stream, b0 + j);
    vals[4 * j] = normal_from_block(w, 0);
    vals[4 * j + 1] = normal_from_block(w, 1);
    vals[4 * j + 2] = normal_from_block(w, 2);
    vals[4 * j + 3] = normal_from_block(w, 3);
  }
}

PYAE_MULTIVERSION void draw_uniforms(float* vals, std::uint64_t seed, std::uint64_t stream,
                                     std::uint64_t b0, int nb) {
  for (int j = 0; j < nb; ++j) {
    Philox4 w = philox_block(seed, stream, b0 + j);
    for (int lane = 0; lane < 4; ++lane) vals[4 * j + lane] = uniform_open01(w.v[lane]);
  }
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
// [first, first + N), chunks aligned to Philox blocks, in parallel.
template <class Fn>
void for_each_chunk(std::size_t N, std::uint64_t first, bool normal, std::uint64_t seed,
                    std::uint64_t stream, Fn fn) {
  if (N == 0) return;
  const std::uint64_t begin_chunk = first / kChunkElems;
  const std::uint64_t end_chunk = (first + N - 1) / kChunkElems + 1;
  const std::uint64_t chunks = end_chunk - begin_chunk;
  run_parallel(threads_for_work(static_cast<double>(N) * 16.0), [&](int thread, int threads) {
    std::uint64_t c0 = chunks * thread / threads, c1 = chunks * (thread + 1) / threads;
    alignas(64) float vals[kChunkElems];
    for (std::uint64_t c = begin_chunk + c0; c < begin_chunk + c1; ++c) {
      std::uint64_t chunk_first = c * kChunkElems;
      std::uint64_t lo = std::max(chunk_first, first);
      std::uint64_t hi = std::min(chunk_first + kChunkElems, first + N);
      if (normal) draw_normals(vals, seed, stream, chunk_first / 4, kChunkBlocks);
      else draw_uniforms(vals, seed, stream, chunk_first / 4, kChunkBlocks);
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
    default:
      if (out != inp) std::copy(inp, inp + N, out);
  }
}

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
