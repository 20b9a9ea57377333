#include "kernels/int8_gemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/amx_tiles.h"
#include "math/common.h"
#include "runtime/scratch.h"

#if defined(PYAE_HAS_AVX512_PATHS)
#include <immintrin.h>
#define PYAE_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#endif

namespace pyae {

namespace {

constexpr int kNR = kInt8PanelWidth;  // columns of a packed B panel
constexpr int kMR = 12;               // rows of a vpdpbusd register tile
constexpr int kTileRows = 16;         // AMX tile: 16 rows of 64 bytes

int round_up(int x, int m) { return (x + m - 1) / m * m; }

// Symmetric quantisation of n values: returns the scale (max |x| / 127);
// q receives rint(x * (127 / max)) (zeros for an all-zero row), each byte
// XOR `flip` (0x80 turns s8 into the u8 q + 128). A non-finite value gives
// q = 0 and a NaN scale, so the row's outputs are NaN.
// max |x| over the bits: non-negative floats order as their bit patterns,
// so an integer max (which vectorises, unlike a float max with NaN rules)
// finds it, and any NaN or inf makes the result non-finite.
PYAE_MULTIVERSION float row_max_abs(const float* x, int n) {
  std::uint32_t m = 0;
  for (int i = 0; i < n; ++i) {
    std::uint32_t u;
    std::memcpy(&u, x + i, sizeof u);
    m = std::max(m, u & 0x7fffffffu);
  }
  float r;
  std::memcpy(&r, &m, sizeof r);
  return r;
}

#if defined(PYAE_HAS_AVX512_PATHS)
// cvtps2dq rounds to nearest even (the default MXCSR mode), as rint.
PYAE_AVX512 void quantise_avx512(std::int8_t* q, const float* x, int n, float inv,
                                 std::int8_t flip) {
  const __m512 s = _mm512_set1_ps(inv);
  const __m128i f = _mm_set1_epi8(flip);
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i b = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i), s)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm_xor_si128(b, f));
  }
  for (; i < n; ++i) q[i] = static_cast<std::int8_t>(static_cast<int>(std::nearbyint(x[i] * inv)) ^ flip);
}
#endif

float quantise(std::int8_t* q, const float* x, int n, std::int8_t flip = 0) {
  const float m = row_max_abs(x, n);
  const float inv = 127.0f / m;
  // A non-finite value: NaN outputs. A zero row, or one so small that
  // 127 / max overflows: zeros (its products are below float32's range).
  if (!(m <= std::numeric_limits<float>::max()) || !(inv <= std::numeric_limits<float>::max())) {
    std::memset(q, flip, n);
    return m <= std::numeric_limits<float>::max() ? 0.0f : NAN;
  }
#if defined(PYAE_HAS_AVX512_PATHS)
  if (cpu_has_avx512()) {
    quantise_avx512(q, x, n, inv, flip);
    return m / 127.0f;
  }
#endif
  for (int i = 0; i < n; ++i)
    q[i] = static_cast<std::int8_t>(static_cast<int>(std::nearbyint(x[i] * inv)) ^ flip);
  return m / 127.0f;
}

// A's rows quantised into quad words (Mp, Kq); `offset` adds 128 to every
// byte (as u8 for vpdpbusd). Rows past M and quads past K hold zero (q).
void pack_a(std::uint32_t* Ap, float* scales, const float* A, int lda, int M, int K, int Mp,
            int Kq, bool offset) {
  std::int8_t* row = reinterpret_cast<std::int8_t*>(Ap);
  const std::size_t row_bytes = static_cast<std::size_t>(Kq) * 4;
  const std::int8_t flip = offset ? static_cast<std::int8_t>(0x80) : 0;
  for (int m = 0; m < M; ++m) {
    std::int8_t* q = row + m * row_bytes;
    scales[m] = quantise(q, A + static_cast<std::size_t>(m) * lda, K, flip);
    std::memset(q + K, flip, row_bytes - K);
  }
  std::memset(row + M * row_bytes, flip, (Mp - M) * row_bytes);
}

