#!/usr/bin/env bash
# One script for a lent GPU machine: build pyae with CUDA, run the GPU tests,
# then the GPU kernel benchmark; the table prints last. No network needed
# beyond what is installed (PyTorch, CuPy, CMake, ninja, nvcc).
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python -m pip install --no-build-isolation --no-deps -q -Ccmake.define.PYAE_CUDA=ON . \
  || python -m pip install --no-deps -q -Ccmake.define.PYAE_CUDA=ON .
cd /tmp
python -c "import pyae; print(pyae.cuda_available())"
python -m pytest -q -p no:cacheprovider "$OLDPWD/tests/test_cuda.py" -rs
python "$OLDPWD/benchmarks/bench_gpu_kernels.py"
