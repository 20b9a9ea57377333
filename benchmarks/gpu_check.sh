#!/usr/bin/env bash
# One script for a lent GPU machine (PyTorch, CuPy, CMake, ninja and nvcc
# installed; no network): build pyae with the CUDA extension, run the GPU
# tests (both kernel sources), then the GPU benchmark, whose table prints
# last. Exits non-zero if the build or a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
# The GPU machine has no network: build requirements can come from a
# wheelhouse prepared elsewhere and carried along (build/ is git-ignored):
#   pip download -d build/gpu-wheelhouse scikit-build-core pybind11 \
#     scipy-openblas32==0.3.34.481.3 safetensors tqdm pytest
if [ -d build/gpu-wheelhouse ]; then
  python -m pip install -q --no-index --find-links build/gpu-wheelhouse scikit-build-core \
    pybind11 scipy-openblas32 safetensors tqdm pytest
fi
python -m pip install --no-build-isolation --no-deps -q -Ccmake.define.PYAE_CUDA=ON . \
  || python -m pip install --no-deps -q -Ccmake.define.PYAE_CUDA=ON .
repo=$PWD
cd /tmp  # import the installed pyae, not the source folder
python -c "import pyae; print(pyae.cuda_available())"
# The GPU tests, and the CPU-side tests of the same step logic.
python -m pytest -q -p no:cacheprovider -rs "$repo/tests/test_cuda.py" \
  "$repo/tests/test_gpu_network.py"
python "$repo/benchmarks/bench_gpu.py" "$@"
