// The one list of pyae's CUDA kernels (device_kernels.cuh defines each as
// pyae_<name>). Everything that names kernels is built from it:
//   - pyae._cuda's launch table (kernels.cu, through kernel_table.h): the
//     function, and each parameter's kind and size deduced from its C++
//     signature, for pyae._cuda.launch / kernel_names;
//   - the CPU emulator's table (tests/cuda_emulator/emulator.cpp), the same
//     kernel_table.h code;
//   - the NVRTC entry names (pyae/_gpu/kernels.py reads this file, installed
//     in pyae/_kernels/cuda, when pyae._cuda is not built).
// The launch geometry and the typed arguments of each kernel are written
// once, in pyae/_gpu/kernels.py (class Kernels), for every backend.
//
// X(name, uses_block_barrier): uses_block_barrier is true for the kernels
// that call __syncthreads (the emulator runs those with one OS thread per
// CUDA thread).
//
// Keep one X(...) per line and no comments inside the macro: Python reads
// it with a regular expression (pyae._gpu.kernels.listed_kernel_names).
#pragma once

#define PYAE_CUDA_KERNELS(X)             \
  X(bias_activation, false)              \
  X(activation_grad, false)              \
  X(gather_rows, false)                  \
  X(noise, false)                        \
  X(reparameterize_forward, false)       \
  X(reparameterize_backward, false)      \
  X(kl, false)                           \
  X(loss_rows, true)                     \
  X(accumulate, true)                    \
  X(adam, false)                         \
  X(sgd_momentum, false)                 \
  X(advance, false)
