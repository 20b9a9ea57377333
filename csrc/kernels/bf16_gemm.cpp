#include "kernels/bf16_gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/amx_tiles.h"
#include "kernels/transpose16.h"
#include "math/common.h"
#include "runtime/scratch.h"

#if defined(PYAE_HAS_AVX512_PATHS)
#include <immintrin.h>
#define PYAE_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
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

// Conversion runs of 16 pair words, with vcvtne2ps2bf16 / vcvtneps2bf16,
// which round as bf16_bits does (nearest even, NaN quiet, subnormals to
// signed zero; tests/test_bf16.py checks the two agree); the packers use
// them where the CPU has AVX512-BF16 and bf16_bits for the rest.
#if defined(PYAE_HAS_AVX512_PATHS)
// Words (x[2p], x[2p + 1]) for p = 0..15, from 32 consecutive floats.
PYAE_BF16 inline __m512i pairs_of_run(const float* x) {
  return (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + 16), _mm512_loadu_ps(x));
}

// Words (lo[j], hi[j]) for j = 0..15, from two runs of 16 floats.
PYAE_BF16 inline __m512i pairs_across(const float* lo, const float* hi) {
  const __m512i a = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(lo)));
  const __m512i b = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(hi)));
  return _mm512_or_si512(a, _mm512_slli_epi32(b, 16));
}

// out[p] = pair(row[2p], row[2p + 1]) for p from `from` in whole runs of
// 16 below `end`; returns where the runs stopped.
PYAE_BF16 int runs_of_row(std::uint32_t* out, const float* row, int from, int end) {
  int p = from;
  for (; p + 16 <= end; p += 16) _mm512_storeu_si512(out + p, pairs_of_run(row + 2 * p));
  return p;
}

// out[j] = pair(r0[j], r1[j]) in whole runs of 16 below n; returns where they stopped.
PYAE_BF16 int runs_across(std::uint32_t* out, const float* r0, const float* r1, int n) {
  int j = 0;
  for (; j + 16 <= n; j += 16) _mm512_storeu_si512(out + j, pairs_across(r0 + j, r1 + j));
  return j;
}

// A 16 x 16 block of words whose source runs lie along the destination's
// columns: w[i] = the words of source run i (16 of them), stored so that
// out[r * stride + i] = w[i] lane r.
PYAE_BF16 inline void store_transposed(std::uint32_t* out, std::size_t stride, __m512i w[16]) {
  transpose16x16(w);
  for (int r = 0; r < 16; ++r) _mm512_storeu_si512(out + r * stride, w[r]);
}

// Rows 2p, 2p + 1 (p = p0..p0+15) of A, columns m0..m0+15, as Ap[m][p].
PYAE_BF16 void pack_a_block(std::uint32_t* Ap, int Kp, const float* A, int lda, int m0, int p0) {
  __m512i w[16];
  for (int i = 0; i < 16; ++i) {
    const float* r0 = A + static_cast<std::size_t>(2 * (p0 + i)) * lda + m0;
    w[i] = pairs_across(r0, r0 + lda);
  }
  store_transposed(Ap + static_cast<std::size_t>(m0) * Kp + p0, Kp, w);
}

// Rows n0+j0..+15 of B (stored (N, K)), pairs p0..p0+15, as panel[p][j].
PYAE_BF16 void pack_b_block(std::uint32_t* panel, const float* B, int ldb, int n, int j0,
                            int p0) {
  __m512i w[16];
  for (int i = 0; i < 16; ++i)
    w[i] = pairs_of_run(B + static_cast<std::size_t>(n + i) * ldb + 2 * p0);
  store_transposed(panel + static_cast<std::size_t>(p0) * kNR + j0, kNR, w);
}
#endif

bool vector_packing() {
#if defined(PYAE_HAS_AVX512_PATHS)
  return cpu_has_avx512_bf16();
#else
  return false;
#endif
}

// out[p] = pair(row[2p], row[2p + 1]) for the pairs of a K-row, p >= from.
void row_to_pairs(std::uint32_t* out, const float* row, int K, int from = 0) {
  int p = from;
#if defined(PYAE_HAS_AVX512_PATHS)
  if (vector_packing()) p = runs_of_row(out, row, p, K / 2);
#endif
  for (; p < K / 2; ++p) out[p] = pair(row[2 * p], row[2 * p + 1]);
  if (K % 2) out[K / 2] = pair(row[K - 1], 0.0f);
}

// out[j] = pair(r0[j], r1[j]) (r1 null: zeros) for j < n.
void rows_to_pairs(std::uint32_t* out, const float* r0, const float* r1, int n) {
  int j = 0;
#if defined(PYAE_HAS_AVX512_PATHS)
  if (r1 != nullptr && vector_packing()) j = runs_across(out, r0, r1, n);
#endif
  for (; j < n; ++j) out[j] = pair(r0[j], r1 ? r1[j] : 0.0f);
}