// C[rows, cols] = float(acc - offset_sum[n]) * scale_a[m] * scale_b[n].
void store_tile(float* C, int ldc, const std::int32_t* tile, int rows, int cols,
                const float* scale_a, const float* scale_b, const std::int32_t* offset_sums) {
  for (int r = 0; r < rows; ++r) {
    float* c = C + static_cast<std::size_t>(r) * ldc;
    const std::int32_t* t = tile + r * kNR;
    for (int j = 0; j < cols; ++j)
      c[j] = static_cast<float>(t[j] - (offset_sums ? offset_sums[j] : 0)) * scale_a[r] *
             scale_b[j];
  }
}

#if defined(PYAE_HAS_AVX512_PATHS)

template <int MR>
PYAE_VNNI void vnni_tile(std::int32_t* tile, const std::uint32_t* Ap, int Kq,
                         const std::uint32_t* panel, int quads) {
  __m512i acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
  for (int p = 0; p < quads; ++p) {
    const __m512i b0 = _mm512_load_si512(panel + static_cast<std::size_t>(p) * kNR);
    const __m512i b1 = _mm512_load_si512(panel + static_cast<std::size_t>(p) * kNR + 16);
    for (int r = 0; r < MR; ++r) {
      const __m512i a =
          _mm512_set1_epi32(static_cast<int>(Ap[static_cast<std::size_t>(r) * Kq + p]));
      acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], a, b0);
      acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], a, b1);
    }
  }
  for (int r = 0; r < MR; ++r) {
    _mm512_storeu_si512(tile + r * kNR, acc[r][0]);
    _mm512_storeu_si512(tile + r * kNR + 16, acc[r][1]);
  }
}

using VnniTile = void (*)(std::int32_t*, const std::uint32_t*, int, const std::uint32_t*, int);

void gemm_vnni(const std::uint32_t* Ap, const float* scale_a, const Int8PackedB& B, int n0,
               int M, int N, float* C, int ldc) {
  static constexpr VnniTile kTiles[kMR + 1] = {
      nullptr,       vnni_tile<1>, vnni_tile<2>, vnni_tile<3>,  vnni_tile<4>,
      vnni_tile<5>,  vnni_tile<6>, vnni_tile<7>, vnni_tile<8>,  vnni_tile<9>,
      vnni_tile<10>, vnni_tile<11>, vnni_tile<12>};
  const int Kq = B.quads_padded(), quads = (B.K() + 3) / 4;
  alignas(64) std::int32_t tile[kMR * kNR];
  for (int j0 = 0; j0 < N; j0 += kNR) {
    const int cols = std::min(kNR, N - j0);
    for (int m0 = 0; m0 < M; m0 += kMR) {
      const int rows = std::min(kMR, M - m0);
      kTiles[rows](tile, Ap + static_cast<std::size_t>(m0) * Kq, Kq, B.panel(n0 + j0), quads);
      store_tile(C + static_cast<std::size_t>(m0) * ldc + j0, ldc, tile, rows, cols,
                 scale_a + m0, B.scales() + n0 + j0, B.offset_sums() + n0 + j0);
    }
  }
}

// The shared AMX loop (amx_tiles.h) with s8 x s8 tile dot products.
PYAE_AMX void gemm_amx(const std::uint32_t* Ap, const float* scale_a, const Int8PackedB& B,
                       int n0, int M, int N, float* C, int ldc) {
  amx::configure(M);
  const int Kq = B.quads_padded();
  alignas(64) std::int32_t tile[32 * kNR];
  for (int j0 = 0; j0 < N; j0 += kNR) {
    for (int m0 = 0; m0 < M; m0 += 32) {
      const int rows = std::min(32, M - m0);
      amx::block<amx::Dot::int8>(tile, Ap + static_cast<std::size_t>(m0) * Kq, rows,
                                 B.panel(n0 + j0), Kq);
      store_tile(C + static_cast<std::size_t>(m0) * ldc + j0, ldc, tile, rows,
                 std::min(kNR, N - j0), scale_a + m0, B.scales() + n0 + j0, nullptr);
    }
  }
  amx::release();
}

#endif  // PYAE_HAS_AVX512_PATHS

std::atomic<int> g_forced_path{-1};  // -1: not forced

}  // namespace

const char* int8_path_name(Int8Path path) {
  switch (path) {
#define PYAE_INT8_PATH_NAME(name, code) \
  case Int8Path::name: return #name;
    PYAE_INT8_PATHS(PYAE_INT8_PATH_NAME)
#undef PYAE_INT8_PATH_NAME
  }
  return "unknown";
}

