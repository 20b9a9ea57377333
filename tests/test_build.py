"""The installed package: bundled OpenBLAS found via $ORIGIN, threads, and
threadpoolctl's view."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pyae
from pyae import _core


def loaded_libraries():
    with open("/proc/self/maps") as f:
        return {line.split()[-1] for line in f if "/" in line}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_openblas_is_the_copy_inside_the_package():
    package_dir = Path(_core.__file__).resolve().parent
    blas = [p for p in loaded_libraries() if "libscipy_openblas.so" in Path(p).name]
    assert blas, "pyae's OpenBLAS is not loaded"
    assert any(Path(p).resolve().parent == package_dir for p in blas), blas


def test_imports_with_a_clean_environment(tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    code = "import pyae, numpy as np; print(pyae.ops.activation(np.zeros(2, np.float32)))"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    assert "0.5" in out.stdout


def test_default_threads_follow_omp_num_threads(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "3"}
    out = subprocess.run([sys.executable, "-c", "import pyae; print(pyae.get_num_threads())"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"


def test_set_num_threads(threads):
    pyae.set_num_threads(1)
    assert pyae.get_num_threads() == 1 and _core.kernel_threads() == 1
    pyae.set_num_threads(2)
    assert pyae.get_num_threads() == 2
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError):
            pyae.set_num_threads(bad)


def test_threadpoolctl_sees_and_limits_pyae(threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    pyae.set_num_threads(2)
    package_dir = str(Path(_core.__file__).resolve().parent)
    info = threadpoolctl.threadpool_info()
    ours = [i for i in info if i["filepath"].startswith(package_dir)]
    assert [i["internal_api"] for i in ours] == ["openblas"]
    assert ours[0]["num_threads"] == 1  # pyae's GEMMs run inside its OpenMP threads
    assert any(i["user_api"] == "openmp" for i in info)
    assert _core.kernel_threads() == 2
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert _core.kernel_threads() == 1
    assert _core.kernel_threads() == 2


def test_type_stubs_cover_the_compiled_module_and_its_enums():
    """pyae/_core.pyi names every function and class of pyae._core, and its
    enums list exactly the members csrc/math/enums.h defines."""
    import ast
    import importlib.util

    from pyae import _core

    stub = Path(importlib.util.find_spec("pyae._core").origin).parent / "_core.pyi"
    tree = ast.parse(stub.read_text())
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    public = {n for n in dir(_core) if not n.startswith("_")}
    assert public <= names, sorted(public - names)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Attribute) and b.attr == "Enum" for b in node.bases):
            members = {t.targets[0].id: t.value.value for t in node.body
                       if isinstance(t, ast.Assign)}
            real = {k: int(v) for k, v in getattr(_core, node.name).__members__.items()}
            assert members == real, node.name
