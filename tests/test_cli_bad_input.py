"""The CLI on bad input: for every invocation of the corpus, exit status 2
and exactly one line on stderr (no traceback), nothing written, and output
paths refused before any training (issue 11's reproducers among them)."""

import json
import struct
from pathlib import Path

import numpy as np
import pytest

import pyae
from pyae.cli import main

FINDINGS = Path(__file__).resolve().parent / "fixtures" / "fuzz_findings"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli-bad")
    good = np.random.default_rng(0).random((40, 6), dtype=np.float32)
    np.save(d / "good.npy", good)
    np.save(d / "scalar.npy", np.float32(3.0))
    np.save(d / "empty.npy", np.zeros((0, 6), np.float32))
    np.save(d / "complex.npy", good.astype(np.complex64))
    np.save(d / "strings.npy", np.array(["a", "b"]))
    np.save(d / "huge.npy", np.full((40, 6), 1e30, np.float32))
    np.save(d / "nan.npy", np.full((40, 6), np.nan, np.float32))
    np.save(d / "past_float32.npy", np.full((40, 6), 1e300))  # float64: inf as float32
    (d / "empty.csv").write_text("")
    ae = pyae.Autoencoder(hidden=(3,), epochs=1, verbose=False).fit(good)
    ae.save(d / "ae.safetensors")
    blob = (d / "ae.safetensors").read_bytes()
    (d / "truncated.safetensors").write_bytes(blob[:len(blob) // 2])
    (d / "junk.safetensors").write_bytes(b"\x00" * 100)
    (d / "text.safetensors").write_text("not a model")
    (n,) = struct.unpack("<Q", blob[:8])
    for name, edit in {
        "config_list": lambda m: m.update(config="[]"),
        "n_features_huge": lambda m: m.update(n_features="1e30"),
        "n_features_str": lambda m: m.update(n_features='"many"'),
        "history_str": lambda m: m.update(training='{"history": "x"}'),
        "model_int": lambda m: m.update(model="7"),
        "hidden_huge": lambda m: m.update(config=m["config"].replace('"hidden": [3]',
                                                                  '"hidden": [4294967296]')),
    }.items():
        header = json.loads(blob[8:8 + n])
        edit(header["__metadata__"])
        text = json.dumps(header).encode()
        (d / f"{name}.safetensors").write_bytes(struct.pack("<Q", len(text)) + text +
                                                blob[8 + n:])
    (d / "a_folder").mkdir()
    (d / "a_file").write_text("x")
    return d


def corpus(d):
    npy = str(d / "good.npy")
    train = ["train", "ae", "--dataset", npy, "--epochs", "1", "--quiet"]
    bad = [
        [], ["nope"], ["train"], ["train", "gan"], ["info"], ["sample"], ["denoise"],
        ["demo", "--epochs", "zero"], ["demo", "--epochs", "0"], ["demo", "--epochs", "-3"],
        ["demo", "--lr", "-1"], ["demo", "--lr", "nan"], ["demo", "--lr", "inf"],
        ["demo", "--out", str(d / "a_file")],
        train + ["--hidden", "0"], train + ["--hidden", "x"], train + ["--hidden", "2147483648"],
        train + ["--hidden", "4,-1"], train + ["--hidden", ""],
        train + ["--batch-size", "0"], train + ["--batch-size", "1.5"],
        train + ["--epochs", "0"], train + ["--lr", "0"], train + ["--lr", "abc"],
        train + ["--noise", "gaussian:0.5"], train + ["--latent-dim", "2"],
        train + ["--activation", "swish"], train + ["--device", "tpu"],
        train + ["--out", str(d / "a_folder")], train + ["--out", str(d / "no" / "m.st")],
        ["train", "dae", "--dataset", npy, "--noise", "gaussian:-1", "--quiet"],
        ["train", "dae", "--dataset", npy, "--noise", "fog:0.1", "--quiet"],
        ["train", "dae", "--dataset", npy, "--noise", "masking:2", "--quiet"],
        ["train", "vae", "--dataset", npy, "--beta", "-1", "--quiet"],
        ["train", "vae", "--dataset", npy, "--latent-dim", "0", "--quiet"],
        ["train", "ae", "--dataset", str(d / "missing.npy"), "--quiet"],
        ["train", "ae", "--dataset", str(d / "scalar.npy"), "--quiet"],
        ["train", "ae", "--dataset", str(d / "empty.npy"), "--quiet"],
        ["train", "ae", "--dataset", str(d / "complex.npy"), "--quiet"],
        ["train", "ae", "--dataset", str(d / "strings.npy"), "--quiet"],
        ["train", "ae", "--dataset", str(d / "nan.npy"), "--quiet"],
        ["train", "ae", "--dataset", str(d / "huge.npy"), "--epochs", "1", "--quiet",
         "--out", str(d / "diverged.safetensors")],
        ["train", "ae", "--dataset", str(d / "text.safetensors"), "--quiet"],
        ["info", str(d / "missing.safetensors")], ["info", str(d / "junk.safetensors")],
        ["info", str(d / "text.safetensors")], ["info", str(d / "truncated.safetensors")],
        ["info", str(d / "a_folder")], ["info", npy],
        *[["info", str(d / f"{name}.safetensors")] for name in (
            "config_list", "n_features_huge", "n_features_str", "history_str", "model_int",
            "hidden_huge")],
        ["sample", str(d / "ae.safetensors"), "--out", str(d / "s.png")],
        ["sample", str(d / "ae.safetensors"), "--n", "0"],
        ["sample", str(d / "ae.safetensors"), "--n", "100000000"],
        ["sample", str(d / "ae.safetensors"), "--seed", "-1"],
        ["denoise", str(d / "ae.safetensors"), "--n", "5000"],
        ["demo", "--seed", "1.5"],
        train + ["--seed", "-3"],
        ["info", str(FINDINGS / "shuffle_state_past_uint32_in_a_downgraded_file.safetensors")],
        ["info", str(d / "ae.safetensors"), "extra-argument"],
        ["score", str(d / "ae.safetensors"), str(d / "missing.npy")],
        ["score", str(d / "ae.safetensors"), npy, "--score", "elbo"],
        ["score", str(d / "ae.safetensors"), str(d / "scalar.npy")],
        ["score", str(d / "ae.safetensors"), str(d / "text.safetensors")],
        ["score", str(d / "junk.safetensors"), npy],
        ["score", str(d / "ae.safetensors"), npy, "--out", str(d / "a_folder")],
        ["score", str(d / "ae.safetensors"), str(d / "past_float32.npy")],
        ["score", str(d / "ae.safetensors"), str(d / "empty.csv")],
        ["sample", str(d / "ae.safetensors"), "--out", str(d / "a_folder")],
        ["denoise", str(d / "junk.safetensors")],
        ["denoise", str(d / "ae.safetensors"), "--out", str(d / "no" / "x.png")],
    ]
    return bad


def test_the_corpus_is_large_enough(files):
    assert len(corpus(files)) >= 50


@pytest.mark.parametrize("index", range(len(corpus(Path("unused")))))
def test_bad_invocation_is_one_line_and_status_2(files, capsys, index):
    argv = corpus(files)[index]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (argv, err)
    assert err.count("\n") == 1 and "Traceback" not in err, (argv, err)
    assert not (files / "diverged.safetensors").exists()
