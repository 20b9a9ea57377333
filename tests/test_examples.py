"""Every script of examples/ runs in its --quick mode and writes its figures
(the full runs made the figures in docs/pages/figures)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FIGURES = {
    "exercise_4_3_2_3_4": ["exercise_codes.png", "exercise_summary.txt"],
    "denoising_mnist": ["denoising_gaussian.png", "denoising_salt_and_pepper.png",
                        "denoising_masking.png"],
    "dimensionality_reduction": ["dimensionality_reduction.png"],
    "vae": ["vae_samples.png", "vae_manifold.png", "vae_latent.png", "vae_interpolation.png",
            "vae_bounds.png"],
    "serving": [],
}


def test_every_example_is_listed():
    assert sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_")) == \
        sorted(FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_example_runs_quick(name, tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    r = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--quick", "--out",
                        str(tmp_path)], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "MPLBACKEND": "Agg"}, timeout=600)
    assert r.returncode == 0, r.stderr
    for figure in FIGURES[name]:
        assert (tmp_path / figure).stat().st_size > (100 if figure.endswith(".txt") else 2_000)
    if name == "exercise_4_3_2_3_4":
        assert "parameters: 48 (weights 36, biases 12)" in r.stdout
        assert "neurons per layer: 4-3-2-3-4" in r.stdout
    if name == "serving":
        assert "C library:" in r.stdout or "C library skipped" in r.stdout
        for line in r.stdout.splitlines():
            if "max |difference|" in line:
                assert float(line.split("max |difference|")[1].split()[0]) < 1e-5, line
