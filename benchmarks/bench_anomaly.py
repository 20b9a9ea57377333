"""One-class anomaly detection, the standard protocol (Golan & El-Yaniv 2018,
Bergman & Hoshen 2020): train on the training images of one class, score
the test images, ROC-AUC with the other nine classes as anomalies, mean over
the ten classes. Fashion-MNIST (60k/10k) and MNIST (the 8,000 / 2,000 split
of its test set that pyae.datasets.load_train_test makes).

    PYAE_DATA_DIR=../shared/datasets python benchmarks/bench_anomaly.py [--quick] [--precision bf16]

1. Selection, on the training splits only: for each class, 80% of its
   training images train, the other 20% are the normal validation rows and
   2,000 training images of the other classes the anomalies. Each model's
   default is its anomaly score whose worse data set has the best mean AUC.
2. Test, reported once: pyae's models (every score, the chosen default
   marked), pyae.AnomalyEnsemble of the three, scikit-learn's
   IsolationForest and PyOD's AutoEncoder and VAE
   (same layer widths, epochs and batch size), in this run, with fit and
   score times. pyae and PyTorch (PyOD) both use the same thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

import pyae
from pyae import datasets

from machine import cpu_model

EPOCHS, BATCH = 20, 128
PRECISION = "fp32"  # --precision: pyae's models only (the baselines are fp32)
PYAE_MODELS = {
    "AE": lambda: pyae.Autoencoder(hidden=(256, 64), epochs=EPOCHS, batch_size=BATCH,
                                   verbose=False, precision=PRECISION),
    "DAE": lambda: pyae.DenoisingAutoencoder(hidden=(256, 64), noise=pyae.noise.Gaussian(0.2),
                                             epochs=EPOCHS, batch_size=BATCH, verbose=False,
                                             precision=PRECISION),
    "VAE": lambda: pyae.VAE(hidden=(400,), latent_dim=20, loss="bce", epochs=EPOCHS,
                            batch_size=BATCH, verbose=False, precision=PRECISION),
}


def load(name):
    if name == "fashion-mnist":
        X_tr, y_tr = datasets.load_fashion_mnist("train", download=False)
        X_te, y_te = datasets.load_fashion_mnist("test", download=False)
        return X_tr, y_tr, X_te, y_te
    X_tr, y_tr, X_te, y_te, _ = datasets.load_train_test("mnist", download=False, seed=0)
    return X_tr, y_tr, X_te, y_te


def selection_tasks(X_tr, y_tr, classes):
    """(class, fit rows, validation rows, validation is-anomaly) from the
    training split only."""
    for c in classes:
        rng = np.random.default_rng(c)
        normal = rng.permutation(np.flatnonzero(y_tr == c))
        cut = int(0.8 * len(normal))
        others = rng.choice(np.flatnonzero(y_tr != c), 2000, replace=False)
        val = np.concatenate([normal[cut:], others])
        yield c, X_tr[normal[:cut]], X_tr[val], np.r_[np.zeros(len(normal) - cut), np.ones(2000)]


def test_tasks(X_tr, y_tr, X_te, y_te, classes):
    for c in classes:
        yield c, X_tr[y_tr == c], X_te, (y_te != c).astype(float)


def pyae_aucs(make, X_fit, X_eval, is_anomaly):
    """AUC of every anomaly score of one fitted pyae model, and the times."""
    model = make()
    t = time.perf_counter()
    model.fit(X_fit)
    fit_s = time.perf_counter() - t
    aucs, score_s = {}, {}
    for kind in model.anomaly_scores():
        model.set_params(anomaly_score=kind)
        t = time.perf_counter()
        scores = model.score_samples(X_eval)
        score_s[kind] = time.perf_counter() - t
        aucs[kind] = roc_auc_score(is_anomaly, scores)
    return aucs, fit_s, score_s


def baseline_auc(name, X_fit, X_eval, is_anomaly, threads):
    if name == "IsolationForest":
        from sklearn.ensemble import IsolationForest

        model = IsolationForest(random_state=0, n_jobs=threads)
    else:
        import torch
        torch.set_num_threads(threads)
        if name == "PyOD AutoEncoder":
            from pyod.models.auto_encoder import AutoEncoder

            model = AutoEncoder(hidden_neuron_list=[256, 64], preprocessing=True,
                                epoch_num=EPOCHS, batch_size=BATCH, verbose=0, random_state=0)
        else:
            from pyod.models.vae import VAE

            model = VAE(encoder_neuron_list=[400], decoder_neuron_list=[400], latent_dim=20,
                        epoch_num=EPOCHS, batch_size=BATCH, verbose=0, random_state=0)
    t = time.perf_counter()
    model.fit(X_fit)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    scores = model.decision_function(X_eval)  # PyOD and our convention: higher = anomalous
    if name == "IsolationForest":
        scores = -scores  # scikit-learn's: higher = normal
    return roc_auc_score(is_anomaly, scores), fit_s, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="classes 0 and 1 only, 2 epochs")
    ap.add_argument("--json", default=None, help="write all numbers here")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                    help="pyae's training and scoring arithmetic (the baselines stay fp32)")
    args = ap.parse_args()
    global EPOCHS, PRECISION
    PRECISION = args.precision
    if args.quick:
        EPOCHS = 2
    classes = [0, 1] if args.quick else list(range(10))
    threads = pyae.get_num_threads()
    print(f"CPU: {cpu_model()}; pyae {pyae.__version__} ({pyae.simd_level()}), {threads} "
          f"threads for pyae, PyTorch and IsolationForest; {EPOCHS} epochs, batch {BATCH}; "
          f"pyae precision {PRECISION} ({pyae.cpu_features()['bf16_path']} bf16 path)")
    data = {name: load(name) for name in ("fashion-mnist", "mnist")}
    results = {"selection": {}, "test": {}}

    # 1. Selection on the training splits.
    # Each model's default: the score whose worse data set has the best mean
    # validation AUC (a default must hold on each kind of data).
    chosen = {}
    for model_name, make in PYAE_MODELS.items():
        per_kind = {}  # score -> data set -> per-class AUCs
        for name, (X_tr, y_tr, _, _) in data.items():
            for c, X_fit, X_val, is_anomaly in selection_tasks(X_tr, y_tr, classes):
                aucs, _, _ = pyae_aucs(make, X_fit, X_val, is_anomaly)
                for kind, auc in aucs.items():
                    per_kind.setdefault(kind, {}).setdefault(name, []).append(auc)
        means = {k: {name: 100 * float(np.mean(a)) for name, a in v.items()}
                 for k, v in per_kind.items()}
        chosen[model_name] = max(means, key=lambda k: min(means[k].values()))
        results["selection"][model_name] = means
        print(f"selection, {model_name} (validation AUC %, " + " / ".join(data) + "): " +
              ", ".join(f"{k} " + "/".join(f"{a:.1f}" for a in v.values())
                        for k, v in means.items()) + f" -> {chosen[model_name]}")

    # 2. Test, once.
    for name, (X_tr, y_tr, X_te, y_te) in data.items():
        rows = {}
        for c, X_fit, X_eval, is_anomaly in test_tasks(X_tr, y_tr, X_te, y_te, classes):
            for model_name, make in PYAE_MODELS.items():
                aucs, fit_s, score_s = pyae_aucs(make, X_fit, X_eval, is_anomaly)
                for kind, auc in aucs.items():
                    mark = " (default)" if kind == chosen[model_name] else ""
                    row = rows.setdefault(f"pyae {model_name} {kind}{mark}",
                                          {"auc": [], "fit_s": [], "score_s": []})
                    row["auc"].append(100 * auc)
                    row["fit_s"].append(fit_s)
                    row["score_s"].append(score_s[kind])
            # The ensemble of the three (its score fixed: the sum of the members'
            # combined scores, chosen on the training splits by
            # choose_anomaly_ensemble.py).
            ensemble = pyae.AnomalyEnsemble(members=[make() for make in PYAE_MODELS.values()])
            t = time.perf_counter()
            ensemble.fit(X_fit)
            fit_s = time.perf_counter() - t
            t = time.perf_counter()
            auc = roc_auc_score(is_anomaly, ensemble.score_samples(X_eval))
            row = rows.setdefault("pyae AnomalyEnsemble (AE+DAE+VAE)",
                                  {"auc": [], "fit_s": [], "score_s": []})
            row["auc"].append(100 * auc)
            row["fit_s"].append(fit_s)
            row["score_s"].append(time.perf_counter() - t)
            for base in ("IsolationForest", "PyOD AutoEncoder", "PyOD VAE"):
                auc, fit_s, score_s = baseline_auc(base, X_fit, X_eval, is_anomaly, threads)
                row = rows.setdefault(base, {"auc": [], "fit_s": [], "score_s": []})
                row["auc"].append(100 * auc)
                row["fit_s"].append(fit_s)
                row["score_s"].append(score_s)
            print(f"  {name} class {c} done", flush=True)
        results["test"][name] = rows
        print(f"\n{name}: one-class ROC-AUC % on the test split (classes {classes})")
        print(f"{'model (score)':<42}{'mean':>6}  per class{'':<44}{'fit s':>7}{'score s':>8}")
        for label, row in rows.items():
            per = " ".join(f"{a:.1f}" for a in row["auc"])
            print(f"{label:<42}{np.mean(row['auc']):>6.1f}  {per:<53}"
                  f"{np.sum(row['fit_s']):>7.1f}{np.sum(row['score_s']):>8.2f}")
        ae = rows["pyae AE " + chosen["AE"] + (" (default)")]
        pyod = rows["PyOD AutoEncoder"]
        print(f"fit time PyOD AutoEncoder / pyae AE (same widths, epochs, batch): "
              f"{np.sum(pyod['fit_s']) / np.sum(ae['fit_s']):.1f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"chosen": chosen, **results}, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
