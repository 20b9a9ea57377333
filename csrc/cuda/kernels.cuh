// pyae._cuda's side of the kernels of device_kernels.cuh: the launch table
// built from kernel_list.h (kernel_table.h) and one launcher for all of
// them. Launch shapes and typed arguments come from Python
// (pyae/_gpu/kernels.py, the same for the NVRTC path); bind_cuda.cpp checks
// the arguments against the table before anything is launched.
#pragma once

#include <cuda_runtime.h>

#include "kernel_table.h"

namespace pyae::cuda {

// One row per kernel of kernel_list.h, in its order.
kernel_table::Table kernels();

// Launches k on (grid, block) with args as packed by kernel_table.h (no
// dynamic shared memory); returns the launch's error, if any.
cudaError_t launch(const kernel_table::KernelInfo& k, unsigned grid, unsigned block, void** args,
                   cudaStream_t stream);

}  // namespace pyae::cuda
