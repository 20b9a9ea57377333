import os
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def data_dir():
    """The shared datasets folder; tests that need it skip when unset."""
    value = os.environ.get("PYAE_DATA_DIR")
    if not value:
        pytest.skip("PYAE_DATA_DIR is not set (point it at the datasets folder)")
    path = Path(value)
    if not (path / "mnist").is_dir():
        pytest.skip(f"PYAE_DATA_DIR={value} has no mnist/ folder")
    return path


@pytest.fixture
def threads():
    """Restores pyae's thread count after a test changes it."""
    import pyae

    before = pyae.get_num_threads()
    yield
    pyae.set_num_threads(before)


def load_test_module(name):
    """A helper module of tests/ by file (pytest runs in importlib mode)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Backend:
    """Where a test's model runs: ``device`` for the model, the GPU ops that
    stand behind device="cuda" (None on the CPU), and how closely it must
    follow the C++ trajectory."""

    def __init__(self, name, device, ops, rtol):
        self.name, self.device, self.ops, self.rtol = name, device, ops, rtol

    def __repr__(self):
        return self.name


@pytest.fixture(scope="session")
def emulated_kernels(tmp_path_factory):
    """pyae's CUDA kernels built for the CPU (tests/cuda_emulator)."""
    emulated = load_test_module("emulated_kernels")
    lib, why = emulated.build_emulator(tmp_path_factory.mktemp("emulator"))
    if lib is None:
        pytest.skip(why)
    return emulated.EmulatedKernels(lib)


@pytest.fixture(params=["cpu", "host", "emulated", "cuda"])
def backend(request, monkeypatch):
    """Every backend a model can run on, for one test body: the C++ CPU
    backend; the GPU backend on a NumPy stand-in of CudaOps (host); the GPU
    backend with pyae's CUDA kernels run by the CPU emulator (emulated); and
    the real GPU path where CuPy and a GPU are present (cuda)."""
    name = request.param
    if name == "cpu":
        return Backend(name, "cpu", None, 1e-6)
    host_ops = load_test_module("host_ops")
    if name == "host":
        ops, rtol = host_ops.HostOps(), 2e-5
    elif name == "emulated":
        from pyae._gpu.kernels import listed_kernel_names

        kernels = request.getfixturevalue("emulated_kernels")
        ops, rtol = host_ops.HostOps(), 2e-5
        for kernel in listed_kernel_names():
            setattr(ops, kernel, getattr(kernels, kernel))
    else:
        from pyae import _device

        try:
            ops, rtol = _device.cuda_ops(), 1e-3  # cuBLAS sums in its own order
        except RuntimeError as e:
            pytest.skip(f"no real GPU path here: {e}")
    monkeypatch.setattr("pyae._device.cuda_ops", lambda: ops)
    return Backend(name, "cuda", ops, rtol)
