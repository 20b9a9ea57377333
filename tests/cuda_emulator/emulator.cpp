// Runs pyae's CUDA kernels (csrc/cuda/device_kernels.cuh, unchanged) on the
// CPU, for tests on machines without a GPU. Blocks run one after another.
// Threads of a block run one after another too, except in the kernels that
// call __syncthreads: there one real thread per CUDA thread walks all the
// blocks, meeting the others at a barrier, and __shared__ arrays become
// statics, shared by the threads of the running block.
//
// C ABI (used through ctypes by tests/emulated_kernels.py):
//   int emu_arg_sizes(const char* name, int* sizes)  -> number of parameters
//   int emu_launch(const char* name, unsigned grid, unsigned block,
//                  void** args)                      -> 0, or -1 if unknown
// args[i] points at the i-th parameter's value, as cuLaunchKernel takes them.
#include <barrier>
#include <cstring>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

struct EmuDim {
  unsigned x = 1, y = 1, z = 1;
};
static EmuDim blockDim, gridDim;
static thread_local EmuDim blockIdx, threadIdx;
static std::barrier<>* block_barrier = nullptr;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
static void __syncthreads() { block_barrier->arrive_and_wait(); }

#include "../../csrc/cuda/device_kernels.cuh"

namespace {

void run_grid(unsigned grid, unsigned block, bool barrier, const std::function<void()>& body) {
  gridDim.x = grid;
  blockDim.x = block;
  if (!barrier) {
    for (unsigned b = 0; b < grid; ++b) {
      blockIdx.x = b;
      for (unsigned t = 0; t < block; ++t) {
        threadIdx.x = t;
        body();
      }
    }
    return;
  }
  std::barrier<> sync(block);
  block_barrier = &sync;
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < block; ++t)
    threads.emplace_back([t, grid, &body, &sync] {
      threadIdx.x = t;
      for (unsigned b = 0; b < grid; ++b) {
        blockIdx.x = b;
        body();
        sync.arrive_and_wait();  // the next block reuses the shared arrays
      }
    });
  for (auto& th : threads) th.join();
  block_barrier = nullptr;
}

template <class... A, std::size_t... I>
void call(void (*kernel)(A...), void** args, std::index_sequence<I...>) {
  kernel(*static_cast<A*>(args[I])...);
}

struct Kernel {
  const char* name;
  bool barrier;
  std::function<void(void**)> invoke;
  std::vector<int> sizes;
};

template <class... A>
Kernel make(const char* name, bool barrier, void (*kernel)(A...)) {
  return Kernel{name, barrier,
                [kernel](void** args) { call(kernel, args, std::index_sequence_for<A...>{}); },
                {static_cast<int>(sizeof(A))...}};
}

const std::vector<Kernel>& kernels() {
  static const std::vector<Kernel> table = {
      make("pyae_bias_activation", false, pyae_bias_activation),
      make("pyae_activation_grad", false, pyae_activation_grad),
      make("pyae_gather_rows", false, pyae_gather_rows),
      make("pyae_noise", false, pyae_noise),
      make("pyae_reparameterize_forward", false, pyae_reparameterize_forward),
      make("pyae_reparameterize_backward", false, pyae_reparameterize_backward),
      make("pyae_kl", false, pyae_kl),
      make("pyae_loss_rows", true, pyae_loss_rows),
      make("pyae_accumulate", true, pyae_accumulate),
      make("pyae_adam", false, pyae_adam),
      make("pyae_sgd_momentum", false, pyae_sgd_momentum),
      make("pyae_advance", false, pyae_advance),
  };
  return table;
}

const Kernel* find(const char* name) {
  for (const Kernel& k : kernels())
    if (std::strcmp(k.name, name) == 0) return &k;
  return nullptr;
}

}  // namespace

extern "C" int emu_arg_sizes(const char* name, int* sizes) {
  const Kernel* k = find(name);
  if (k == nullptr) return -1;
  for (std::size_t i = 0; i < k->sizes.size(); ++i) sizes[i] = k->sizes[i];
  return static_cast<int>(k->sizes.size());
}

extern "C" int emu_launch(const char* name, unsigned grid, unsigned block, void** args) {
  const Kernel* k = find(name);
  if (k == nullptr) return -1;
  run_grid(grid, block, k->barrier, [k, args] { k->invoke(args); });
  return 0;
}
