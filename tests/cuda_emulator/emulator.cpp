// Runs pyae's CUDA kernels (csrc/cuda/device_kernels.cuh, unchanged) on the
// CPU, for tests on machines without a GPU. Blocks run one after another.
// Threads of a block run one after another too, except in the kernels that
// kernel_list.h marks uses_block_barrier (they call __syncthreads): there
// one real thread per CUDA thread walks all the blocks, meeting the others
// at a barrier, and __shared__ arrays become statics, shared by the threads
// of the running block.
//
// The table of kernels is pyae._cuda's (kernel_table.h, from kernel_list.h)
// and so are the argument conversion, the checks and the packing
// (launch_args.h); only the final cudaLaunchKernel is replaced by the CPU
// run. Loaded with ctypes.PyDLL by tests/emulated_kernels.py:
//   PyObject* emu_kernel_names()                -> pyae._cuda.kernel_names()
//   int emu_launch(const char* name, long long grid, long long block,
//                  PyObject* args)              -> pyae._cuda.launch (no stream);
//                                                  -1 with a Python exception set
#include <Python.h>

#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
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
static void __syncthreads() {
  if (block_barrier == nullptr) {
    std::fprintf(stderr, "pyae CUDA emulator: a kernel called __syncthreads but kernel_list.h "
                         "does not mark it uses_block_barrier\n");
    std::abort();
  }
  block_barrier->arrive_and_wait();
}

#include "../../csrc/cuda/device_kernels.cuh"

#define PYAE_KERNEL_TABLE_HOST_CALLS
#include "../../csrc/cuda/kernel_table.h"
#include "../../csrc/cuda/launch_args.h"

namespace {

namespace kt = pyae::kernel_table;

const kt::KernelInfo kTable[] = {PYAE_CUDA_KERNELS(PYAE_KERNEL_TABLE_ROW)};
const kt::Table kKernels{kTable, sizeof kTable / sizeof kTable[0]};

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

}  // namespace

extern "C" PyObject* emu_kernel_names() { return kt::python_names(kKernels); }

extern "C" int emu_launch(const char* name, long long grid, long long block, PyObject* args) {
  kt::Packed packed;
  const kt::KernelInfo* k = kt::python_prepare_launch(kKernels, name, grid, block, args, packed);
  if (k == nullptr) return -1;
  run_grid(static_cast<unsigned>(grid), static_cast<unsigned>(block), k->uses_block_barrier,
           [k, &packed] { k->host_call(k->function, packed.pointers); });
  return 0;
}