// op(A) (M, K) -> Ap (Mp, Kp) k-pair words; rows M..Mp and pairs past K are zero.
void pack_a(std::uint32_t* Ap, bool trans, const float* A, int lda, int M, int K, int Mp,
            int Kp) {
  const int pairs = (K + 1) / 2;
  if (!trans) {
    for (int m = 0; m < M; ++m)
      row_to_pairs(Ap + static_cast<std::size_t>(m) * Kp, A + static_cast<std::size_t>(m) * lda,
                   K);
  } else {  // a(m, k) = A[k][m]: rows 2p and 2p + 1 of A give column p of Ap
    // 16 x 16 blocks transposed in registers, then the edges word by word.
    const bool vector = vector_packing();
    const int m16 = vector ? M / 16 * 16 : 0, p16 = vector ? K / 32 * 16 : 0;
#if defined(PYAE_HAS_AVX512_PATHS)
    for (int p0 = 0; p0 < p16; p0 += 16)
      for (int m0 = 0; m0 < m16; m0 += 16) pack_a_block(Ap, Kp, A, lda, m0, p0);
#endif
    for (int p = 0; p < pairs; ++p) {
      const float* r0 = A + static_cast<std::size_t>(2 * p) * lda;
      const float* r1 = 2 * p + 1 < K ? r0 + lda : nullptr;
      for (int m = p < p16 ? m16 : 0; m < M; ++m)
        Ap[static_cast<std::size_t>(m) * Kp + p] = pair(r0[m], r1 ? r1[m] : 0.0f);
    }
  }
  for (int m = 0; m < M; ++m)
    std::fill(Ap + static_cast<std::size_t>(m) * Kp + pairs,
              Ap + static_cast<std::size_t>(m + 1) * Kp, 0u);
  std::fill(Ap + static_cast<std::size_t>(M) * Kp, Ap + static_cast<std::size_t>(Mp) * Kp, 0u);
}

