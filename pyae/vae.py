"""Variational autoencoders.

The encoder maps x to the mean and log-variance of a diagonal Gaussian
q(z|x); training samples z = mu + exp(logvar / 2) * eps and minimises, per
sample, the reconstruction negative log-likelihood plus beta times
KL(q(z|x) || N(0, I)) -- for beta = 1 the negative evidence lower bound
(ELBO), in nats. The whole step (encoder, reparameterisation with Philox
noise, decoder, both losses, backward, Adam) is one C++ call per batch.
"""

from __future__ import annotations

import math

import numpy as np

from . import _core
from ._enums import ACTIVATIONS, LOSSES
from ._device import as_device_matrix, is_gpu_array
from ._validation import as_float32_matrix, positive_int
from .autoencoder import MODEL_CLASSES, Autoencoder, _output_array

__all__ = ["VAE"]

_RECONSTRUCTION = {"bce": LOSSES["bce"], "gaussian": LOSSES["mse"]}
_LOG_2PI = math.log(2 * math.pi)
_EVAL_STREAM = 2**63  # Philox stream for evaluation draws (training uses step counts)


class VAE(Autoencoder):
    """Variational autoencoder: D -> hidden -> (mu, log sigma^2) of a
    latent_dim Gaussian -> mirrored decoder -> D.

    ``loss="bce"`` is a Bernoulli decoder (data in [0, 1], sigmoid output);
    ``loss="gaussian"`` a unit-variance Gaussian decoder (squared error).
    """

    def __init__(self, hidden=(400,), latent_dim=20, activation="relu",
                 output_activation="sigmoid", loss="bce", beta=1.0, optimizer="adam",
                 learning_rate=1e-3, batch_size=128, epochs=10, momentum=0.9, beta1=0.9,
                 beta2=0.999, eps=1e-8, shuffle=True, patience=None, tol=0.0, verbose="auto",
                 seed=0, device="cpu"):
        super().__init__(hidden=hidden, activation=activation,
                         output_activation=output_activation, loss=loss, optimizer=optimizer,
                         learning_rate=learning_rate, batch_size=batch_size, epochs=epochs,
                         momentum=momentum, beta1=beta1, beta2=beta2, eps=eps, shuffle=shuffle,
                         patience=patience, tol=tol, verbose=verbose, seed=seed, device=device)
        self.latent_dim = latent_dim
        self.beta = beta

    tied_weights = False  # the Autoencoder machinery reads it; a VAE never ties
    _LOSSES = _RECONSTRUCTION

    def _checked_config(self):
        cfg = self._common_config(self._LOSSES)
        if isinstance(self.beta, bool) or not isinstance(self.beta, (int, float)) or \
                not math.isfinite(self.beta) or self.beta < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {self.beta!r}")
        cfg["beta"] = float(self.beta)
        cfg["latent_dim"] = positive_int(self.latent_dim, "latent_dim")
        return cfg

    def _layer_table(self, n_features, cfg):
        return _core.LayerTable.vae(n_features, list(cfg["hidden"]), cfg["latent_dim"],
                                    ACTIVATIONS[cfg["activation"]],
                                    ACTIVATIONS[cfg["output_activation"]])

    def _build(self, n_features, cfg):
        super()._build(n_features, cfg)
        self._eps_seed = int(self._shuffle_rng.integers(2**63))
        self.network_.set_latent_seed(self._eps_seed)

    def _train_epoch(self, X, order, batch, gpu):
        if gpu is None:
            return super()._train_epoch(X, order, batch, gpu)
        recon, kl = gpu.train_epoch(X, order, batch)
        return float(recon + self._checked_config()["beta"] * kl) / X.shape[0]

    def _device_network_config(self):
        cfg = super()._device_network_config()
        cfg.update(beta=self._checked_config()["beta"], latent_seed=self._eps_seed)
        return cfg

    # On the GPU the networks run there; the Monte Carlo and IWAE arithmetic
    # around them stays in NumPy, and results go back to the caller's side.
    def _on_device(self, a, n_features, name="X"):
        gpu = self._device_network()
        return gpu, as_device_matrix(a, gpu.ops, name, n_features, type(self).__name__)

    def _host_input(self, X, name, n_features):
        if is_gpu_array(X) and self._on_gpu():
            X = self._device_network().ops.to_host(X)
        return as_float32_matrix(X, name, n_features, type(self).__name__)

    def _callers_side(self, result, X):
        if is_gpu_array(X) and self._on_gpu():
            return self._device_network().ops.to_device(result)
        return result

    def _validation_loss(self, X_val):
        """Mean of NLL + beta * KL on held-out data, one fixed draw of eps."""
        mu, logvar = self._posterior(X_val)
        z = mu + np.exp(0.5 * logvar) * self._normal(mu.shape, 1, 0)
        return float(np.mean(self._reconstruction_nll(z.astype(np.float32), X_val)
                             + self._checked_config()["beta"] * _kl(mu, logvar)))

    # ------------------------------------------------------------- helpers
    def _normal(self, shape, seed, stream_offset):
        out = np.empty(int(np.prod(shape)), dtype=np.float32)
        _core.philox_draws(out, True, int(seed) & (2**64 - 1), _EVAL_STREAM + stream_offset, 0)
        return out.reshape(shape)

    def _posterior(self, X):
        if self._on_gpu():
            gpu, Xd = self._on_device(X, self.n_features_in_)
            ml = gpu.ops.to_host(gpu.forward(Xd, 0, self.network_.table.decoder_start))
        else:
            ml = np.empty((X.shape[0], 2 * self.latent_dim), dtype=np.float32)
            self.network_.forward(X, ml, 0, self.network_.table.decoder_start)
        Z = self.latent_dim
        return ml[:, :Z], ml[:, Z:]

    def _reconstruction_nll(self, z, X):
        if self._on_gpu():
            gpu, zd = self._on_device(z, self.latent_dim, "z")
            pred = gpu.forward(zd, self.network_.table.decoder_start, len(gpu.layers),
                               logits=self._checked_config()["loss"] == "bce")
            Xd = as_device_matrix(X, gpu.ops, "X", self.n_features_in_)
            return gpu.ops.to_host(gpu.loss_rows(pred, Xd, vae_nll=True)).astype(np.float64)
        out = np.empty(z.shape[0], dtype=np.float32)
        self.network_.row_losses(np.ascontiguousarray(z), np.ascontiguousarray(X), out,
                                 self.network_.table.decoder_start)
        return out.astype(np.float64)

    def _data(self, X, name="X"):
        self._check_fitted()
        X = self._host_input(X, name, self.n_features_in_)
        return self._check_training_data(X, self._checked_config())

    # ------------------------------------------------------------------ API
    def transform(self, X, sample=False, seed=0, out=None):
        """Posterior mean mu(x), (n, latent_dim); sample=True draws z ~ q(z|x)."""
        self._check_fitted()
        X_in, X = X, self._host_input(X, "X", self.n_features_in_)
        mu, logvar = self._posterior(X)
        if sample:
            mu = mu + np.exp(0.5 * logvar) * self._normal(mu.shape, seed, 1)
        out = _output_array(out, mu.shape)
        out[...] = mu
        return self._callers_side(out, X_in)

    def inverse_transform(self, Z, out=None):
        """Decoder mean for codes Z (n, latent_dim)."""
        self._check_fitted()
        Z_in, Z = Z, self._host_input(Z, "Z", self.latent_dim)
        out = _output_array(out, (Z.shape[0], self.n_features_in_))
        if self._on_gpu():
            gpu, Zd = self._on_device(Z, self.latent_dim, "Z")
            out[...] = gpu.ops.to_host(gpu.forward(Zd, self.network_.table.decoder_start,
                                                   len(gpu.layers)))
        else:
            table = self.network_.table
            self.network_.forward(Z, out, table.decoder_start, len(table))
        return self._callers_side(out, Z_in)

    def reconstruct(self, X, out=None):
        """Decoder mean at the posterior mean."""
        return self.inverse_transform(self.transform(X), out=out)

    def sample(self, n, seed=0):
        """n new samples: z ~ N(0, I) through the decoder (its mean)."""
        self._check_fitted()
        n = positive_int(n, "n")
        return self.inverse_transform(self._normal((n, self.latent_dim), seed, 2))

    def interpolate(self, x_a, x_b, steps=10):
        """Decoded points on the line between the posterior means of x_a and x_b."""
        steps = positive_int(steps, "steps")
        x = np.stack([np.asarray(x_a).reshape(-1), np.asarray(x_b).reshape(-1)])
        mu = self.transform(x)
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
        return self.inverse_transform((1 - t) * mu[0] + t * mu[1])

    def elbo(self, X, n_samples=1, seed=0):
        """Per-sample evidence lower bound in nats: E_q[log p(x|z)] (Monte
        Carlo over n_samples draws) minus the closed-form KL."""
        X_in, X = X, self._data(X)
        n_samples = positive_int(n_samples, "n_samples")
        mu, logvar = self._posterior(X)
        nll = np.zeros(X.shape[0])
        eps = self._normal((n_samples, *mu.shape), seed, 3)
        for s in range(n_samples):
            z = (mu + np.exp(0.5 * logvar) * eps[s]).astype(np.float32)
            nll += self._reconstruction_nll(z, X)
        return self._callers_side(-nll / n_samples - _kl(mu, logvar), X_in)

    def log_likelihood(self, X, k=100, seed=0, batch_size=256):
        """Per-sample importance-weighted estimate of log p(x) (IWAE, Burda et
        al. 2016) with k samples from q(z|x); >= the ELBO in expectation and
        non-decreasing in k."""
        X_in, X = X, self._data(X)
        k = positive_int(k, "k")
        out = np.empty(X.shape[0])
        for start in range(0, X.shape[0], batch_size):
            xb = X[start:start + batch_size]
            mu, logvar = (a.astype(np.float64) for a in self._posterior(xb))
            eps = self._normal((k, *mu.shape), seed, 4 + start).astype(np.float64)
            z = mu + np.exp(0.5 * logvar) * eps                        # (k, B, Z)
            nll = self._reconstruction_nll(z.reshape(-1, self.latent_dim).astype(np.float32),
                                           np.tile(xb, (k, 1))).reshape(k, -1)
            log_prior = -0.5 * (z**2 + _LOG_2PI).sum(-1)
            log_q = -0.5 * (eps**2 + _LOG_2PI + logvar).sum(-1)
            log_w = -nll + log_prior - log_q                            # (k, B)
            top = log_w.max(axis=0)
            out[start:start + batch_size] = top + np.log(np.mean(np.exp(log_w - top), axis=0))
        return self._callers_side(out, X_in)

    def score_samples(self, X, out=None):
        """Anomaly score: the negative ELBO (10 fixed Monte Carlo draws), in
        nats per sample; higher means less likely under the model."""
        neg_elbo = -self.elbo(self._data(X), n_samples=10)
        scores = _output_array(out, neg_elbo.shape)
        scores[...] = neg_elbo
        return self._callers_side(scores, X)


def _kl(mu, logvar):
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    return -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1)


MODEL_CLASSES["VAE"] = VAE
