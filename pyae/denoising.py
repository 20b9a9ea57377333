"""Denoising autoencoders: the input of every training batch is corrupted
afresh inside the C++ step; the target is the clean batch."""

from __future__ import annotations

import numpy as np

from . import _dask, noise as noise_lib
from ._dask import lazy_rows
from ._estimator import BaseAutoencoder
from ._model_file import MODEL_CLASSES
from .autoencoder import AUTOENCODER_PARAMETERS, autoencoder_table, common_parameters_doc

__all__ = ["DenoisingAutoencoder"]


def _noise(value, name):
    return noise_lib.Gaussian(std=0.5) if value is None else noise_lib.check_noise(value)


class DenoisingAutoencoder(BaseAutoencoder):
    __doc__ = """An autoencoder trained to map corrupted inputs to clean ones.

    Every training batch is corrupted afresh inside the C++ step, with noise
    keyed by (seed, training step, element): training is reproducible bit for
    bit and every batch of every epoch sees new noise.

    Parameters
    ----------
    hidden : sequence of int, default=(256, 64)
        Widths of the encoder's layers; the decoder mirrors them.
    noise : pyae.noise object or None, default=None
        The corruption (``Gaussian``, ``SaltAndPepper`` or ``Masking``);
        None is ``Gaussian(std=0.5)``.
    loss : {"mse", "bce"}, default="mse"
        Loss of the output against the clean input (see Autoencoder).
    tied_weights : bool, default=False
        Each decoder layer uses the transpose of its mirrored encoder weight.
    """ + common_parameters_doc(activation="sigmoid", output_activation="sigmoid",
                                anomaly_score="combined")

    PARAMETERS = {**AUTOENCODER_PARAMETERS, "noise": _noise}

    def __init__(self, hidden=(256, 64), noise=None, activation="sigmoid",
                 output_activation="sigmoid", loss="mse", tied_weights=False, optimizer="adam",
                 learning_rate=1e-3, batch_size=128, epochs=10, momentum=0.9, beta1=0.9,
                 beta2=0.999, eps=1e-8, shuffle=True, patience=None, tol=0.0, verbose="auto",
                 seed=0, device="cpu",
                 contamination="auto", anomaly_score="combined", scale=None,
                 precision="fp32"):
        self._store_params(locals())

    def _noise(self):
        """The noise the network trains with (set at fit; its amount follows
        set_params at the next partial_fit, its kind only through fit)."""
        in_use = self.__dict__.get("_noise_in_use_")
        return _noise(self.noise, "noise") if in_use is None else in_use

    def _layer_table(self, n_features, cfg):
        return autoencoder_table(n_features, cfg)

    def _configure_network(self, net, cfg):
        self._noise_seed = int(self._shuffle_rng.integers(2**63))
        self._noise_in_use_ = cfg["noise"]
        net.set_noise(*cfg["noise"]._kernel_args(), self._noise_seed)

    def _check_unchanged(self, cfg):
        super()._check_unchanged(cfg)
        if type(cfg["noise"]) is not type(self._noise_in_use_):
            raise ValueError(f"noise changed kind since the model was fitted "
                             f"({self._noise_in_use_!r} -> {cfg['noise']!r}); call fit to "
                             "rebuild the model")

    def _apply_live_parameters(self, cfg):
        super()._apply_live_parameters(cfg)
        if cfg["noise"] != self._noise_in_use_:
            self.network_.set_noise(*cfg["noise"]._kernel_args(), self._noise_seed)
            self._noise_in_use_ = cfg["noise"]
            self._sync_to_host()
            self._backend_ = None  # a GPU step bakes the noise in: made afresh

    def _backend_config(self):
        cfg = super()._backend_config()
        cfg["noise"] = (*self._noise()._kernel_args(), self._noise_seed)
        return cfg

    def _validation_rows(self, X_val, first_row):
        """Losses of denoising one fixed corruption of X_val (the same noise
        every epoch, so the values are comparable)."""
        corrupted = self._noise()(X_val, seed=self._noise_seed, stream=2**63,
                                  row_offset=first_row)
        return self._backend().to_host(self._row_losses(corrupted, X_val)).astype(np.float64)

    @lazy_rows(_dask.FEATURES_TO_FEATURES)
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
