"""Dense autoencoders with a scikit-learn style API.

The network is a pyae._core.Network: parameters live in one flat C++
buffer, and each mini-batch is one C++ call (forward, loss, backward and
optimiser update) with the GIL released.
"""

from __future__ import annotations

import inspect
import math
import sys

import numpy as np

from . import _core
from ._device import as_device_matrix, check_device, cuda_ops, to_callers_side
from ._enums import ACTIVATIONS, LOSSES, OPTIMIZERS
from ._io import (ModelFileError, decode_model, encode_model, expect_tensor, read_model_file,
                  table_to_json, write_model_file)
from ._sklearn_compat import EstimatorBase, NotFittedBase
from ._validation import as_float32_matrix, choice, positive_float, positive_int

__all__ = ["Autoencoder", "NotFittedError"]


class NotFittedError(RuntimeError, NotFittedBase):
    """The model is used before fit / partial_fit / load. Also a ValueError
    and AttributeError, and scikit-learn's NotFittedError where installed."""


# Activations that zero (or nearly zero) half their inputs: He's gain of 2.
_RECTIFIERS = {"relu", "leaky_relu", "elu", "gelu", "silu"}


def init_weights(net, rng):
    """Glorot uniform weights (He uniform before a rectifier); biases zero."""
    params = net.params
    for spec in net.table.layers:
        if spec.owns_weight:
            fan_in, fan_out = spec.d_in, spec.d_out
            gain = 2.0 if spec.activation.name in _RECTIFIERS else 1.0
            limit = math.sqrt(3.0 * gain * 2.0 / (fan_in + fan_out))
            n = fan_in * fan_out
            off = spec.weight_offset
            params[off:off + n] = rng.uniform(-limit, limit, n).astype(np.float32)


