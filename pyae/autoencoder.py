"""Dense autoencoders with a scikit-learn style API.

The network is a pyae._core.Network built from the model's layer table:
parameters live in one flat C++ buffer, and each mini-batch is one C++ call
(forward, loss, backward and optimiser update) with the GIL released.
"""

from __future__ import annotations

import numpy as np

from . import _core
from ._enums import ACTIVATIONS
from ._estimator import COMMON_PARAMETERS, BaseAutoencoder, NotFittedError
from ._model_file import MODEL_CLASSES, load

__all__ = ["Autoencoder", "NotFittedError", "load"]

_COMMON_DOC = """
    activation : str, default={activation!r}
        Activation of every hidden layer: "sigmoid", "relu", "tanh",
        "leaky_relu" (slope 0.01), "elu" (alpha 1), "gelu" (exact, erf form),
        "silu" or "identity".
    output_activation : str, default={output_activation!r}
        Activation of the output layer (same names).
    optimizer : {{"adam", "sgd"}}, default="adam"
        Adam, or SGD with momentum (torch.optim's formulas).
    learning_rate : float > 0, default=1e-3
    batch_size : int >= 1, default=128
    epochs : int >= 1, default=10
        Epochs of ``fit``; ``partial_fit`` runs one.
    momentum : float in [0, 1), default=0.9
        SGD's momentum.
    beta1, beta2 : float in [0, 1), default=0.9, 0.999
        Adam's moment decay rates.
    eps : float > 0, default=1e-8
        Adam's epsilon.
    shuffle : bool, default=True
        Reshuffle the rows every epoch (from ``seed``).
    patience : int >= 1 or None, default=None
        Early stopping: stop after ``patience`` epochs without an improvement
        larger than ``tol`` of the monitored loss (``val_loss`` when
        validation data is given, else ``loss``) and restore the weights of
        the best epoch.
    tol : float >= 0, default=0.0
    verbose : bool or "auto", default="auto"
        A progress bar; "auto" shows it when stderr is a terminal.
    seed : int or None, default=0
        Seeds the weights, the shuffling and every noise draw: the same seed
        and thread count give the same bits.
    device : {{"cpu", "cuda"}}, default="cpu"
        Where the model trains and runs (see ``to``); model files do not
        depend on it.
    contamination : "auto" or float in (0, 0.5], default="auto"
        The expected share of outliers in the training data: ``threshold_``
        is the training scores' (1 - contamination) quantile ("auto": 0.01).
        ``calibrate`` sets it from held-out normal data instead.
    anomaly_score : str, default={anomaly_score!r}
        What ``score_samples`` returns (higher = more anomalous); the names
        and their meanings: ``anomaly_scores()``. The default is the score
        whose worse data set has the best mean one-class ROC-AUC on the
        training splits of Fashion-MNIST and MNIST
        (``benchmarks/bench_anomaly.py``).
    scale : {{None, "standard", "minmax"}}, default=None
        Per-feature scaling learnt in ``fit`` and kept with the model (and
        its file): the network sees standardised or [0, 1]-scaled features,
        and reconstructions come back in the data's own units.
    precision : {{"fp32", "bf16", "int8"}}, default="fp32"
        The arithmetic of every matrix product, in training and inference:
        "bf16" rounds both operands to bfloat16 (to nearest even) and
        accumulates in float32 on AMX-BF16 tiles or AVX512-BF16 dot products
        (``pyae.cpu_features()`` says which); weights, gradients, optimiser
        state and model files stay float32. "int8" is for inference only:
        weights quantised per output channel, inputs per row, exact int32
        sums on AMX-INT8 or AVX512-VNNI (training refuses it). Takes effect
        at the next call, so a float32-trained model can serve in bf16 or
        int8. A CPU without the instructions raises RuntimeError naming what
        is missing; CPU only.
"""


def common_parameters_doc(**defaults) -> str:
    """The numpydoc entries every model shares, with this model's defaults."""
    return _COMMON_DOC.format(**defaults)


def autoencoder_table(n_features, cfg):
    """The mirrored table of an (optionally tied) autoencoder."""
    return _core.LayerTable.autoencoder(
        n_features, list(cfg["hidden"]), ACTIVATIONS[cfg["activation"]],
        ACTIVATIONS[cfg["output_activation"]], cfg["tied_weights"])


def _hidden_not_empty(value, name):
    hidden = COMMON_PARAMETERS["hidden"](value, name)
    if not hidden:
        raise ValueError("hidden must name at least one layer width")
    return hidden


def _flag(value, name):
    # bool("false") is True: a string or number here is a mistake.
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


AUTOENCODER_PARAMETERS = {"hidden": _hidden_not_empty, "tied_weights": _flag}


class Autoencoder(BaseAutoencoder):
    __doc__ = """Dense autoencoder: encoder D -> hidden..., decoder mirrors it back to D.

    ``hidden=(3, 2)`` on 4 features gives the 4-3-2-3-4 network; the code is
    the output of the innermost layer.

    Parameters
    ----------
    hidden : sequence of int, default=(256, 64)
        Widths of the encoder's layers; the decoder mirrors them.
    loss : {"mse", "bce"}, default="mse"
        Mean over all elements of the squared error, or of the binary
        cross-entropy computed from logits (needs a sigmoid output and data
        in [0, 1]).
    tied_weights : bool, default=False
        Each decoder layer uses the transpose of its mirrored encoder weight.
    """ + common_parameters_doc(activation="sigmoid", output_activation="sigmoid",
                                anomaly_score="combined")

    PARAMETERS = AUTOENCODER_PARAMETERS

    def __init__(self, hidden=(256, 64), activation="sigmoid", output_activation="sigmoid",
                 loss="mse", tied_weights=False, optimizer="adam", learning_rate=1e-3,
                 batch_size=128, epochs=10, momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8,
                 shuffle=True, patience=None, tol=0.0, verbose="auto", seed=0, device="cpu",
                 contamination="auto", anomaly_score="combined", scale=None,
                 precision="fp32"):
        self._store_params(locals())

    def _layer_table(self, n_features, cfg):
        return autoencoder_table(n_features, cfg)


MODEL_CLASSES["Autoencoder"] = Autoencoder
