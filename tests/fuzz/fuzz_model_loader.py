"""Coverage-guided fuzzing of pyae's Python model-file loader with atheris
(the C library has its own libFuzzer target, csrc/infer/fuzz):

    pip install atheris
    python tests/fuzz/fuzz_model_loader.py CORPUS_DIR -atheris_runs=1000000 [--consistent]

Every input must load or raise ModelFileError, and a loaded model must
answer or raise FloatingPointError (finite weights too large for float32
sums); a crash, a hang or any other exception is a bug. With --consistent, each mutated
file whose header still parses is re-signed (both checksums recomputed)
before loading, so mutations reach the checks behind the checksums.
Seeds: small valid models of every kind, written fresh into CORPUS_DIR.
"""

import atexit
import collections
import io
import json
import re
import os
import struct
import sys
import zlib

import atheris

with atheris.instrument_imports(include=["pyae"]):
    import numpy as np

    import pyae
    from pyae._io import ModelFileError, ModelFileReader, metadata_crc
    from pyae._model_file import model_from_reader

CONSISTENT = "--consistent" in sys.argv
OUTCOMES = collections.Counter()  # "loaded", or the refusal's message less names
atexit.register(lambda: print("outcomes:", dict(OUTCOMES.most_common()), file=sys.stderr))


def write_seeds(folder):
    X = np.random.default_rng(0).random((20, 6), dtype=np.float32)
    models = {"ae": pyae.Autoencoder(hidden=(4, 2)),
              "tied": pyae.Autoencoder(hidden=(3,), tied_weights=True, activation="gelu"),
              "dae": pyae.DenoisingAutoencoder(hidden=(3,), loss="bce"),
              "vae": pyae.VAE(hidden=(4,), latent_dim=2)}
    for name, model in models.items():
        model.set_params(epochs=1, verbose=False).fit(X).save(os.path.join(folder, name))


def resigned(data: bytes) -> bytes:
    """The file with both checksums recomputed, where its header parses."""
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n])
        meta = header["__metadata__"]
        body = data[8 + n:]
        meta["checksums"] = json.dumps({
            k: zlib.crc32(body[e["data_offsets"][0]:e["data_offsets"][1]])
            for k, e in header.items() if k != "__metadata__"})
        meta["metadata_checksum"] = str(metadata_crc(meta))
    except Exception:  # noqa: BLE001 -- not re-signable: fuzz the bytes as they are
        return data
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def test_one(data: bytes):
    if CONSISTENT:
        data = resigned(data)
    try:
        with ModelFileReader(io.BytesIO(data), "fuzz input") as reader:
            model = model_from_reader(reader)
    except ModelFileError as e:
        OUTCOMES[re.sub(r"'[^']*'|\(.*", "", str(e)).strip()[:60]] += 1
        return
    X = np.full((2, model.n_features_in_), 0.5, np.float32)
    try:
        model.reconstruct(X)
        model.transform(X)
        OUTCOMES["loaded"] += 1
    except FloatingPointError:  # finite weights can be too large for float32 sums
        OUTCOMES["loaded; inference overflowed (FloatingPointError)"] += 1


if __name__ == "__main__":
    args = [a for a in sys.argv if a != "--consistent"]
    corpus = next((a for a in args[1:] if not a.startswith("-")), None)
    if corpus is not None:
        os.makedirs(corpus, exist_ok=True)
        if not os.listdir(corpus):
            write_seeds(corpus)
    atheris.Setup(args, test_one)
    atheris.Fuzz()
