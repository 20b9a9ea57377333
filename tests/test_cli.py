"""The pyae command: demo (offline fallback), train, denoise, info, and
one-line errors for bad arguments."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import pyae


def run_cli(*args, env_extra=None, cwd=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "pyae", *args], capture_output=True,
                          text=True, env=env, cwd=cwd)


@pytest.fixture
def offline(tmp_path):
    """No MNIST anywhere pyae looks (and no network here anyway)."""
    return {"PYAE_DATA_DIR": str(tmp_path / "none"), "HOME": str(tmp_path),
            "XDG_CACHE_HOME": str(tmp_path / "cache")}


def test_demo_offline_falls_back_to_bundled_digits(tmp_path, offline):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    r = run_cli("demo", "--out", str(out), env_extra=offline, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "scikit-learn's 8x8 digits (MNIST not found)" in r.stdout
    assert "for full MNIST:" in r.stdout
    # Before: 60 epochs in 0.1 s, MSE 0.117 -> 0.057 and grey blobs. Now it
    # trains to early stopping and the error falls to under 40%.
    assert "(early stopping)" in r.stdout
    mse = re.search(r"corrupted ([0-9.]+) .* denoised ([0-9.]+)", r.stdout)
    assert float(mse.group(2)) < 0.4 * float(mse.group(1)), r.stdout
    acc = re.search(r"corrupted ([0-9.]+)%, denoised ([0-9.]+)%", r.stdout)
    assert float(acc.group(2)) > float(acc.group(1)), r.stdout
    for name in ("dae.safetensors", "denoising.png", "loss.png"):
        assert (out / name).stat().st_size > 0
    r = run_cli("info", str(out / "dae.safetensors"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "DenoisingAutoencoder 64-128-32-128-64" in r.stdout and "Gaussian" in r.stdout


@pytest.fixture
def npy_data(tmp_path):
    rng = np.random.default_rng(0)
    X = (1 / (1 + np.exp(-rng.standard_normal((300, 3)) @ rng.standard_normal((3, 16)))))
    path = tmp_path / "data.npy"
    np.save(path, X.astype(np.float32))
    return path


@pytest.mark.parametrize("kind,extra", [("ae", []), ("dae", ["--noise", "masking:0.3"])])
def test_train_then_denoise(tmp_path, npy_data, kind, extra):
    pytest.importorskip("matplotlib")
    model = tmp_path / f"{kind}.safetensors"
    r = run_cli("train", kind, "--dataset", str(npy_data), "--hidden", "8,4", "--epochs", "2",
                "--batch-size", "32", "--lr", "0.01", "--seed", "1", "--out", str(model),
                "--quiet", *extra, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert model.is_file()
    fig = tmp_path / "fig.png"
    r = run_cli("denoise", str(model), "--dataset", str(npy_data), "--n", "4", "--out", str(fig),
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "PSNR" in r.stdout and fig.stat().st_size > 0
    if kind == "dae":
        assert "Masking(fraction=0.3)" in r.stdout


def test_train_vae_then_sample(tmp_path, npy_data):
    pytest.importorskip("matplotlib")
    model = tmp_path / "v.safetensors"
    r = run_cli("train", "vae", "--dataset", str(npy_data), "--hidden", "8", "--latent-dim", "2",
                "--beta", "0.5", "--epochs", "2", "--out", str(model), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli("sample", str(model), "--n", "6", "--out", str(tmp_path / "s.png"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s.png").stat().st_size > 0
    r = run_cli("info", str(model), cwd=tmp_path)
    assert "latent_dim: 2; beta: 0.5" in r.stdout
    ae = tmp_path / "ae.safetensors"
    run_cli("train", "ae", "--dataset", str(npy_data), "--hidden", "4", "--epochs", "1",
            "--activation", "gelu", "--out", str(ae), "--quiet", cwd=tmp_path)
    assert "activations: gelu, sigmoid" in run_cli("info", str(ae), cwd=tmp_path).stdout
    r = run_cli("sample", str(ae), cwd=tmp_path)
    assert r.returncode == 2 and "needs a VAE" in r.stderr


@pytest.mark.parametrize("args", [
    ["demo", "--epochs", "zero"], ["demo", "--epochs", "0"], ["demo", "--lr", "-1"],
    ["info", "/no/such/model"], ["frobnicate"], [],
    ["train", "gan"], ["train", "dae", "--hidden", "256,x"], ["train", "dae", "--hidden", "0"],
    ["train", "dae", "--noise", "uniform:0.3"], ["train", "dae", "--noise", "gaussian:-1"],
    ["train", "dae", "--noise", "masking:2"], ["train", "ae", "--dataset", "/no/such/file"],
    ["train", "ae", "--batch-size", "0"], ["denoise", "/no/such/model"],
    ["train", "vae", "--latent-dim", "0"], ["train", "vae", "--beta", "-1"],
    ["train", "ae", "--latent-dim", "3"], ["sample", "/no/such/model"],
    ["sample", "m", "--n", "0"],
])
def test_bad_arguments_give_one_line_errors(tmp_path, args):
    r = run_cli(*args, cwd=tmp_path)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("pyae: error:")


def test_noise_only_for_dae(tmp_path, npy_data):
    r = run_cli("train", "ae", "--dataset", str(npy_data), "--noise", "gaussian:0.1", cwd=tmp_path)
    assert r.returncode == 2 and "dae" in r.stderr


def test_denoise_rejects_mismatched_dataset(tmp_path, npy_data):
    model = tmp_path / "m.safetensors"
    assert run_cli("train", "ae", "--dataset", str(npy_data), "--hidden", "4", "--epochs", "1",
                   "--out", str(model), "--quiet", cwd=tmp_path).returncode == 0
    other = tmp_path / "other.npy"
    np.save(other, np.zeros((10, 5), np.float32))
    r = run_cli("denoise", str(model), "--dataset", str(other), cwd=tmp_path)
    assert r.returncode == 2 and "features" in r.stderr


def test_train_on_cuda_without_a_gpu_is_a_one_line_error(tmp_path):
    import pyae

    if pyae.cuda_available():
        pytest.skip("a GPU is usable here")
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).random((50, 6), dtype=np.float32))
    r = run_cli("train", "ae", "--dataset", str(data), "--epochs", "1", "--hidden", "3",
                "--device", "cuda", "--out", str(tmp_path / "m.safetensors"), cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("pyae: error: device='cuda'") and r.stderr.count("\n") == 1
    assert not (tmp_path / "m.safetensors").exists()


def test_score_writes_scores_pvalues_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((200, 6), dtype=np.float32)
    model = pyae.Autoencoder(hidden=(4,), epochs=5, anomaly_score="reconstruction",
                             verbose=False).fit(X[:150])
    model.calibrate(X[150:], fpr=0.1)
    model.save(tmp_path / "m.safetensors")
    np.save(tmp_path / "rows.npy", X)
    r = run_cli("score", str(tmp_path / "m.safetensors"), str(tmp_path / "rows.npy"), "--out",
                str(tmp_path / "s.csv"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "200 rows scored (reconstruction)" in r.stdout
    table = np.genfromtxt(tmp_path / "s.csv", delimiter=",", names=True)
    assert table.dtype.names == ("row", "score", "pvalue", "label")
    np.testing.assert_allclose(table["score"], model.score_samples(X), rtol=1e-6)
    np.testing.assert_allclose(table["pvalue"], model.pvalues(X), rtol=1e-6)
    np.testing.assert_array_equal(table["label"], model.predict(X))
    np.savetxt(tmp_path / "rows.csv", X[:3], delimiter=",")
    r = run_cli("score", str(tmp_path / "m.safetensors"), str(tmp_path / "rows.csv"),
                "--score", "latent", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "row,score"  # no threshold for this score yet
    assert len(r.stdout.splitlines()) == 4


def test_score_on_a_file_from_an_older_pyae_warns_on_one_line(tmp_path):
    """Before: Python's two-line warning (cli.py's own source line under
    it). The VAE's standardized threshold still holds, so it scores."""
    from pathlib import Path

    old = Path(__file__).resolve().parent / "fixtures" / "legacy" / \
        "vae_pyae_0.1_before_hidden_neighbours.safetensors"
    np.save(tmp_path / "rows.npy", np.random.default_rng(0).random((5, 6), dtype=np.float32))
    r = run_cli("score", str(old), str(tmp_path / "rows.npy"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("pyae: warning: ") \
        and "older pyae" in warnings[0], r.stderr
    assert r.stdout.splitlines()[0] == "row,score,label" and len(r.stdout.splitlines()) == 6