bool int8_path_available(Int8Path path) {
  switch (path) {
    case Int8Path::none: return true;
    case Int8Path::avx512_vnni: return cpu_has_avx512_vnni();
    case Int8Path::amx: return cpu_has_amx_int8();
  }
  return false;
}

void force_int8_path(Int8Path path) {
  if (!int8_path_available(path))
    throw std::invalid_argument(std::string("int8 path '") + int8_path_name(path) +
                                "' is not available on this CPU");
  g_forced_path = static_cast<int>(path);
}

void unforce_int8_path() { g_forced_path = -1; }

Int8Path int8_best_path() {
  if (const int forced = g_forced_path; forced >= 0) return static_cast<Int8Path>(forced);
  if (cpu_has_amx_int8()) return Int8Path::amx;
  if (cpu_has_avx512_vnni()) return Int8Path::avx512_vnni;
  return Int8Path::none;
}

Int8PackedB::Int8PackedB(bool trans_b, int K, int N, const float* B, int ldb)
    : K_(K), N_(N), Kq_(round_up((K + 3) / 4, kTileRows)) {
  if (K < 1 || N < 1) throw std::invalid_argument("a packed operand needs K, N >= 1");
  if (K > kInt8MaxDepth)
    throw std::invalid_argument("int8 GEMM depth " + std::to_string(K) + " is past " +
                                std::to_string(kInt8MaxDepth) + " (int32 sums could overflow)");
  const int Np = round_up(N, kNR);
  words_.resize(static_cast<std::size_t>(Np) * Kq_);
  scales_.resize(N);
  offset_sums_.resize(N);
  std::int8_t* words = reinterpret_cast<std::int8_t*>(words_.data());
  std::vector<float> column(K);
  std::vector<std::int8_t> q(K);
  auto* sums = reinterpret_cast<std::int32_t*>(offset_sums_.data());
  for (int n = 0; n < N; ++n) {
    for (int k = 0; k < K; ++k)
      column[k] = trans_b ? B[static_cast<std::size_t>(n) * ldb + k]
                          : B[static_cast<std::size_t>(k) * ldb + n];
    scales_.data()[n] = quantise(q.data(), column.data(), K);
    std::int32_t sum = 0;
    // Byte k of column n: panel n / 32, quad k / 4, column n % 32, byte k % 4.
    std::int8_t* panel = words + static_cast<std::size_t>(n / kNR) * Kq_ * kNR * 4;
    for (int k = 0; k < K; ++k) {
      panel[(static_cast<std::size_t>(k / 4) * kNR + n % kNR) * 4 + k % 4] = q[k];
      sum += q[k];
    }
    sums[n] = 128 * sum;
  }
}

const std::uint32_t* Int8PackedB::panel(int n0) const {
  return reinterpret_cast<const std::uint32_t*>(words_.data()) +
         static_cast<std::size_t>(n0 / kNR) * Kq_ * kNR;
}

void int8_gemm_packed(int M, int n0, int cols, const float* A, int lda, const Int8PackedB& B,
                      float* C, int ldc, Int8Path path) {
  if (path == Int8Path::none || !int8_path_available(path))
    throw std::runtime_error(std::string("int8 GEMM path '") + int8_path_name(path) +
                             "' is not available on this CPU");
  if (n0 % kNR != 0 || n0 < 0 || cols < 0 || n0 + cols > B.N())
    throw std::invalid_argument("int8_gemm_packed: columns not on panel boundaries");
  if (M <= 0 || cols == 0) return;
  const int Kq = B.quads_padded();
  const int Mp = M <= kTileRows ? M : round_up(M, kTileRows);
  // Scratch: the packed rows, then their scales.
  float* scratch = thread_scratch(kScratchPackA, static_cast<std::size_t>(Mp) * Kq + Mp);
  auto* Ap = reinterpret_cast<std::uint32_t*>(scratch);
  float* scale_a = scratch + static_cast<std::size_t>(Mp) * Kq;
  pack_a(Ap, scale_a, A, lda, M, B.K(), Mp, Kq, path == Int8Path::avx512_vnni);
#if defined(PYAE_HAS_AVX512_PATHS)
  if (path == Int8Path::amx) gemm_amx(Ap, scale_a, B, n0, M, cols, C, ldc);
  else gemm_vnni(Ap, scale_a, B, n0, M, cols, C, ldc);
#endif
}

}  // namespace pyae
