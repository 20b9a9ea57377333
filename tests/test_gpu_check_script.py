"""benchmarks/gpu_check.sh's control flow, with stand-ins for python and
nvidia-smi (no GPU): everything installs from the one carried wheelhouse
without an index or build isolation, and the benchmark runs even when a
test fails, whose failure is still the exit status."""

import os
import stat
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"

FAKE_PYTHON = """#!/bin/sh
echo "python $*" >> "$LOG"
case "$*" in *"-m pytest"*) exit "$PYTEST_STATUS";; esac
exit 0
"""


def run(tmp_path, pytest_status, wheelhouse=True):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("python", FAKE_PYTHON), ("nvidia-smi", "#!/bin/sh\necho H100\n")):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    house = tmp_path / "wheelhouse"
    if wheelhouse:
        house.mkdir(exist_ok=True)
    log = tmp_path / "log"
    log.write_text("")
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", LOG=str(log),
               PYTEST_STATUS=str(pytest_status), PYAE_GPU_WHEELHOUSE=str(house))
    r = subprocess.run(["bash", str(SCRIPT), "--repeats", "1"], env=env, capture_output=True,
                       text=True)
    return r, log.read_text().splitlines()


@pytest.mark.parametrize("pytest_status", [0, 1])
def test_installs_offline_and_benchmarks_even_after_a_failed_test(tmp_path, pytest_status):
    r, calls = run(tmp_path, pytest_status)
    installs = [c for c in calls if "-m pip install" in c]
    assert len(installs) == 2 and all("--no-index" in c for c in installs)
    assert "--no-build-isolation" in installs[1] and str(tmp_path / "wheelhouse") in installs[0]
    assert calls[-1].endswith("benchmarks/bench_gpu.py --repeats 1")  # ran after the tests
    assert any("-m pytest" in c for c in calls)
    assert r.returncode == pytest_status, r.stderr


def test_says_what_is_missing_without_the_wheelhouse(tmp_path):
    r, calls = run(tmp_path, 0, wheelhouse=False)
    assert r.returncode == 2 and "no wheelhouse" in r.stderr and not calls
