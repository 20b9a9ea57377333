"""The Python and the C loader on the committed corpus of mutated model files
(tests/fixtures/mutants, made by its make_mutants.py): each gives the verdict
recorded in manifest.json, never a crash or another exception type, and on
every mutant of a field both read they agree file by file. Mutants of
Python-only fields (hyperparameters, training state, Adam's moments) are
recorded apart: the C library serves inference and does not read them."""

import json
from pathlib import Path

import pytest

import pyae
from pyae import _core

CORPUS = Path(__file__).resolve().parent / "fixtures" / "mutants"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())


def python_verdict(path):
    try:
        pyae.load(path)
        return "accept"
    except pyae.ModelFileError:
        return "refuse"


def c_verdict(path):
    try:
        _core.CModel(path.read_bytes())
        return "accept"
    except ValueError:
        return "refuse"


def test_the_corpus_is_what_it_claims():
    files = sorted(p.name for p in (CORPUS / "files").iterdir())
    assert files == sorted(MANIFEST)
    shared = [v for v in MANIFEST.values() if v["shared"]]
    assert len(shared) >= 200
    assert all(v["python"] == v["c"] for v in shared)
    # It exercises both outcomes, and mostly refusals.
    assert 0 < sum(v["python"] == "accept" for v in shared) < 0.2 * len(shared)
    for original in (CORPUS / "originals").iterdir():
        assert python_verdict(original) == c_verdict(original) == "accept"


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_both_loaders_give_the_recorded_verdict(name):
    path = CORPUS / "files" / name
    want = MANIFEST[name]
    assert (python_verdict(path), c_verdict(path)) == (want["python"], want["c"])
