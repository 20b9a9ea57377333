"""Launches the MPI tests (tests/mpi) and the CLI under ``mpirun -n 2``, so
the ordinary test run covers data-parallel training. Skips where mpi4py or
an mpirun is missing (``pip install 'pyae[mpi]'`` brings both)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyae

pytest.importorskip("mpi4py", reason="the MPI tests need mpi4py (pip install 'pyae[mpi]')")
MPIRUN = shutil.which("mpirun", path=f"{Path(sys.executable).parent}{os.pathsep}"
                      f"{os.environ.get('PATH', '')}")
pytestmark = pytest.mark.skipif(MPIRUN is None, reason="no mpirun on PATH or beside Python")
HERE = Path(__file__).parent


def mpirun(n, *command, cwd=None, timeout=600):
    # As root Open MPI needs --allow-run-as-root; --oversubscribe: more ranks than cores.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-n", str(n),
                           *command], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_the_mpi_tests_pass_under_two_ranks(tmp_path):
    # Run from elsewhere: the source folder must not shadow the installed pyae.
    r = mpirun(2, sys.executable, "-m", "pytest", str(HERE / "mpi"), "-q", "-p",
               "no:cacheprovider", cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert r.stdout.count("passed") == 2 and "failed" not in r.stdout  # both ranks


def test_pyae_train_under_mpirun_matches_one_process_with_twice_the_batch(tmp_path):
    X = np.random.default_rng(0).random((600, 16)).astype(np.float32)
    np.save(tmp_path / "rows.npy", X)
    common = ["train", "dae", "--dataset", "rows.npy", "--hidden", "8", "--epochs", "2",
              "--quiet"]
    r = mpirun(2, sys.executable, "-m", "pyae", *common, "--batch-size", "16", "--out",
               "two.safetensors", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("model saved") == 1 and "2 MPI ranks" in r.stdout  # rank 0 speaks
    one = subprocess.run([sys.executable, "-m", "pyae", *common, "--batch-size", "32", "--out",
                          "one.safetensors"], capture_output=True, text=True, cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    two, single = (pyae.load(tmp_path / f) for f in ("two.safetensors", "one.safetensors"))
    np.testing.assert_allclose(two.network_.params, single.network_.params, rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(two.history_["val_loss"], single.history_["val_loss"], rtol=1e-5)


def test_a_rank_without_its_data_stops_every_rank(tmp_path):
    r = mpirun(2, sys.executable, "-m", "pyae", "train", "ae", "--dataset", "missing.npy",
               "--epochs", "1", cwd=tmp_path, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "missing.npy" in r.stderr


def test_a_bad_output_path_on_rank_0_stops_every_rank(tmp_path):
    np.save(tmp_path / "rows.npy", np.random.default_rng(0).random((50, 4)).astype(np.float32))
    r = mpirun(2, sys.executable, "-m", "pyae", "train", "ae", "--dataset", "rows.npy",
               "--epochs", "1", "--out", "no/such/folder/m.safetensors", cwd=tmp_path,
               timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "rank 0 of 2" in r.stderr
