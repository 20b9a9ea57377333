#include "kernels/bf16_gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "math/common.h"
#include "runtime/scratch.h"

#if defined(PYAE_HAS_AVX512_PATHS)
#include <immintrin.h>
#define PYAE_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define PYAE_AMX __attribute__((target("avx512f,avx512bw,avx512vl,amx-tile,amx-bf16")))
#endif

namespace pyae {

namespace {

constexpr int kNR = 32;         // columns of a packed B panel: two zmm, or two AMX tiles
constexpr int kMR = 12;         // rows of a vdpbf16ps register tile (24 accumulators)
constexpr int kTileRows = 16;   // AMX tile: 16 rows of 64 bytes (16 k-pairs or 16 columns)

int round_up(int x, int m) { return (x + m - 1) / m * m; }

// fp32 -> bf16 bits, round to nearest even; NaN stays NaN (made quiet);
// subnormals become signed zero (vdpbf16ps and AMX treat bf16 subnormals as
// zero anyway, so the reference need not model them).
PYAE_HD std::uint32_t bf16_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  const std::uint32_t mag = u & 0x7fffffffu;
  const std::uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const std::uint32_t nan = (u >> 16) | 0x40u;
  const std::uint32_t zero = (u >> 16) & 0x8000u;
  return mag > 0x7f800000u ? nan : (mag < 0x00800000u ? zero : rounded);
}

PYAE_HD std::uint32_t pair(float lo, float hi) { return bf16_bits(lo) | (bf16_bits(hi) << 16); }

// op(A) (M, K) -> Ap (Mp, Kp) k-pair words; rows M..Mp and pairs past K are zero.
PYAE_MULTIVERSION void pack_a(std::uint32_t* Ap, bool trans, const float* A, int lda, int M,
                              int K, int Mp, int Kp) {
  const int full = K / 2;
  if (!trans) {
    for (int m = 0; m < M; ++m) {
      const float* a = A + static_cast<std::size_t>(m) * lda;
      std::uint32_t* out = Ap + static_cast<std::size_t>(m) * Kp;
      for (int p = 0; p < full; ++p) out[p] = pair(a[2 * p], a[2 * p + 1]);
      if (K % 2) out[full] = pair(a[K - 1], 0.0f);
      for (int p = (K + 1) / 2; p < Kp; ++p) out[p] = 0;
    }
  } else {  // a(m, k) = A[k][m]: read rows of A, write columns of Ap
    for (int p = 0; p < (K + 1) / 2; ++p) {
      const float* r0 = A + static_cast<std::size_t>(2 * p) * lda;
      const float* r1 = 2 * p + 1 < K ? r0 + lda : nullptr;
      for (int m = 0; m < M; ++m)
        Ap[static_cast<std::size_t>(m) * Kp + p] = pair(r0[m], r1 ? r1[m] : 0.0f);
    }
    for (int m = 0; m < M; ++m)
      std::fill(Ap + static_cast<std::size_t>(m) * Kp + (K + 1) / 2,
                Ap + static_cast<std::size_t>(m + 1) * Kp, 0u);
  }
  std::fill(Ap + static_cast<std::size_t>(M) * Kp, Ap + static_cast<std::size_t>(Mp) * Kp, 0u);
}

// op(B) (K, N) -> Bp: panels of kNR columns, each (Kp, kNR) k-pair words;
// columns past N and pairs past K are zero.
PYAE_MULTIVERSION void pack_b(std::uint32_t* Bp, bool trans, const float* B, int ldb, int K,
                              int N, int Kp) {
  const int panels = (N + kNR - 1) / kNR;
  const int pairs = (K + 1) / 2;
  for (int q = 0; q < panels; ++q) {
    std::uint32_t* panel = Bp + static_cast<std::size_t>(q) * Kp * kNR;
    const int n0 = q * kNR, cols = std::min(kNR, N - n0);
    if (!trans) {
      for (int p = 0; p < pairs; ++p) {
        const float* r0 = B + static_cast<std::size_t>(2 * p) * ldb + n0;
        const float* r1 = 2 * p + 1 < K ? r0 + ldb : nullptr;
        std::uint32_t* out = panel + static_cast<std::size_t>(p) * kNR;
        for (int j = 0; j < cols; ++j) out[j] = pair(r0[j], r1 ? r1[j] : 0.0f);
        for (int j = cols; j < kNR; ++j) out[j] = 0;
      }
    } else {  // b(k, n) = B[n][k]: each column of the panel is a row of B
      for (int p = 0; p < pairs; ++p)
        for (int j = cols; j < kNR; ++j) panel[static_cast<std::size_t>(p) * kNR + j] = 0;
      for (int j = 0; j < cols; ++j) {
        const float* row = B + static_cast<std::size_t>(n0 + j) * ldb;
        for (int p = 0; p < K / 2; ++p)
          panel[static_cast<std::size_t>(p) * kNR + j] = pair(row[2 * p], row[2 * p + 1]);
        if (K % 2) panel[static_cast<std::size_t>(K / 2) * kNR + j] = pair(row[K - 1], 0.0f);
      }
    }
    std::fill(panel + static_cast<std::size_t>(pairs) * kNR,
              panel + static_cast<std::size_t>(Kp) * kNR, 0u);
  }
}

// C[rows, cols] = alpha * tile + beta * C; beta == 0 never reads C (it may be
// uninitialised or NaN, as with BLAS).
void store_tile(float* C, int ldc, const float* tile, int ldt, int rows, int cols, float alpha,
                float beta) {
  for (int r = 0; r < rows; ++r) {
    float* c = C + static_cast<std::size_t>(r) * ldc;
    const float* t = tile + static_cast<std::size_t>(r) * ldt;
    if (beta == 0.0f) {
      for (int j = 0; j < cols; ++j) c[j] = alpha * t[j];
    } else {
      for (int j = 0; j < cols; ++j) c[j] = alpha * t[j] + beta * c[j];
    }
  }
}

#if defined(PYAE_HAS_AVX512_PATHS)

// MR rows of Ap times one panel over `pairs` k-pairs -> tile (MR, kNR).
template <int MR>
PYAE_BF16 void dp_tile(float* tile, const std::uint32_t* Ap, int Kp, const std::uint32_t* panel,
                       int pairs) {
  __m512 acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int p = 0; p < pairs; ++p) {
    const __m512bh b0 = (__m512bh)_mm512_load_si512(panel + static_cast<std::size_t>(p) * kNR);
    const __m512bh b1 = (__m512bh)_mm512_load_si512(panel + static_cast<std::size_t>(p) * kNR + 16);
    for (int r = 0; r < MR; ++r) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(
          static_cast<int>(Ap[static_cast<std::size_t>(r) * Kp + p]));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
    }
  }
  for (int r = 0; r < MR; ++r) {
    _mm512_storeu_ps(tile + r * kNR, acc[r][0]);
    _mm512_storeu_ps(tile + r * kNR + 16, acc[r][1]);
  }
}

