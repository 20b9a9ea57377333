#include "math/common.h"

namespace pyae {

// CPU feature detection. simd_level mirrors the ifunc choice of PYAE_MULTIVERSION so tests can see which
// clone runs.
const char* simd_level() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(PYAE_NO_MULTIVERSION)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4 (AVX-512)";
  if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3 (AVX2+FMA)";
  return "x86-64 baseline (SSE2)";
#elif defined(__aarch64__)
  return "aarch64 (NEON)";
#else
  return "portable (compiler default)";
#endif
}

bool cpu_has_avx512() {
#if defined(PYAE_HAS_AVX512_PATHS)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  }();
  return has;
#else
  return false;
#endif
}

}  // namespace pyae
