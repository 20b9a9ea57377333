#!/usr/bin/env bash
# One script for a lent GPU machine: build pyae with the CUDA extension, run
# the GPU tests, then the GPU benchmark (its table prints last, even when a
# test failed). The machine has PyTorch, CuPy, CMake, ninja, NumPy and nvcc
# but no network, so carry ONE folder with the tree: the wheelhouse, made
# beforehand on a machine with network for the GPU machine's Python, e.g.
#   pip download -d build/gpu-wheelhouse --only-binary=:all: \
#     scikit-build-core pybind11 scipy-openblas32==0.3.34.481.3 safetensors tqdm pytest
# (PYAE_GPU_WHEELHOUSE names another folder). Exits 2 without it, 1 if the
# build or a test or the benchmark fails, else 0.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
wheelhouse=${PYAE_GPU_WHEELHOUSE:-$repo/build/gpu-wheelhouse}
if [ ! -d "$wheelhouse" ]; then
  echo "gpu_check.sh: no wheelhouse at $wheelhouse; make it as the top of this script says" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
# Everything from the wheelhouse, nothing from an index: no build isolation
# (it would download the build requirements).
python -m pip install -q --no-index --find-links "$wheelhouse" scikit-build-core pybind11 \
  scipy-openblas32==0.3.34.481.3 safetensors tqdm pytest || exit 1
python -m pip install -q --no-index --no-build-isolation --no-deps \
  -Ccmake.define.PYAE_CUDA=ON "$repo" || exit 1
cd /tmp  # import the installed pyae, not the source folder
python -c "import pyae; print(pyae.cuda_available())"
status=0
# The GPU tests, the backends' shared tests (the real GPU among them) and
# the CPU-side tests of the GPU step logic.
python -m pytest -q -p no:cacheprovider -rs "$repo/tests/test_cuda.py" \
  "$repo/tests/test_backends.py" "$repo/tests/test_gpu_network.py" \
  "$repo/tests/test_gpu_ops.py" || status=1
python "$repo/benchmarks/bench_gpu.py" "$@" || status=1
exit $status
