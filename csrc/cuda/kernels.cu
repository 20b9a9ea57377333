#include "kernels.cuh"

#include "device_kernels.cuh"

namespace pyae::cuda {

namespace {

// The functions here are the host stubs nvcc makes for the kernels, which
// is what cudaLaunchKernel takes.
const kernel_table::KernelInfo kTable[] = {PYAE_CUDA_KERNELS(PYAE_KERNEL_TABLE_ROW)};

}  // namespace

kernel_table::Table kernels() { return {kTable, sizeof kTable / sizeof kTable[0]}; }

cudaError_t launch(const kernel_table::KernelInfo& k, unsigned grid, unsigned block, void** args,
                   cudaStream_t stream) {
  cudaError_t e = cudaLaunchKernel(k.function, dim3(grid), dim3(block), args, 0, stream);
  cudaError_t last = cudaGetLastError();  // clears the launch's error too
  return e != cudaSuccess ? e : last;
}

}  // namespace pyae::cuda