using DpTile = void (*)(float*, const std::uint32_t*, int, const std::uint32_t*, int);

void gemm_avx512_bf16(const std::uint32_t* Ap, const std::uint32_t* Bp, int M, int N, int K,
                      int Kp, float alpha, float beta, float* C, int ldc) {
  static constexpr DpTile kTiles[kMR + 1] = {
      nullptr,     dp_tile<1>, dp_tile<2>, dp_tile<3>,  dp_tile<4>,  dp_tile<5>, dp_tile<6>,
      dp_tile<7>, dp_tile<8>, dp_tile<9>, dp_tile<10>, dp_tile<11>, dp_tile<12>};
  const int pairs = (K + 1) / 2;
  alignas(64) float tile[kMR * kNR];
  for (int n0 = 0; n0 < N; n0 += kNR) {
    const std::uint32_t* panel = Bp + static_cast<std::size_t>(n0 / kNR) * Kp * kNR;
    const int cols = std::min(kNR, N - n0);
    for (int m0 = 0; m0 < M; m0 += kMR) {
      const int rows = std::min(kMR, M - m0);
      kTiles[rows](tile, Ap + static_cast<std::size_t>(m0) * Kp, Kp, panel, pairs);
      store_tile(C + static_cast<std::size_t>(m0) * ldc + n0, ldc, tile, kNR, rows, cols, alpha,
                 beta);
    }
  }
}

