"""Coverage-guided fuzzing of the model-file loader of csrc/infer (the C
library) through its binding, with atheris:

    pip install atheris && python tests/fuzz/fuzz_model_loader.py -atheris_runs=200000

Every input must either load or raise ValueError; a crash, hang or other
exception is a bug. Seeds: small valid models of every kind, written fresh.
"""

import os
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    import numpy as np

    import pyae
    from pyae import _core


def seeds():
    X = np.random.default_rng(0).random((20, 6), dtype=np.float32)
    out = []
    with tempfile.TemporaryDirectory() as d:
        for m in (pyae.Autoencoder(hidden=(4, 2), epochs=1, verbose=False),
                  pyae.Autoencoder(hidden=(3,), tied_weights=True, epochs=1, verbose=False),
                  pyae.VAE(hidden=(4,), latent_dim=2, epochs=1, verbose=False)):
            path = os.path.join(d, "m.safetensors")
            m.fit(X).save(path)
            with open(path, "rb") as f:
                out.append(f.read())
    return out


SEEDS = seeds()


def test_one(data: bytes):
    fdp = atheris.FuzzedDataProvider(data)
    base = SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)]
    # Either raw fuzz bytes, or a seed with a fuzzed splice (reaches deeper).
    if fdp.ConsumeBool():
        blob = fdp.ConsumeBytes(fdp.remaining_bytes())
    else:
        at = fdp.ConsumeIntInRange(0, len(base))
        cut = fdp.ConsumeIntInRange(0, 64)
        blob = base[:at] + fdp.ConsumeBytes(cut) + base[at + cut:]
    try:
        model = _core.CModel(blob)
    except ValueError:
        return
    for part in (0, 1, 2):
        d = model.input_dim(part)
        model.forward(part, np.zeros((2, d), np.float32))


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
