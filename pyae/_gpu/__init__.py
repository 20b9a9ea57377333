"""The GPU backend: CUDA kernels (pyae._cuda, or the same source compiled by
NVRTC through CuPy), cuBLAS GEMMs and memory through CuPy, and a network
whose training step is captured once into a CUDA graph."""
