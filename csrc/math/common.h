// Shared definitions for pyae's C++ kernels.
//
// Shape legend used in every kernel file:
//   B      batch (rows of a mini-batch)
//   D_in   input features of a dense layer
//   D_out  output features of a dense layer
//   D      features of the data (autoencoder input = output width)
//   N      length of a flat buffer (parameters, elements)
// All arrays are float32, row-major (C order) and contiguous unless stated.
//
// Gradient convention (every backward op): gradients are ACCUMULATED (+=) into
// the d* buffers the caller passes; the caller zeroes them once per step.
// This is what lets a tied weight receive gradient from two layers.
#pragma once

// NVRTC (the CuPy fallback compiles the CUDA kernels at run time) has no
// standard library headers; it gets the few fixed-width types it needs here.
#if defined(__CUDACC_RTC__)
namespace std {
typedef int int32_t;
typedef unsigned int uint32_t;
typedef long long int64_t;
typedef unsigned long long uint64_t;
typedef decltype(sizeof(0)) size_t;
}  // namespace std
#else
#include <cstddef>
#include <cstdint>
#endif

// Per-element functions are usable from host and device code.
// Always inlined: each multiversioned loop must get them compiled for its
// own ISA (an out-of-line copy is baseline x86-64, where fmaf is a libm
// call). With link-time optimisation GCC otherwise keeps some out of line
// once enough loops call them (measured: the VAE's BCE loss 26x slower).
#if defined(__CUDACC__)
#define PYAE_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
#define PYAE_HD inline __attribute__((always_inline))
#else
#define PYAE_HD inline
#endif

// Element-wise loops are compiled for several ISAs and picked at load time
// (GCC/Clang ifunc), so the default build runs on any x86-64 yet uses
// AVX-512/AVX2 where present. Elsewhere (aarch64) the plain loop is NEON-
// vectorised by the compiler's baseline flags.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__CUDACC__) && !defined(PYAE_NO_MULTIVERSION)
#define PYAE_MULTIVERSION \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PYAE_MULTIVERSION
#endif

// Functions holding hand-written AVX-512 code (chosen at run time when
// cpu_has_avx512() says so).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__CUDACC__) && !defined(PYAE_NO_MULTIVERSION)
#define PYAE_HAS_AVX512_PATHS 1
#define PYAE_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl")))
#endif

#include "enums.h"

namespace pyae {

#if !defined(__CUDACC_RTC__)
// Name of the instruction set the multiversioned loops dispatch to here.
const char* simd_level();

// True when this CPU runs the hand-written AVX-512 paths (F, DQ, BW, VL).
bool cpu_has_avx512();
// bf16 dot products: AVX512-BF16 (vdpbf16ps), and AMX-BF16 tiles, the latter
// only once the OS has granted the tile state (requested on first call).
bool cpu_has_avx512_bf16();
bool cpu_has_amx_bf16();
// int8 dot products: AVX512-VNNI (vpdpbusd), AMX-INT8 tiles (granted as above).
bool cpu_has_avx512_vnni();
bool cpu_has_amx_int8();
#endif

}  // namespace pyae
