#include "math/common.h"

#if defined(PYAE_HAS_AVX512_PATHS)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

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

#if defined(PYAE_HAS_AVX512_PATHS)
namespace {
// CPUID leaf 7, sub-leaf `sub`: {eax, ebx, ecx, edx}.
struct Leaf7 {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};
Leaf7 leaf7(unsigned sub) {
  Leaf7 r;
  if (__get_cpuid_max(0, nullptr) >= 7) __cpuid_count(7, sub, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}
}  // namespace
#endif

bool cpu_has_avx512_bf16() {
#if defined(PYAE_HAS_AVX512_PATHS)
  // CPUID.(7,1):EAX bit 5; the OS side (ZMM state) is what cpu_has_avx512 checks.
  static const bool has = cpu_has_avx512() && (leaf7(1).eax & (1u << 5)) != 0;
  return has;
#else
  return false;
#endif
}

bool cpu_has_avx512_vnni() {
#if defined(PYAE_HAS_AVX512_PATHS)
  static const bool has = cpu_has_avx512() && (leaf7(0).ecx & (1u << 11)) != 0;
  return has;
#else
  return false;
#endif
}

namespace {
// AMX-TILE (CPUID.(7,0):EDX bit 24) with the tile product of EDX bit
// `product`, and the OS's grant of the tile state: Linux hands out its
// 8 KiB only on request, once per process (arch_prctl ARCH_REQ_XCOMP_PERM
// for XFEATURE_XTILEDATA); a kernel or VM that refuses leaves AMX unusable.
bool cpu_has_amx(unsigned product) {
#if defined(PYAE_HAS_AVX512_PATHS)
  const Leaf7 r = leaf7(0);
  if (!cpu_has_avx512() || !(r.edx & (1u << product)) || !(r.edx & (1u << 24))) return false;
  static const bool granted = [] {
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return granted;
#else
  (void)product;
  return false;
#endif
}
}  // namespace

bool cpu_has_amx_int8() {
  static const bool has = cpu_has_amx(25);
  return has;
}

bool cpu_has_amx_bf16() {
  static const bool has = cpu_has_amx(22);
  return has;
}

}  // namespace pyae
