"""Denoising autoencoders: the input of every training batch is corrupted
afresh inside the C++ step; the target is the clean batch."""

from __future__ import annotations

from . import noise as noise_lib
from .autoencoder import MODEL_CLASSES, Autoencoder

__all__ = ["DenoisingAutoencoder"]


class DenoisingAutoencoder(Autoencoder):
    """An :class:`Autoencoder` trained to map corrupted inputs to clean ones.

    ``noise`` is a :mod:`pyae.noise` object (default ``Gaussian(std=0.5)``).
    Noise is keyed by (seed, training step, element), so training is
    reproducible bit for bit and every batch of every epoch sees new noise.
    """

    def __init__(self, hidden=(256, 64), noise=None, activation="sigmoid",
                 output_activation="sigmoid", loss="mse", tied_weights=False, optimizer="adam",
                 learning_rate=1e-3, batch_size=128, epochs=10, momentum=0.9, beta1=0.9,
                 beta2=0.999, eps=1e-8, shuffle=True, patience=None, tol=0.0, verbose="auto",
                 seed=0, device="cpu"):
        super().__init__(hidden=hidden, activation=activation,
                         output_activation=output_activation, loss=loss,
                         tied_weights=tied_weights, optimizer=optimizer,
                         learning_rate=learning_rate, batch_size=batch_size, epochs=epochs,
                         momentum=momentum, beta1=beta1, beta2=beta2, eps=eps, shuffle=shuffle,
                         patience=patience, tol=tol, verbose=verbose, seed=seed, device=device)
        self.noise = noise

    def _noise(self):
        return noise_lib.Gaussian(std=0.5) if self.noise is None else \
            noise_lib.check_noise(self.noise)

    def _checked_config(self):
        cfg = super()._checked_config()
        cfg["noise"] = self._noise()
        return cfg

    def _build(self, n_features, cfg):
        super()._build(n_features, cfg)
        noise_seed = int(self._shuffle_rng.integers(2**63))
        self.network_.set_noise(*cfg["noise"]._kernel_args(), noise_seed)
        self._noise_seed = noise_seed

    def _device_network_config(self):
        cfg = super()._device_network_config()
        cfg["noise"] = (*self._noise()._kernel_args(), self._noise_seed)
        return cfg

    def _validation_loss(self, X_val):
        """Loss of denoising one fixed corruption of X_val (the same noise
        every epoch, so the values are comparable)."""
        corrupted = self._noise()(X_val, seed=self._noise_seed, stream=2**63)
        return float(self._scores(corrupted, X_val).mean())

    def denoise(self, X):
        """The network's clean estimate of (corrupted) X; same as reconstruct."""
        return self.reconstruct(X)

    def _params_for_file(self):
        params = super()._params_for_file()
        params["noise"] = self._noise().get_config()
        return params

    @classmethod
    def _params_from_file(cls, params):
        params = super()._params_from_file(params)
        if params.get("noise") is not None:
            params["noise"] = noise_lib.from_config(params["noise"])
        return params


MODEL_CLASSES["DenoisingAutoencoder"] = DenoisingAutoencoder
