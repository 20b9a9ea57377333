// Philox4x32-10 counter-based generator (Salmon et al., SC'11), as plain
// per-element functions for host and device code.
//
// pyae's keying: key = seed (64 bits), counter = (block, stream), stream
// being e.g. the training step. Elements go in chunks of 256 = 64 blocks x
// 4 lanes, laid out lane-major so that each lane's values are contiguous:
// element i has chunk c = i / 256, e = i % 256, lane e / 64 and block
// 64 c + e % 64. A value depends only on (seed, stream, i): identical for
// any thread count and any split into batches.
#pragma once

#if !defined(__CUDACC_RTC__)
#include <cstdint>
#endif

#include "common.h"

namespace pyae {

struct Philox4 {
  std::uint32_t v[4];
};

PYAE_HD void philox_mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t* hi,
                            std::uint32_t* lo) {
  std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  *hi = static_cast<std::uint32_t>(p >> 32);
  *lo = static_cast<std::uint32_t>(p);
}

// One Philox4x32-10 block: counter c0..c3, key k0, k1.
PYAE_HD Philox4 philox4x32_10(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2,
                              std::uint32_t c3, std::uint32_t k0, std::uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(0xD2511F53u, c0, &hi0, &lo0);
    philox_mulhilo(0xCD9E8D57u, c2, &hi1, &lo1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// The block holding element `index` of stream `stream` under `seed`.
PYAE_HD Philox4 philox_block(std::uint64_t seed, std::uint64_t stream, std::uint64_t block) {
  return philox4x32_10(static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32),
                       static_cast<std::uint32_t>(stream),
                       static_cast<std::uint32_t>(stream >> 32),
                       static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

constexpr int kPhiloxChunkBlocks = 64;
constexpr int kPhiloxChunkElems = 4 * kPhiloxChunkBlocks;

}  // namespace pyae
