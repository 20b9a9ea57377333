"""End to end on real digits (skips unless PYAE_DATA_DIR is set)."""

import numpy as np

import pyae
from pyae import datasets


def test_training_on_mnist_beats_the_untrained_model(data_dir):
    X, _ = datasets.load_mnist("test", data_dir=data_dir)
    order = np.random.default_rng(0).permutation(len(X))
    train, held_out = X[order[:8000]], X[order[8000:]]
    ae = pyae.Autoencoder(hidden=(256, 64), epochs=1, batch_size=128, seed=0, verbose=False,
                          anomaly_score="reconstruction")  # the mean squared error
    ae.partial_fit(train[:1])
    untrained = float(ae.score_samples(held_out).mean())
    ae.set_params(epochs=10).fit(train)
    trained = float(ae.score_samples(held_out).mean())
    # Well below the untrained error, and below predicting the mean image.
    mean_image_mse = float(((held_out - train.mean(axis=0)) ** 2).mean())
    assert trained < 0.25 * untrained
    assert trained < 0.7 * mean_image_mse
