"""The pyae command: the demo (on the bundled digits when MNIST is absent),
info, and one-line errors."""

import os
import subprocess
import sys

import pytest


def run_cli(*args, env_extra=None, cwd=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "pyae", *args], capture_output=True,
                          text=True, env=env, cwd=cwd)


def test_demo_offline_fallback_then_info(tmp_path):
    pytest.importorskip("sklearn")
    env = {"PYAE_DATA_DIR": str(tmp_path / "none"), "HOME": str(tmp_path)}
    r = run_cli("demo", "--epochs", "3", "--out", str(tmp_path / "out"), env_extra=env,
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "scikit-learn 8x8 digits" in r.stdout
    assert "held-out reconstruction MSE" in r.stdout
    model = tmp_path / "out" / "autoencoder.safetensors"
    assert model.is_file()
    r = run_cli("info", str(model), cwd=tmp_path)
    assert r.returncode == 0 and "Autoencoder 64-32-16-32-64" in r.stdout


@pytest.mark.parametrize("args", [["demo", "--epochs", "zero"], ["demo", "--epochs", "0"],
                                  ["info", "/no/such/model"], ["frobnicate"], []])
def test_bad_arguments_give_one_line_errors(tmp_path, args):
    r = run_cli(*args, cwd=tmp_path)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("pyae: error:")
