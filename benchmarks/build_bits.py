"""Bit-for-bit check of two pyae builds: trains six models (AE, tied BCE
with SGD, relu/tanh, DAE with salt-and-pepper noise, VAE BCE, VAE Gaussian),
each with validation data, at 1 and 2 threads, and saves every parameter,
loss history, code and score; then compares two such files.

    OLD_PYTHON benchmarks/build_bits.py save old.npz
    NEW_PYTHON benchmarks/build_bits.py save new.npz
    python benchmarks/build_bits.py compare old.npz new.npz
"""

import sys

import numpy as np


def save(path):
    import pyae

    X = np.random.default_rng(0).random((700, 40), dtype=np.float32)
    out = {}
    for threads in (1, 2):
        pyae.set_num_threads(threads)
        models = {
            "ae": pyae.Autoencoder(hidden=(24, 8), epochs=3, batch_size=64),
            "ae_tied_bce_sgd": pyae.Autoencoder(hidden=(24, 8), tied_weights=True, loss="bce",
                                                optimizer="sgd", learning_rate=0.1, epochs=3,
                                                batch_size=50),
            "ae_relu_tanh": pyae.Autoencoder(hidden=(30,), activation="relu",
                                             output_activation="tanh", epochs=2),
            "dae": pyae.DenoisingAutoencoder(hidden=(24, 8), noise=pyae.noise.SaltAndPepper(0.2),
                                             epochs=3, batch_size=64),
            "vae": pyae.VAE(hidden=(24,), latent_dim=4, epochs=3, batch_size=64),
            "vae_gauss": pyae.VAE(hidden=(24, 12), latent_dim=3, loss="gaussian",
                                  output_activation="identity", epochs=2, batch_size=100),
        }
        for name, m in models.items():
            m.set_params(verbose=False).fit(X, validation_data=X[:100])
            key = f"{name}/{threads}"
            out[f"{key}/params"] = m.network_.params.copy()
            out[f"{key}/loss"] = np.array(m.history_["loss"] + m.history_["val_loss"])
            out[f"{key}/transform"] = m.transform(X[:50])
            out[f"{key}/scores"] = m.score_samples(X[:50])
    np.savez(path, **out)


def compare(a_path, b_path):
    a, b = np.load(a_path), np.load(b_path)
    different = [k for k in a.files if k not in b.files or not np.array_equal(a[k], b[k])]
    print(f"{len(a.files)} arrays compared; different: {different or 'none'}")
    return 1 if different else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "save":
        save(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