// Tiles: C 0-3 (rows 0-15 x cols 0-15, 0-15 x 16-31, 16-31 x 0-15,
// 16-31 x 16-31), A 4-5 (rows 0-15, 16-31), B 6-7 (cols 0-15, 16-31); each
// 16 rows of 64 bytes. With M <= 16 the C and A tiles have M rows (a batch
// of one multiplies one row, not 16); otherwise packed A has whole 16-row
// blocks (zero rows past M) and a last odd 16-row block uses tiles 0, 1, 4.
struct alignas(64) TileConfig {
  std::uint8_t palette = 1, start_row = 0, reserved[14] = {};
  std::uint16_t colsb[16] = {};
  std::uint8_t rows[16] = {};
};

PYAE_AMX void gemm_amx(const std::uint32_t* Ap, const std::uint32_t* Bp, int M, int N, int Kp,
                       float alpha, float beta, float* C, int ldc) {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = M <= kTileRows && (t <= 1 || t == 4) ? M : kTileRows;
  }
  _tile_loadconfig(&cfg);
  alignas(64) float tile[32 * kNR];
  const std::size_t a_stride = static_cast<std::size_t>(Kp) * 4;  // bytes per packed A row
  constexpr std::size_t b_stride = kNR * 4;                       // bytes per k-pair of a panel
  for (int n0 = 0; n0 < N; n0 += kNR) {
    const std::uint32_t* panel = Bp + static_cast<std::size_t>(n0 / kNR) * Kp * kNR;
    const int cols = std::min(kNR, N - n0);
    for (int m0 = 0; m0 < M; m0 += 32) {
      const std::uint32_t* a = Ap + static_cast<std::size_t>(m0) * Kp;
      const bool both = M - m0 > kTileRows;  // two row tiles in this block
      const std::uint32_t* a_second = a + static_cast<std::size_t>(kTileRows) * Kp;
      _tile_zero(0);
      _tile_zero(1);
      if (both) {
        _tile_zero(2);
        _tile_zero(3);
      }
      for (int p = 0; p < Kp; p += kTileRows) {
        _tile_loadd(6, panel + static_cast<std::size_t>(p) * kNR, b_stride);
        _tile_loadd(7, panel + static_cast<std::size_t>(p) * kNR + 16, b_stride);
        _tile_loadd(4, a + p, a_stride);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        if (both) {
          _tile_loadd(5, a_second + p, a_stride);
          _tile_dpbf16ps(2, 5, 6);
          _tile_dpbf16ps(3, 5, 7);
        }
      }
      _tile_stored(0, tile, kNR * 4);
      _tile_stored(1, tile + 16, kNR * 4);
      if (both) {
        _tile_stored(2, tile + 16 * kNR, kNR * 4);
        _tile_stored(3, tile + 16 * kNR + 16, kNR * 4);
      }
      store_tile(C + static_cast<std::size_t>(m0) * ldc + n0, ldc, tile, kNR,
                 std::min(32, M - m0), cols, alpha, beta);
    }
  }
  _tile_release();
}

#endif  // PYAE_HAS_AVX512_PATHS

}  // namespace

const char* bf16_path_name(Bf16Path path) {
  switch (path) {
#define PYAE_BF16_PATH_NAME(name, code) \
  case Bf16Path::name: return #name;
    PYAE_BF16_PATHS(PYAE_BF16_PATH_NAME)
#undef PYAE_BF16_PATH_NAME
  }
  return "unknown";
}

bool bf16_path_available(Bf16Path path) {
  switch (path) {
    case Bf16Path::none: return true;
    case Bf16Path::avx512_bf16: return cpu_has_avx512_bf16();
    case Bf16Path::amx: return cpu_has_amx_bf16();
  }
  return false;
}

namespace {
std::atomic<int> g_forced_path{-1};  // -1: not forced
}  // namespace

void force_bf16_path(Bf16Path path) {
  if (!bf16_path_available(path))
    throw std::invalid_argument(std::string("bf16 path '") + bf16_path_name(path) +
                                "' is not available on this CPU");
  g_forced_path = static_cast<int>(path);
}

void unforce_bf16_path() { g_forced_path = -1; }

