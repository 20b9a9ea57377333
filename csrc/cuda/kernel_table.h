// The launch table of the kernels of kernel_list.h, and the checks and the
// packing of their arguments: shared by pyae._cuda (kernels.cu, launching
// with cudaLaunchKernel) and by the CPU emulator of the tests
// (tests/cuda_emulator/emulator.cpp), so the emulated tests run the same
// signature deduction, argument checks and packing as the extension.
//
// Each parameter's kind and size is deduced from the kernel's C++
// signature. An argument must match both exactly: kinds are NumPy's dtype
// kinds ('i' signed, 'u' unsigned, 'f' floating point, 'b' bool) plus 'P'
// for a pointer. Nothing is converted, so a float32 never lands in an int
// parameter of the same size, and no kernel is launched with an argument
// the wrong size.
//
// No CUDA and no Python here (see launch_args.h for the Python side).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#include "kernel_list.h"

namespace pyae::kernel_table {

constexpr int kMaxArgs = 32;

// One parameter of a kernel, from its signature.
struct ArgSpec {
  char kind;           // 'P', 'i', 'u', 'f' or 'b'
  unsigned char size;  // bytes
};

template <class T>
constexpr ArgSpec arg_spec() {
  static_assert(std::is_pointer_v<T> || std::is_arithmetic_v<T>,
                "kernel parameters are pointers or arithmetic scalars");
  static_assert(sizeof(T) <= 8, "kernel parameters are at most 8 bytes (one packing slot)");
  if constexpr (std::is_pointer_v<T>) {
    return {'P', static_cast<unsigned char>(sizeof(T))};
  } else if constexpr (std::is_same_v<T, bool>) {
    return {'b', 1};
  } else if constexpr (std::is_floating_point_v<T>) {
    return {'f', static_cast<unsigned char>(sizeof(T))};
  } else if constexpr (std::is_signed_v<T>) {
    return {'i', static_cast<unsigned char>(sizeof(T))};
  } else {
    return {'u', static_cast<unsigned char>(sizeof(T))};
  }
}

// The parameters of a kernel taking A..., plus an end marker (no kernel
// then has a zero-length array).
template <class... A>
inline constexpr ArgSpec kArgSpecs[] = {arg_spec<A>()..., ArgSpec{0, 0}};

struct KernelInfo {
  const char* name;          // as in kernel_list.h (the kernel is pyae_<name>)
  bool uses_block_barrier;   // calls __syncthreads
  const void* function;      // what cudaLaunchKernel takes (the emulator: the function)
  int arity;
  const ArgSpec* params;     // arity of them
  // The emulator only: calls `function` with args[i] pointing at the i-th
  // argument's value, as cudaLaunchKernel reads them. Null in pyae._cuda.
  void (*host_call)(const void* function, void** args);
};

#ifdef PYAE_KERNEL_TABLE_HOST_CALLS
template <class... A, std::size_t... I>
void call_unpacked(void (*kernel)(A...), void** args, std::index_sequence<I...>) {
  kernel(*static_cast<A*>(args[I])...);
}

template <class... A>
void host_call(const void* function, void** args) {
  call_unpacked(reinterpret_cast<void (*)(A...)>(const_cast<void*>(function)), args,
                std::index_sequence_for<A...>{});
}
#endif

template <class... A>
KernelInfo describe(const char* name, bool uses_block_barrier, void (*kernel)(A...)) {
  static_assert(sizeof...(A) <= kMaxArgs, "raise kMaxArgs");
#ifdef PYAE_KERNEL_TABLE_HOST_CALLS
  void (*call)(const void*, void**) = &host_call<A...>;
#else
  void (*call)(const void*, void**) = nullptr;
#endif
  return KernelInfo{name,      uses_block_barrier, reinterpret_cast<const void*>(kernel),
                    static_cast<int>(sizeof...(A)), kArgSpecs<A...>, call};
}

// One row of the table per X(name, uses_block_barrier) of kernel_list.h:
//   const KernelInfo table[] = {PYAE_CUDA_KERNELS(PYAE_KERNEL_TABLE_ROW)};
// where the kernels of device_kernels.cuh are declared.
#define PYAE_KERNEL_TABLE_ROW(name, uses_block_barrier) \
  ::pyae::kernel_table::describe(#name, uses_block_barrier, pyae_##name),

// A table and its length.
struct Table {
  const KernelInfo* rows;
  std::size_t size;

  const KernelInfo* begin() const { return rows; }
  const KernelInfo* end() const { return rows + size; }

  const KernelInfo* find(const char* name) const {
    for (const KernelInfo& k : *this)
      if (std::strcmp(k.name, name) == 0) return &k;
    return nullptr;
  }
};

// One argument as the caller gives it: a pointer (kind 'P', the address in
// `bytes`) or a typed scalar (its kind, size and bytes).
struct Arg {
  char kind;
  unsigned char size;
  unsigned char bytes[8];
};

// The arguments ready for cudaLaunchKernel(function, grid, block, pointers,
// 0, stream): pointers[i] points at the i-th value, in an 8-byte slot.
struct Packed {
  std::uint64_t slots[kMaxArgs];
  void* pointers[kMaxArgs];
};

// "pointer", "float32", "int64", "uint64", "bool"...
inline std::string type_name(char kind, int size) {
  switch (kind) {
    case 'P': return "a pointer";
    case 'b': return "bool";
    case 'f': return "float" + std::to_string(8 * size);
    case 'i': return "int" + std::to_string(8 * size);
    case 'u': return "uint" + std::to_string(8 * size);
    default: return std::string("kind '") + kind + "' of " + std::to_string(size) + " bytes";
  }
}

// "" when the launch shape is one CUDA accepts for these 1-D launches.
inline std::string check_geometry(const KernelInfo& k, long long grid, long long block) {
  std::string where = std::string("pyae_") + k.name + ": ";
  if (grid < 1 || grid > 0x7fffffffLL)
    return where + "grid must be 1 .. 2**31 - 1 blocks, got " + std::to_string(grid);
  if (block < 1 || block > 1024)
    return where + "block must be 1 .. 1024 threads, got " + std::to_string(block);
  return "";
}

// Checks n arguments against k's parameters (count, then each kind and
// size) and packs them into out. Returns "" on success, else why not (and
// out is not to be used).
inline std::string check_and_pack(const KernelInfo& k, const Arg* args, std::size_t n,
                                  Packed& out) {
  std::string where = std::string("pyae_") + k.name;
  if (n != static_cast<std::size_t>(k.arity))
    return where + " takes " + std::to_string(k.arity) + " arguments, got " + std::to_string(n);
  for (int i = 0; i < k.arity; ++i) {
    const ArgSpec& p = k.params[i];
    const Arg& a = args[i];
    if (a.kind != p.kind || a.size != p.size) {
      const char* how = p.kind == 'P' ? "a device address: int, or None"
                                      : "a NumPy scalar of exactly that type";
      return where + " argument " + std::to_string(i + 1) + " of " + std::to_string(k.arity) +
             ": expected " + type_name(p.kind, p.size) + " (" + std::to_string(p.size) +
             " bytes; " + how + "), got " + type_name(a.kind, a.size) + " (" +
             std::to_string(a.size) + " bytes)";
    }
    out.slots[i] = 0;
    std::memcpy(&out.slots[i], a.bytes, p.size);
    out.pointers[i] = &out.slots[i];
  }
  return "";
}

}  // namespace pyae::kernel_table