// op(B) (K, N) -> Bp: panels of kNR columns, each (Kp, kNR) k-pair words;
// columns past N and pairs past K are zero.
// Panels [first, last) of op(B), all of them by default.
void pack_b(std::uint32_t* Bp, bool trans, const float* B, int ldb, int K, int N, int Kp,
            int first = 0, int last = -1) {
  const int panels = (N + kNR - 1) / kNR;
  const int pairs = (K + 1) / 2;
  for (int q = first; q < (last < 0 ? panels : std::min(last, panels)); ++q) {
    std::uint32_t* panel = Bp + static_cast<std::size_t>(q) * Kp * kNR;
    const int n0 = q * kNR, cols = std::min(kNR, N - n0);
    if (cols < kNR)
      for (int p = 0; p < pairs; ++p)
        std::fill(panel + static_cast<std::size_t>(p) * kNR + cols,
                  panel + static_cast<std::size_t>(p + 1) * kNR, 0u);
    if (!trans) {
      for (int p = 0; p < pairs; ++p) {
        const float* r0 = B + static_cast<std::size_t>(2 * p) * ldb + n0;
        rows_to_pairs(panel + static_cast<std::size_t>(p) * kNR, r0,
                      2 * p + 1 < K ? r0 + ldb : nullptr, cols);
      }
    } else {  // b(k, n) = B[n][k]: each column of the panel is a row of B
      const bool vector = vector_packing();
      const int j16 = vector ? cols / 16 * 16 : 0, p16 = vector ? K / 32 * 16 : 0;
#if defined(PYAE_HAS_AVX512_PATHS)
      for (int j0 = 0; j0 < j16; j0 += 16)
        for (int p0 = 0; p0 < p16; p0 += 16) pack_b_block(panel, B, ldb, n0 + j0, j0, p0);
#endif
      for (int j = 0; j < cols; ++j) {
        const float* row = B + static_cast<std::size_t>(n0 + j) * ldb;
        for (int p = j < j16 ? p16 : 0; p < K / 2; ++p)
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

// MR rows of Ap times one panel over `pairs` k-pairs -> C (MR, cols) =
// alpha * acc + beta * C, from the accumulators (store_tile's order and
// rounding, without a buffer between them and C); beta == 0 never reads C.
template <int MR>
PYAE_BF16 void dp_tile(float* C, int ldc, int cols, float alpha, float beta,
                       const std::uint32_t* Ap, int Kp, const std::uint32_t* panel, int pairs) {
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
  const __mmask16 mask[2] = {
      static_cast<__mmask16>(cols >= 16 ? 0xffff : (1u << cols) - 1),
      static_cast<__mmask16>(cols >= 32 ? 0xffff : cols <= 16 ? 0 : (1u << (cols - 16)) - 1)};
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int r = 0; r < MR; ++r) {
    float* c = C + static_cast<std::size_t>(r) * ldc;
    for (int h = 0; h < 2; ++h) {
      __m512 out = _mm512_mul_ps(va, acc[r][h]);
      if (beta != 0.0f)
        out = _mm512_add_ps(out, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(mask[h], c + 16 * h)));
      _mm512_mask_storeu_ps(c + 16 * h, mask[h], out);
    }
  }
}

using DpTile = void (*)(float*, int, int, float, float, const std::uint32_t*, int,
                        const std::uint32_t*, int);

void gemm_avx512_bf16(const std::uint32_t* Ap, const std::uint32_t* Bp, int M, int N, int K,
                      int Kp, float alpha, float beta, float* C, int ldc) {
  static constexpr DpTile kTiles[kMR + 1] = {
      nullptr,     dp_tile<1>, dp_tile<2>, dp_tile<3>,  dp_tile<4>,  dp_tile<5>, dp_tile<6>,
      dp_tile<7>, dp_tile<8>, dp_tile<9>, dp_tile<10>, dp_tile<11>, dp_tile<12>};
  const int pairs = (K + 1) / 2;
  for (int n0 = 0; n0 < N; n0 += kNR) {
    const std::uint32_t* panel = Bp + static_cast<std::size_t>(n0 / kNR) * Kp * kNR;
    const int cols = std::min(kNR, N - n0);
    for (int m0 = 0; m0 < M; m0 += kMR) {
      const int rows = std::min(kMR, M - m0);
      kTiles[rows](C + static_cast<std::size_t>(m0) * ldc + n0, ldc, cols, alpha, beta,
                   Ap + static_cast<std::size_t>(m0) * Kp, Kp, panel, pairs);
    }
  }
}

// Depth of A kept in L1 while one block row runs over every panel: 32
// rows x 128 words (16 KB) next to a panel's 16 KB of the same depth.
constexpr int kAmxChunkWords = 128;

PYAE_AMX void gemm_amx(const std::uint32_t* Ap, const std::uint32_t* Bp, int M, int N, int Kp,
                       float alpha, float beta, float* C, int ldc) {
  amx::configure(M);
  alignas(64) float tile[32 * kNR];
  // Whole blocks (all 32 columns; 16 or 32 rows, or all M <= 16, as the
  // tiles are configured) with alpha 1 and beta 0 or 1 go straight into C,
  // a chunk of depth at a time over every panel, so each chunk of A is read
  // from L2 once (not once per panel) and no epilogue reads a buffer back.
  // The rest through the buffer and store_tile.
  const bool direct = alpha == 1.0f && (beta == 0.0f || beta == 1.0f);
  const int whole_n = direct ? N / kNR * kNR : 0;
  for (int m0 = 0; m0 < M; m0 += 32) {
    const int rows = std::min(32, M - m0);
    const std::uint32_t* a = Ap + static_cast<std::size_t>(m0) * Kp;
    float* c = C + static_cast<std::size_t>(m0) * ldc;
    const int n_direct = M <= 16 || rows == 16 || rows == 32 ? whole_n : 0;
    for (int k0 = 0; k0 < Kp; k0 += kAmxChunkWords) {
      const int words = std::min(kAmxChunkWords, Kp - k0);
      for (int n0 = 0; n0 < n_direct; n0 += kNR)
        amx::block_into(c + n0, ldc, k0 > 0 || beta != 0.0f, a + k0, Kp, rows,
                        Bp + static_cast<std::size_t>(n0 / kNR) * Kp * kNR +
                            static_cast<std::size_t>(k0) * kNR,
                        words);
    }
    for (int n0 = n_direct; n0 < N; n0 += kNR) {
      amx::block<amx::Dot::bf16>(tile, a, rows, Bp + static_cast<std::size_t>(n0 / kNR) * Kp * kNR,
                                 Kp);
      store_tile(c + n0, ldc, tile, kNR, rows, std::min(kNR, N - n0), alpha, beta);
    }
  }
  amx::release();
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

void Bf16PackedB::repack(bool trans_b, const float* B, int ldb, int first, int last) {
  pack_b(reinterpret_cast<std::uint32_t*>(words_.data()), trans_b, B, ldb, K_, N_, Kp_, first,
         last);
}

void Bf16PackedB::repack_rows(const float* B, int ldb, int k0, int k1) {
  auto* words = reinterpret_cast<std::uint32_t*>(words_.data());
  const int p1 = (std::min(k1, K_) + 1) / 2;
  for (int n0 = 0; n0 < N_; n0 += kNR) {
    std::uint32_t* panel = words + static_cast<std::size_t>(n0 / kNR) * Kp_ * kNR;
    const int cols = std::min(kNR, N_ - n0);  // padding columns stay zero
    for (int p = k0 / 2; p < p1; ++p) {
      const float* r0 = B + static_cast<std::size_t>(2 * p) * ldb + n0;
      rows_to_pairs(panel + static_cast<std::size_t>(p) * kNR, r0,
                    2 * p + 1 < K_ ? r0 + ldb : nullptr, cols);
    }
  }
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