class Autoencoder(EstimatorBase):
    """Dense autoencoder: encoder D -> hidden..., decoder mirrors it back to D.

    ``hidden=(3, 2)`` on 4 features gives the 4-3-2-3-4 network; the code is
    the output of the innermost layer. Losses are means over all elements
    ("mse", or "bce" computed from logits, which needs a sigmoid output and
    data in [0, 1]). With ``tied_weights`` each decoder layer uses the
    transpose of its mirrored encoder weight.

    ``device="cuda"`` trains and runs the model on an NVIDIA GPU (see
    :meth:`to`); model files do not depend on the device.

    Early stopping: with ``patience=k`` training stops after k epochs without
    an improvement larger than ``tol`` of the monitored loss (``val_loss``
    when validation data is given, else ``loss``), and the weights of the
    best epoch are restored.
    """

    _gpu = None  # the DeviceNetwork while the model lives on the GPU
    _LOSSES = LOSSES  # the loss names this model accepts -> the C++ loss

    def __init__(self, hidden=(256, 64), activation="sigmoid", output_activation="sigmoid",
                 loss="mse", tied_weights=False, optimizer="adam", learning_rate=1e-3,
                 batch_size=128, epochs=10, momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8,
                 shuffle=True, patience=None, tol=0.0, verbose="auto", seed=0, device="cpu"):
        self.hidden = hidden
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
        self.tied_weights = tied_weights
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.momentum = momentum
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.shuffle = shuffle
        self.patience = patience
        self.tol = tol
        self.verbose = verbose
        self.seed = seed
        self.device = device

    # ----------------------------------------------------------- parameters
    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def _common_config(self, losses) -> dict:
        """Validates the hyperparameters every model shares; raises before
        any state changes. `losses` are the loss names this model accepts."""
        hidden = self.hidden
        if isinstance(hidden, (int, np.integer)):
            hidden = (hidden,)
        try:
            hidden = tuple(hidden)
        except TypeError:
            raise ValueError(f"hidden must be a sequence of layer widths, got {self.hidden!r}")
        cfg = dict(
            hidden=tuple(positive_int(h, "every hidden width") for h in hidden),
            activation=choice(self.activation, "activation", ACTIVATIONS),
            output_activation=choice(self.output_activation, "output_activation", ACTIVATIONS),
            loss=choice(self.loss, "loss", losses),
            optimizer=choice(self.optimizer, "optimizer", OPTIMIZERS),
            learning_rate=positive_float(self.learning_rate, "learning_rate"),
            batch_size=positive_int(self.batch_size, "batch_size"),
            epochs=positive_int(self.epochs, "epochs"),
            beta1=float(self.beta1), beta2=float(self.beta2),
            eps=positive_float(self.eps, "eps"), momentum=float(self.momentum),
            device=check_device(self.device),
        )
        if cfg["loss"] == "bce" and cfg["output_activation"] != "sigmoid":
            raise ValueError("loss='bce' needs output_activation='sigmoid'")
        for name in ("beta1", "beta2", "momentum"):
            if not 0.0 <= cfg[name] < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {cfg[name]!r}")
        if self.patience is not None:
            positive_int(self.patience, "patience")
        if not (isinstance(self.tol, (int, float)) and self.tol >= 0):
            raise ValueError(f"tol must be a number >= 0, got {self.tol!r}")
        if self.seed is not None and not isinstance(self.seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer or None, got {self.seed!r}")
        return cfg

    def _checked_config(self) -> dict:
        cfg = self._common_config(self._LOSSES)
        if not cfg["hidden"]:
            raise ValueError("hidden must name at least one layer width")
        cfg["tied_weights"] = bool(self.tied_weights)
        return cfg

    # ------------------------------------------------------------ building
    def _layer_table(self, n_features: int, cfg: dict):
        """This model's layer table (the one description of its architecture)."""
        return _core.LayerTable.autoencoder(
            n_features, list(cfg["hidden"]), ACTIVATIONS[cfg["activation"]],
            ACTIVATIONS[cfg["output_activation"]], cfg["tied_weights"])

    def _build(self, n_features: int, cfg: dict) -> None:
        table = self._layer_table(n_features, cfg)
        net = _core.Network(
            table, self._LOSSES[cfg["loss"]], OPTIMIZERS[cfg["optimizer"]], cfg["learning_rate"],
            cfg["beta1"], cfg["beta2"], cfg["eps"], cfg["momentum"], cfg.get("beta", 1.0))
        rng = np.random.default_rng(self.seed)
        init_weights(net, rng)
        self.network_ = net
        self.n_features_in_ = n_features
        self.layer_widths_ = [table.input_width(l) for l in range(len(table) + 1)]
        self.activations_ = [row.activation.name for row in table.layers]
        self.history_ = {"loss": [], "val_loss": []}
        self._shuffle_rng = np.random.default_rng(rng.integers(2**63))
        self._gpu = None

    # -------------------------------------------------------------- device
    def to(self, device):
        """Moves the model (weights and optimiser state) to "cpu" or "cuda";
        returns self. Raises, changing nothing, when the GPU is not usable."""
        device = check_device(device)
        if device == "cuda":
            cuda_ops()  # fails here, before anything changes, without a usable GPU
        if hasattr(self, "network_"):
            if device == "cuda":
                self._device_network()
            else:
                self._leave_gpu()
        self.device = device
        return self

    def _on_gpu(self) -> bool:
        if self._gpu is None and self.device == "cpu":
            return False  # the common case, first: batch-1 calls take ~15 us in all
        if check_device(self.device) == "cuda":
            return True
        self._leave_gpu()  # the device may have been set to "cpu" by set_params
        return False

    def _device_network_config(self) -> dict:
        cfg = self._checked_config()
        return dict(loss=cfg["loss"],
                    optimizer=dict(kind=cfg["optimizer"], lr=cfg["learning_rate"],
                                   beta1=cfg["beta1"], beta2=cfg["beta2"], eps=cfg["eps"],
                                   momentum=cfg["momentum"]))

    def _device_network(self):
        """The GPU copy of the network, made from network_'s state on first use."""
        if self._gpu is None:
            from ._gpu.network import DeviceNetwork

            net = self.network_
            gpu = DeviceNetwork(cuda_ops(), net.table, **self._device_network_config())
            gpu.load_state(net.params, net.optimizer_state(0), net.optimizer_state(1),
                           net.step_count)
            self._gpu = gpu
        return self._gpu

    def _pull_from_gpu(self):
        """Copies the GPU's weights, optimiser state and step count back."""
        if self._gpu is None:
            return
        params, state0, state1, step_count = self._gpu.host_state()
        net = self.network_
        net.params[:] = params
        for k, state in enumerate((state0, state1)):
            if state is not None:
                net.optimizer_state(k)[:] = state
        net.step_count = step_count

    def _leave_gpu(self):
        self._pull_from_gpu()
        self._gpu = None

    def _input(self, X, name="X", n_features=None):
        """X validated, on the model's device."""
        if self._on_gpu():
            return as_device_matrix(X, self._device_network_ops(), name, n_features,
                                    type(self).__name__)
        return as_float32_matrix(X, name, n_features, type(self).__name__)

    def _device_network_ops(self):
        return self._gpu.ops if self._gpu is not None else cuda_ops()

    def __sklearn_is_fitted__(self):
        return hasattr(self, "network_")

    def _check_fitted(self):
        if not hasattr(self, "network_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit or partial_fit first")

    # ------------------------------------------------------------ training
    def fit(self, X, y=None, *, validation_data=None):
        """Trains from a fresh initialisation; returns self."""
        cfg = self._checked_config()
        X = self._check_training_data(self._input(X), cfg)
        X_val = self._validation_array(validation_data, X.shape[1], cfg)
        self._build(X.shape[1], cfg)
        self._train(X, X_val, cfg["epochs"], cfg)
        return self

    def partial_fit(self, X, y=None, *, validation_data=None):
        """One more epoch over X, building the model on first use."""
        cfg = self._checked_config()
        fitted = hasattr(self, "network_")
        X = self._input(X, n_features=self.n_features_in_ if fitted else None)
        X = self._check_training_data(X, cfg)
        X_val = self._validation_array(validation_data, X.shape[1], cfg)
        if not fitted:
            self._build(X.shape[1], cfg)
        else:
            self._check_same_architecture(cfg)
            self.network_.set_learning_rate(cfg["learning_rate"])
            if self._gpu is not None:
                self._gpu.set_learning_rate(cfg["learning_rate"])
        self._train(X, X_val, 1, cfg)
        return self

    def _check_same_architecture(self, cfg):
        table = self._layer_table(self.n_features_in_, cfg)
        if [table.input_width(l) for l in range(len(table) + 1)] != self.layer_widths_:
            raise ValueError("hidden changed since the model was built; call fit to rebuild")

    def _check_training_data(self, X, cfg):
        # A few float32 ulps of slack: scalers such as MinMaxScaler on float32
        # data round to values like 1.0000001.
        if cfg["loss"] == "bce" and (float(X.min()) < -_BCE_SLACK or
                                     float(X.max()) > 1.0 + _BCE_SLACK):
            raise ValueError(
                f"loss='bce' needs data in [0, 1]; got values in [{float(X.min())}, "
                f"{float(X.max())}] "
                "(rescale the data or use loss='mse')")
        return X

    def _validation_array(self, validation_data, n_features, cfg):
        if validation_data is None:
            return None
        if isinstance(validation_data, tuple):
            validation_data = validation_data[0]
        X_val = as_float32_matrix(validation_data, "validation_data", n_features,
                                  type(self).__name__)
        return self._check_training_data(X_val, cfg)

    def _progress(self, epochs):
        verbose = self.verbose
        show = sys.stderr.isatty() if verbose == "auto" else bool(verbose)
        from tqdm.auto import tqdm

        return tqdm(range(epochs), desc=type(self).__name__, unit="epoch", disable=not show,
                    leave=True)

    def _train(self, X, X_val, epochs, cfg):
        net = self.network_
        batch = cfg["batch_size"]
        gpu = self._device_network() if self._on_gpu() else None
        if gpu is None:
            net.reserve(min(batch, X.shape[0]))
        n = X.shape[0]
        monitor = "val_loss" if X_val is not None else "loss"
        best, best_params, stale = math.inf, None, 0
        bar = self._progress(epochs)
        for _ in bar:
            order = self._shuffle_rng.permutation(n) if self.shuffle else np.arange(n)
            loss = self._train_epoch(X, order.astype(np.int64), batch, gpu)
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"training diverged (loss {loss}); lower learning_rate")
            self.history_["loss"].append(loss)
            if X_val is not None:
                self.history_["val_loss"].append(self._validation_loss(X_val))
            bar.set_postfix({k: f"{v[-1]:.5f}" for k, v in self.history_.items() if v})
            if self.patience is not None:
                current = self.history_[monitor][-1]
                if current < best - self.tol:
                    best, stale = current, 0
                    best_params = gpu.snapshot() if gpu is not None else net.params.copy()
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
        bar.close()
        if best_params is not None:
            if gpu is not None:
                gpu.restore(best_params, parts=("params",))
            else:
                net.params[:] = best_params

    def _train_epoch(self, X, order, batch, gpu):
        """One pass over X in ``order``; returns the mean training loss."""
        if gpu is not None:
            return float(gpu.train_epoch(X, order, batch)[0]) / X.shape[0]
        total = 0.0
        for start in range(0, X.shape[0], batch):
            rows = order[start:start + batch]
            total += self._train_batch(X, rows) * len(rows)
        return total / X.shape[0]

    def _validation_loss(self, X_val):
        """The training loss on held-out data (comparable across epochs)."""
        return float(self.score_samples(X_val).mean())

    def _train_batch(self, X, rows):
        """One C++ step; returns the batch's mean loss."""
        return self.network_.train_step(X, rows)[0]

    # ----------------------------------------------------------- inference
    def _run(self, X, first, last, n_features, name="X", out=None):
        self._check_fitted()
        if self._on_gpu():
            _no_out_on_gpu(out)
            gpu = self._device_network()
            result = gpu.forward(as_device_matrix(X, gpu.ops, name, n_features,
                                                  type(self).__name__), first, last)
            return to_callers_side(result, X, gpu.ops)
        X = as_float32_matrix(X, name, n_features, type(self).__name__)
        out = _output_array(out, (X.shape[0], self.layer_widths_[last]))
        self.network_.forward(X, out, first, last)
        return out

    def transform(self, X, out=None):
        """The code: output of the innermost hidden layer, (n, hidden[-1]).
        ``out`` (float32, C-contiguous) receives it without an allocation."""
        self._check_fitted()
        return self._run(X, 0, self.network_.table.decoder_start, self.n_features_in_, out=out)

    def inverse_transform(self, Z, out=None):
        """Decodes codes (n, hidden[-1]) back to (n, n_features)."""
        self._check_fitted()
        table = self.network_.table
        code = table.decoder_start
        return self._run(Z, code, len(table), self.layer_widths_[code], "Z", out)

    def reconstruct(self, X, out=None):
        """Encode then decode: (n, n_features) -> (n, n_features)."""
        self._check_fitted()
        return self._run(X, 0, len(self.network_.table), self.n_features_in_, out=out)

    def score_samples(self, X, out=None):
        """Per-sample reconstruction error: the training loss averaged over
        each sample's features. Higher means more anomalous."""
        self._check_fitted()
        return self._scores(X, X, out)

    def score(self, X, y=None):
        """Mean of ``-score_samples(X)``, higher is better (for GridSearchCV
        and cross_val_score): the negative mean reconstruction loss; for a VAE
        the mean ELBO, from score_samples' fixed draws. ``y`` is ignored."""
        return -float(self.score_samples(X).mean(dtype=np.float64))

    def _scores(self, X, target, out=None):
        """Per-sample loss of reconstructing ``target`` from ``X``."""
        if self._on_gpu():
            _no_out_on_gpu(out)
            gpu = self._device_network()
            owner = type(self).__name__
            Xd = as_device_matrix(X, gpu.ops, "X", self.n_features_in_, owner)
            Td = Xd if target is X else as_device_matrix(target, gpu.ops, "X",
                                                         self.n_features_in_, owner)
            L = len(self.network_.table)
            pred = gpu.forward(Xd, 0, L, logits=self._checked_config()["loss"] == "bce")
            return to_callers_side(gpu.loss_rows(pred, Td), X, gpu.ops)
        owner = type(self).__name__
        X = as_float32_matrix(X, "X", self.n_features_in_, owner)
        target = X if target is X else as_float32_matrix(target, "X", self.n_features_in_, owner)
        scores = _output_array(out, (X.shape[0],))
        self.network_.row_losses(X, target, scores, 0)
        return scores

    # ---------------------------------------------------------------- files
    def _tensors(self):
        net = self.network_
        params = net.params
        tensors = {}
        for i, spec in enumerate(net.table.layers):
            if spec.owns_weight:
                o = spec.weight_offset
                tensors[f"layers.{i}.weight"] = params[o:o + spec.d_in * spec.d_out] \
                    .reshape(spec.d_out, spec.d_in)
            o = spec.bias_offset
            tensors[f"layers.{i}.bias"] = params[o:o + spec.d_out]
        for k in (0, 1):
            state = net.optimizer_state(k)
            if state is not None:
                tensors[f"optimizer.state{k}"] = state
        return tensors

    def _file_payload(self):
        """(tensors, metadata) of this model's file."""
        self._check_fitted()
        self._pull_from_gpu()
        from . import __version__

        meta = {
            "model": type(self).__name__,
            "config": self._params_for_file(),
            "n_features": self.n_features_in_,
            "layers": table_to_json(self.network_.table),
            "pyae_version": __version__,
            "training": {
                "history": self.history_,
                "step_count": self.network_.step_count,
                "shuffle_rng": self._shuffle_rng.bit_generator.state,
            },
        }
        return self._tensors(), meta

    def save(self, path):
        """Writes one .safetensors file (weights, optimiser state, config)."""
        write_model_file(path, *self._file_payload())

    # Pickling (joblib, multiprocessing, GridSearchCV(n_jobs=...)) goes through
    # the same safetensors bytes as a saved file, never through the C++ object.
    def __getstate__(self):
        if not hasattr(self, "network_"):
            return {"params": self.get_params()}
        return {"params": self.get_params(), "model_file": encode_model(*self._file_payload())}

    def __setstate__(self, state):
        if "model_file" in state:
            tensors, meta = decode_model(state["model_file"], "pickled model")
            self.__dict__.update(type(self)._from_file(tensors, meta, "pickled model").__dict__)
        self.set_params(**state["params"])

    def _params_for_file(self) -> dict:
        """get_params() in JSON-ready form."""
        params = self.get_params()
        params["hidden"] = list(self._checked_config()["hidden"])
        del params["device"]  # files are device-independent; load(path, device=...)
        return params

    @classmethod
    def _params_from_file(cls, params: dict) -> dict:
        params = {k: v for k, v in params.items() if k in cls._param_names()}
        if isinstance(params.get("hidden"), list):  # JSON has no tuples
            params["hidden"] = tuple(params["hidden"])
        return params

    @classmethod
    def _from_file(cls, tensors, meta, path):
        try:
            model = cls(**cls._params_from_file(meta["config"]))
            cfg = model._checked_config()
            n_features = positive_int(meta["n_features"], "n_features")
        except (ValueError, KeyError, TypeError) as e:
            raise ModelFileError(f"{path!r} has an invalid config: {e}") from None
        model._build(n_features, cfg)
        if meta["format_version"] >= 2 and meta.get("layers") != table_to_json(model.network_.table):
            raise ModelFileError(f"{path!r}: its layer table does not match its config")
        targets = model._tensors()  # views into the new model's parameter buffer
        extra = set(tensors) - set(targets)
        if extra:
            raise ModelFileError(f"{path!r} has unexpected tensors {sorted(extra)}")
        for name, target in targets.items():
            if name.startswith("optimizer.") and name not in tensors:
                continue  # a file may omit the optimiser state
            target[...] = expect_tensor(tensors, name, target.shape, path)
        training = meta.get("training", {})
        try:
            model.history_ = {k: [float(x) for x in training.get("history", {}).get(k, [])]
                              for k in ("loss", "val_loss")}
            model.network_.step_count = int(training.get("step_count", 0))
            if "shuffle_rng" in training:
                model._shuffle_rng.bit_generator.state = training["shuffle_rng"]
        except (TypeError, ValueError, KeyError) as e:
            raise ModelFileError(f"{path!r} has corrupt training metadata: {e}") from None
        return model


_BCE_SLACK = 1e-6


def _no_out_on_gpu(out):
    if out is not None:
        raise ValueError("out= is supported on device='cpu' only")


def _output_array(out, shape):
    """A new float32 array, or the caller's ``out`` after checking it."""
    if out is None:
        return np.empty(shape, dtype=np.float32)
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or \
            not out.flags.c_contiguous or not out.flags.writeable:
        raise TypeError("out must be a writeable, C-contiguous float32 numpy.ndarray")
    if out.shape != tuple(shape):
        raise ValueError(f"out has shape {out.shape}, expected {tuple(shape)}")
    return out


MODEL_CLASSES = {"Autoencoder": Autoencoder}


def load(path, device="cpu"):
    """Loads a model saved with ``save`` onto ``device``; raises
    ModelFileError on a bad file."""
    device = check_device(device)
    tensors, meta = read_model_file(path)
    kind = meta.get("model")
    if kind not in MODEL_CLASSES:
        raise ModelFileError(f"{path!r} holds an unknown model type {kind!r}")
    if not isinstance(meta.get("config"), dict):
        raise ModelFileError(f"{path!r} lacks its model config")
    return MODEL_CLASSES[kind]._from_file(tensors, meta, path).to(device)
