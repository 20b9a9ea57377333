"""The Python and the C loader agree file by file on mutated model files:
both accept, or both refuse (ModelFileError / ValueError), never a crash.
The corpus is made from a fixed seed at test time -- single-byte changes
anywhere in AE, tied AE, DAE and VAE files, and JSON-level edits of the
metadata -- so it follows the format instead of going stale with it."""

import json
import struct

import numpy as np
import pytest

import pyae
from pyae import _core

N_BYTE_FLIPS, N_EDITS = 320, 80


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    d = tmp_path_factory.mktemp("agreement")
    X = np.random.default_rng(0).random((40, 6), dtype=np.float32)
    kw = dict(epochs=1, verbose=False)
    models = [pyae.Autoencoder(hidden=(4,), **kw), pyae.Autoencoder(hidden=(5, 3),
                                                                     tied_weights=True, **kw),
              pyae.DenoisingAutoencoder(hidden=(3,), **kw),
              pyae.VAE(hidden=(4,), latent_dim=2, **kw)]
    blobs = []
    for i, m in enumerate(models):
        m.fit(X).save(d / f"{i}.safetensors")
        blobs.append((d / f"{i}.safetensors").read_bytes())
    return d, blobs


def verdicts(path, blob):
    path.write_bytes(blob)
    try:
        pyae.load(path)
        py = "accept"
    except pyae.ModelFileError:
        py = "refuse"
    try:
        _core.CModel(blob)
        c = "accept"
    except ValueError:
        c = "refuse"
    return py, c


def edited(blob, rng):
    """A JSON-level change of one metadata value: a character replaced."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header["__metadata__"]
    key = sorted(meta)[rng.integers(len(meta))]
    text = meta[key]
    if text:
        i = int(rng.integers(len(text)))
        meta[key] = text[:i] + "0x\"{}[]-1e9"[rng.integers(11)] + text[i + 1:]
    out = json.dumps(header).encode()
    return struct.pack("<Q", len(out)) + out + blob[8 + n:]


def test_the_loaders_agree_on_every_mutant(originals):
    d, blobs = originals
    rng = np.random.default_rng(2026)
    disagreements, refused = [], 0
    for k in range(N_BYTE_FLIPS + N_EDITS):
        base = blobs[k % len(blobs)]
        if k < N_BYTE_FLIPS:
            b = bytearray(base)
            b[int(rng.integers(len(b)))] ^= int(rng.integers(1, 256))
            mutant = bytes(b)
        else:
            mutant = edited(base, rng)
        py, c = verdicts(d / "mutant.safetensors", mutant)
        refused += py == "refuse"
        if py != c:
            disagreements.append((k, py, c))
    assert not disagreements, disagreements[:10]
    assert refused > 0.9 * (N_BYTE_FLIPS + N_EDITS)  # the corpus does change files
