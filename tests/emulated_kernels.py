"""pyae's CUDA kernels run on the CPU (tests/cuda_emulator/emulator.cpp),
launched exactly as the NVRTC path launches them: EmulatedKernels is
NvrtcKernels with only the final launch replaced, so the grid shapes and the
argument types it packs are the ones a GPU would get (each argument's size
is checked against the kernel's C++ signature)."""

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np

from pyae._gpu.kernels import KERNEL_NAMES, NvrtcKernels

SOURCE = Path(__file__).resolve().parent / "cuda_emulator" / "emulator.cpp"


def build_emulator(out_dir: Path):
    """Compiles the emulator into out_dir; None when no C++ compiler."""
    compiler = shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        return None
    lib = out_dir / "libpyae_cuda_emulator.so"
    subprocess.run([compiler, "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread",
                    "-ffp-contract=off", str(SOURCE), "-o", str(lib)], check=True)
    return ctypes.CDLL(str(lib))


class EmulatedKernels(NvrtcKernels):
    name = "emulated"

    def __init__(self, lib):
        self._lib = lib
        self._sizes = {}
        for name in KERNEL_NAMES:
            sizes = (ctypes.c_int * 32)()
            n = lib.emu_arg_sizes(f"pyae_{name}".encode(), sizes)
            assert n > 0, name
            self._sizes[name] = list(sizes[:n])
        self.launches = 0

    def _run(self, name, grid, block, args):
        assert len(args) == len(self._sizes[name]), f"{name}: argument count"
        keep, pointers = [], (ctypes.c_void_p * len(args))()
        for i, (a, size) in enumerate(zip(args, self._sizes[name])):
            if a is None or isinstance(a, np.ndarray):
                value = ctypes.c_void_p(None if a is None else a.ctypes.data)
                assert size == 8, f"{name} argument {i}: a pointer where C++ has {size} bytes"
            else:
                assert isinstance(a, np.generic), f"{name} argument {i}: {type(a)} is not typed"
                assert a.nbytes == size, f"{name} argument {i}: {a.dtype} for {size} bytes"
                value = ctypes.create_string_buffer(a.tobytes(), size)
            keep.append(value)
            pointers[i] = ctypes.cast(ctypes.pointer(value), ctypes.c_void_p)
        assert self._lib.emu_launch(f"pyae_{name}".encode(), grid, block, pointers) == 0
        self.launches += 1
