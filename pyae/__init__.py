"""pyae: fast dense, denoising and variational autoencoders with a C++ core.

>>> import pyae
>>> ae = pyae.Autoencoder(hidden=(256, 64), epochs=10).fit(X)
>>> Z = ae.transform(X)
"""

from __future__ import annotations

from importlib.metadata import version as _version

__version__ = _version("pyae")  # written once, in pyproject.toml

try:
    from . import _core
except ImportError as e:  # e.g. running from a source checkout without building
    raise ImportError(
        "pyae's compiled core (pyae._core) is missing or broken: install the package with "
        f"'pip install .' and import it from outside the source folder ({e})") from e

from . import datasets, noise, ops, plot
from ._distributed import RankError
from ._io import ModelFileError
from .cuda import cuda_available
from .autoencoder import Autoencoder, NotFittedError, load
from .denoising import DenoisingAutoencoder
from .ensemble import AnomalyEnsemble
from .export import export_onnx
from .vae import VAE

__all__ = [
    "Autoencoder",
    "DenoisingAutoencoder",
    "VAE",
    "AnomalyEnsemble",
    "ModelFileError",
    "RankError",
    "cuda_available",
    "export_onnx",
    "NotFittedError",
    "load",
    "ops",
    "datasets",
    "noise",
    "plot",
    "set_num_threads",
    "get_num_threads",
    "simd_level",
    "cpu_features",
    "__version__",
]


def set_num_threads(n: int) -> None:
    """Threads for pyae's kernels and its OpenBLAS (OpenMP and OpenBLAS both).

    The default comes from OMP_NUM_THREADS, else the core count.
    threadpoolctl sees and can limit both pools too.
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 4096:
        raise ValueError(f"n must be an integer in [1, 4096], got {n!r}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    return _core.get_num_threads()


def simd_level() -> str:
    """The instruction set pyae's element-wise loops dispatch to on this CPU."""
    return _core.simd_level()


def cpu_features() -> dict:
    """What pyae dispatches on here: the element-wise instruction set
    (``simd_level``), the bf16 and int8 paths this CPU and OS run
    ({name: bool}), and the ones ``precision="bf16"`` and ``"int8"`` take
    ("amx", "avx512_bf16" / "avx512_vnni", or "none")."""
    return {"simd_level": _core.simd_level(), "bf16_paths": _core.bf16_paths(),
            "bf16_path": _core.bf16_best_path(), "int8_paths": _core.int8_paths(),
            "int8_path": _core.int8_best_path()}


_core.get_num_threads()  # applies the default to OpenMP and OpenBLAS now