Bf16Path bf16_best_path() {
  if (const int forced = g_forced_path; forced >= 0) return static_cast<Bf16Path>(forced);
  if (cpu_has_amx_bf16()) return Bf16Path::amx;
  if (cpu_has_avx512_bf16()) return Bf16Path::avx512_bf16;
  return Bf16Path::none;
}

namespace {

void check_path(Bf16Path path) {
  if (path == Bf16Path::none || !bf16_path_available(path))
    throw std::runtime_error(std::string("bf16 GEMM path '") + bf16_path_name(path) +
                             "' is not available on this CPU");
}

// Pairs of K as both operands are packed: whole AMX tile depths.
int padded_pairs(int K) { return round_up((K + 1) / 2, kTileRows); }

// op(A) packed into this thread's scratch: M rows, or whole 16-row AMX
// blocks (zero rows past M) when M > 16.
const std::uint32_t* packed_a(bool trans_a, const float* A, int lda, int M, int K, int Kp) {
  const int Mp = M <= kTileRows ? M : round_up(M, kTileRows);
  auto* Ap = reinterpret_cast<std::uint32_t*>(
      thread_scratch(kScratchPackA, static_cast<std::size_t>(Mp) * Kp));
  pack_a(Ap, trans_a, A, lda, M, K, Mp, Kp);
  return Ap;
}

// C (M, N) = alpha * Ap . Bp + beta * C on `path`, both operands packed.
void run_packed(Bf16Path path, const std::uint32_t* Ap, const std::uint32_t* Bp, int M, int N,
                int K, int Kp, float alpha, float beta, float* C, int ldc) {
#if defined(PYAE_HAS_AVX512_PATHS)
  if (path == Bf16Path::amx) gemm_amx(Ap, Bp, M, N, Kp, alpha, beta, C, ldc);
  else gemm_avx512_bf16(Ap, Bp, M, N, K, Kp, alpha, beta, C, ldc);
#endif
}

// K = 0: no products, C = beta * C.
void scale_only(int M, int N, float beta, float* C, int ldc) {
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      float& c = C[static_cast<std::size_t>(m) * ldc + n];
      c = beta == 0.0f ? 0.0f : beta * c;
    }
}

}  // namespace

void bf16_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
               int lda, const float* B, int ldb, float beta, float* C, int ldc, Bf16Path path) {
  check_path(path);
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return scale_only(M, N, beta, C, ldc);
  const int Kp = padded_pairs(K);
  auto* Bp = reinterpret_cast<std::uint32_t*>(thread_scratch(
      kScratchPackB, static_cast<std::size_t>(round_up(N, kNR)) * Kp));
  pack_b(Bp, trans_b, B, ldb, K, N, Kp);
  run_packed(path, packed_a(trans_a, A, lda, M, K, Kp), Bp, M, N, K, Kp, alpha, beta, C, ldc);
}

Bf16PackedB::Bf16PackedB(bool trans_b, int K, int N, const float* B, int ldb)
    : K_(K), N_(N), Kp_(padded_pairs(K)) {
  if (K < 1 || N < 1) throw std::invalid_argument("a packed operand needs K, N >= 1");
  words_.resize(static_cast<std::size_t>(round_up(N, kNR)) * Kp_);
  pack_b(reinterpret_cast<std::uint32_t*>(words_.data()), trans_b, B, ldb, K, N, Kp_);
}

const std::uint32_t* Bf16PackedB::panel(int n0) const {
  return reinterpret_cast<const std::uint32_t*>(words_.data()) +
         static_cast<std::size_t>(n0 / kNR) * Kp_ * kNR;
}

void bf16_gemm_packed(bool trans_a, int M, int n0, int cols, float alpha, const float* A,
                      int lda, const Bf16PackedB& B, float beta, float* C, int ldc,
                      Bf16Path path) {
  check_path(path);
  if (n0 % kNR != 0 || n0 < 0 || cols < 0 || n0 + cols > B.N())
    throw std::invalid_argument("bf16_gemm_packed: columns not on panel boundaries");
  if (M <= 0 || cols == 0) return;
  const int Kp = B.pairs_padded();
  run_packed(path, packed_a(trans_a, A, lda, M, B.K(), Kp), B.panel(n0), M, cols, B.K(), Kp,
             alpha, beta, C, ldc);
}

}  // namespace pyae
