// The AMX tile loop the bf16 and int8 GEMMs share (bf16_gemm.cpp,
// int8_gemm.cpp): they differ only in the tile dot product (tdpbf16ps or
// tdpbssd) and in what their epilogue makes of the 32-bit results.
//
// Tiles: C 0-3 (rows 0-15 x cols 0-15, 0-15 x 16-31, 16-31 x 0-15,
// 16-31 x 16-31), A 4-5 (rows 0-15, 16-31), B 6-7 (cols 0-15, 16-31); each
// 16 rows of 64 bytes (16 four-byte words: k-pairs or k-quads). With M <= 16
// the C and A tiles have M rows (a batch of one multiplies one row, not 16);
// otherwise packed A has whole 16-row blocks (zero rows past M) and a last
// odd 16-row block uses tiles 0, 1 and 4.
#pragma once

#include "math/common.h"

#if defined(PYAE_HAS_AVX512_PATHS)
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

// AMX-capable CPUs have both AMX-BF16 and AMX-INT8; each GEMM issues only
// its own dot product, after checking its own feature.
#define PYAE_AMX __attribute__((target("avx512f,avx512bw,avx512vl,amx-tile,amx-bf16,amx-int8")))

namespace pyae::amx {

constexpr int kTileRows = 16;    // rows of a tile, and words along its depth
constexpr int kPanelWidth = 32;  // columns of a packed B panel: two tiles

enum class Dot { bf16, int8 };

struct alignas(64) TileConfig {
  std::uint8_t palette = 1, start_row = 0, reserved[14] = {};
  std::uint16_t colsb[16] = {};
  std::uint8_t rows[16] = {};
};

// Loads the tile configuration for a GEMM of M rows (per thread, per call).
PYAE_AMX inline void configure(int M) {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = M <= kTileRows && (t <= 1 || t == 4) ? M : kTileRows;
  }
  // Not _tile_loadconfig: GCC's macro declares only the first 8 bytes of
  // the configuration as read, so the stores of the rows and widths can be
  // optimised away (then every tile instruction faults). This operand is
  // the whole 64-byte structure.
  asm volatile("ldtilecfg %0" : : "m"(cfg));
}

// The dot products of one block: `rows` (<= 32) rows of packed A (a:
// rows `lda` words apart) times `words` words (a multiple of 16) of a
// panel's depth (panel: (words, 32) words), added to C tiles 0-1 (and 2-3
// when rows > 16).
template <Dot D>
PYAE_AMX inline void accumulate(const std::uint32_t* a, int lda, int rows,
                                const std::uint32_t* panel, int words) {
  const std::size_t a_stride = static_cast<std::size_t>(lda) * 4;  // bytes per A row
  constexpr std::size_t b_stride = kPanelWidth * 4;                // bytes per panel row
  const std::uint32_t* a_second = a + static_cast<std::size_t>(kTileRows) * lda;
  const bool both = rows > kTileRows;  // two row tiles in this block
  for (int p = 0; p < words; p += kTileRows) {
    _tile_loadd(6, panel + static_cast<std::size_t>(p) * kPanelWidth, b_stride);
    _tile_loadd(7, panel + static_cast<std::size_t>(p) * kPanelWidth + 16, b_stride);
    _tile_loadd(4, a + p, a_stride);
    if constexpr (D == Dot::bf16) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
    } else {
      _tile_dpbssd(0, 4, 6);
      _tile_dpbssd(1, 4, 7);
    }
    if (both) {
      _tile_loadd(5, a_second + p, a_stride);
      if constexpr (D == Dot::bf16) {
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      } else {
        _tile_dpbssd(2, 5, 6);
        _tile_dpbssd(3, 5, 7);
      }
    }
  }
}

// Stores C tiles 0-1 (and 2-3 when both) to c, rows `ld` words apart.
PYAE_AMX inline void store_c(void* c, std::size_t ld, bool both) {
  auto* t = static_cast<std::uint32_t*>(c);
  const std::size_t stride = ld * 4;
  _tile_stored(0, t, stride);
  _tile_stored(1, t + 16, stride);
  if (both) {
    _tile_stored(2, t + 16 * ld, stride);
    _tile_stored(3, t + 16 * ld + 16, stride);
  }
}

// One block into a buffer: tile (32, 32) 32-bit results (fp32 for bf16,
// int32 for int8) of `rows` rows of packed A times one panel; rows past
// `rows` are not written.
template <Dot D>
PYAE_AMX inline void block(void* tile, const std::uint32_t* a, int rows,
                           const std::uint32_t* panel, int words) {
  const bool both = rows > kTileRows;
  _tile_zero(0);
  _tile_zero(1);
  if (both) {
    _tile_zero(2);
    _tile_zero(3);
  }
  accumulate<D>(a, words, rows, panel, words);
  store_c(tile, kPanelWidth, both);
}

// Part of one bf16 block straight into C (rows, 32) at a stride of ldc
// floats: `words` words of depth of A (rows lda words apart) and of the
// panel, added to C (read into the tiles first) or written over it. Done
// over consecutive depths, the fp32 sums stored and read back between them
// are those of one pass. rows: the tiles' configured rows (16 or 32, or
// M <= 16 as configured).
PYAE_AMX inline void block_into(float* C, int ldc, bool add, const std::uint32_t* a, int lda,
                                int rows, const std::uint32_t* panel, int words) {
  const bool both = rows > kTileRows;
  const std::size_t stride = static_cast<std::size_t>(ldc) * 4;
  if (add) {
    _tile_loadd(0, C, stride);
    _tile_loadd(1, C + 16, stride);
    if (both) {
      _tile_loadd(2, C + static_cast<std::size_t>(16) * ldc, stride);
      _tile_loadd(3, C + static_cast<std::size_t>(16) * ldc + 16, stride);
    }
  } else {
    _tile_zero(0);
    _tile_zero(1);
    if (both) {
      _tile_zero(2);
      _tile_zero(3);
    }
  }
  accumulate<Dot::bf16>(a, lda, rows, panel, words);
  store_c(C, static_cast<std::size_t>(ldc), both);
}

PYAE_AMX inline void release() { _tile_release(); }

}  // namespace pyae::amx

#endif  // PYAE_HAS_AVX512_PATHS
