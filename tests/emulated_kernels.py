"""pyae's CUDA kernels run on the CPU (tests/cuda_emulator/emulator.cpp) as
a third backend of pyae._gpu.kernels.Kernels, next to the extension and
NVRTC: the same methods, so the same launch shapes and typed arguments a GPU
gets, and the launch goes through the extension's own C++ code (the kernel
table built from kernel_list.h, the Python argument conversion, the checks
of each argument's kind and size against the kernel's signature, the
packing); only cudaLaunchKernel is replaced by a run on the CPU."""

import ctypes
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np

from pyae._gpu.kernels import Kernels

SOURCE = Path(__file__).resolve().parent / "cuda_emulator" / "emulator.cpp"


def build_emulator(out_dir: Path):
    """Compiles the emulator into out_dir and loads it (holding the GIL, as
    it calls the Python C API); (None, why) when it cannot be built here."""
    compiler = shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        return None, "no C++ compiler to build the CUDA emulator"
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").is_file():
        return None, f"no Python headers (Python.h) in {include} to build the CUDA emulator"
    lib = out_dir / "libpyae_cuda_emulator.so"
    # Python's symbols come from the interpreter that loads the library.
    undefined = ["-undefined", "dynamic_lookup"] if sys.platform == "darwin" else []
    subprocess.run([compiler, "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread",
                    "-ffp-contract=off", f"-I{include}", *undefined, str(SOURCE), "-o", str(lib)],
                   check=True)
    emu = ctypes.PyDLL(str(lib))
    emu.emu_kernel_names.argtypes = []
    emu.emu_kernel_names.restype = ctypes.py_object
    emu.emu_launch.argtypes = [ctypes.c_char_p, ctypes.c_longlong, ctypes.c_longlong,
                               ctypes.py_object]
    emu.emu_launch.restype = ctypes.c_int
    return emu, None


class EmulatedKernels(Kernels):
    name = "emulated"

    def __init__(self, lib):
        self._lib = lib
        self.launches = 0
        self.last_launch = {}  # name -> (grid, block, arguments as launched)

    def kernel_names(self):
        """The emulator's table (the extension's table code, from kernel_list.h)."""
        return self._lib.emu_kernel_names()

    def launch(self, name, grid, block, args):
        """pyae._cuda.launch without the stream: host addresses instead of
        device ones; raises what the extension raises."""
        self._lib.emu_launch(name.encode(), grid, block, args)

    def _run(self, name, grid, block, args):
        # NumPy arrays become addresses, as ExtensionKernels does with CuPy's.
        args = [a.ctypes.data if isinstance(a, np.ndarray) else a for a in args]
        self.launch(name, grid, block, args)
        self.launches += 1
        self.last_launch[name] = (grid, block, args)
