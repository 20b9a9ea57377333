// Peak throughput of each instruction path pyae's GEMMs use, on one core:
// a register-resident loop of independent multiply-accumulates, nothing
// loaded from memory. bench_peaks.py compiles and runs it; it prints one
// line per path this CPU has: "name GFLOP/s" (int8 paths: GOP/s).
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>

namespace {

constexpr long kIterations = 20000000;

double seconds_of(auto&& loop) {
  loop(kIterations / 10);  // warm up (clock ramps, AMX state)
  auto t = std::chrono::steady_clock::now();
  loop(kIterations);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// 12 independent accumulators: more than latency x throughput on any of them.
#define PYAE_PEAK_LOOP(TYPE, ZERO, STEP)                                \
  TYPE acc[12];                                                         \
  for (auto& a : acc) a = ZERO;                                         \
  for (long i = 0; i < n; ++i) {                                        \
    _Pragma("GCC unroll 12") for (int j = 0; j < 12; ++j) acc[j] = STEP; \
    asm volatile("" : "+v"(x));                                         \
  }                                                                     \
  for (auto& a : acc) asm volatile("" : : "v"(a));

__attribute__((target("avx512f"))) void fma_fp32(long n) {
  __m512 x = _mm512_set1_ps(1.0f), y = _mm512_set1_ps(1e-9f);
  PYAE_PEAK_LOOP(__m512, _mm512_setzero_ps(), _mm512_fmadd_ps(x, y, acc[j]))
}

__attribute__((target("avx512f,avx512bf16"))) void dp_bf16(long n) {
  __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = x;
  PYAE_PEAK_LOOP(__m512, _mm512_setzero_ps(), _mm512_dpbf16_ps(acc[j], x, y))
}

__attribute__((target("avx512f,avx512vnni"))) void dp_int8(long n) {
  __m512i x = _mm512_set1_epi32(0x01010101), y = x;
  PYAE_PEAK_LOOP(__m512i, _mm512_setzero_si512(), _mm512_dpbusd_epi32(acc[j], x, y))
}

struct alignas(64) TileConfig {
  std::uint8_t palette = 1, start_row = 0, reserved[14] = {};
  std::uint16_t colsb[16] = {};
  std::uint8_t rows[16] = {};
};

template <bool kInt8>
__attribute__((target("amx-tile,amx-bf16,amx-int8"))) void amx(long n) {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  asm volatile("ldtilecfg %0" : : "m"(cfg));  // the whole structure (see amx_tiles.h)
  alignas(64) static std::uint8_t zeros[1024] = {};
  _tile_loadd(4, zeros, 64);
  _tile_loadd(5, zeros, 64);
  _tile_loadd(6, zeros, 64);
  _tile_loadd(7, zeros, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (long i = 0; i < n / 16; ++i) {  // 4 tile ops of 16 x 16 x (32 or 64)
    if constexpr (kInt8) {
      _tile_dpbssd(0, 4, 6);
      _tile_dpbssd(1, 4, 7);
      _tile_dpbssd(2, 5, 6);
      _tile_dpbssd(3, 5, 7);
    } else {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_release();
}

bool amx_granted() {
  unsigned a, b, c, d;
  __cpuid_count(7, 0, a, b, c, d);
  if (!(d & (1u << 24)) || !(d & (1u << 22)) || !(d & (1u << 25))) return false;
  return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
}

void report(const char* name, double ops_per_iteration, auto&& loop) {
  std::printf("%s %.0f\n", name, ops_per_iteration * kIterations / seconds_of(loop) / 1e9);
  std::fflush(stdout);
}

}  // namespace

int main() {
  // Operations per iteration of each loop: 12 vector instructions of 16
  // lanes, each lane 1 FMA (2 flops), 2 bf16 products (4) or 4 int8 ones (8).
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) report("avx512_fma_fp32", 12 * 16 * 2, fma_fp32);
  if (__builtin_cpu_supports("avx512bf16")) report("avx512_bf16", 12 * 16 * 4, dp_bf16);
  if (__builtin_cpu_supports("avx512vnni")) report("avx512_vnni_int8", 12 * 16 * 8, dp_int8);
  if (amx_granted()) {
    // Per iteration: a quarter of one tile op (4 ops per 16 iterations).
    report("amx_bf16", 16.0 * 16 * 32 * 2 / 4, amx<false>);
    report("amx_int8", 16.0 * 16 * 64 * 2 / 4, amx<true>);
  }
}
