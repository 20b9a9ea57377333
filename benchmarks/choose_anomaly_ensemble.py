"""Would an ensemble of pyae's models beat each one as an anomaly detector?
Evidence from the training splits only (the test splits are not touched).

The one-class selection protocol of bench_anomaly.py: for each class, 80% of
its training images train AE, DAE and VAE (bench_anomaly's settings); the
other 20% are the normal validation rows and 2,000 training images of other
classes the anomalies. Each model's score parts (standardized residual,
latent Mahalanobis, latent neighbours), each centred and scaled by its
training moments as "combined" does, are summed over chosen models and
parts; the mean validation ROC-AUC of each rule is printed.

    PYAE_DATA_DIR=../shared/datasets python benchmarks/choose_anomaly_ensemble.py
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

import bench_anomaly as B

RULES = {  # label -> (model, parts) summed
    "AE combined (s+l+n)": [("AE", "sln")],
    "DAE combined": [("DAE", "sln")],
    "VAE standardized": [("VAE", "s")],
    "AE + VAE combined": [("AE", "sln"), ("VAE", "sln")],
    "AE combined + VAE (s+n)": [("AE", "sln"), ("VAE", "sn")],
    "DAE + VAE combined": [("DAE", "sln"), ("VAE", "sln")],
    "AE + DAE + VAE combined": [("AE", "sln"), ("DAE", "sln"), ("VAE", "sln")],
}


def parts_of(model, X):
    """A fitted model's score parts on X, each in training standard units."""
    stats, m = model.outlier_stats_, model.outlier_stats_["moments"]
    codes = model._codes(X)
    return {"s": (model._standardized(X, stats) - m[0]) / m[1],
            "l": (model._latent(X, stats, codes) - m[2]) / m[3],
            "n": (model._neighbours(codes, stats) - m[4]) / m[5]}


def main():
    print(f"CPU: {B.cpu_model()}; pyae {B.pyae.__version__} ({B.pyae.simd_level()}); "
          f"{B.EPOCHS} epochs, batch {B.BATCH}; training splits only")
    for name in ("fashion-mnist", "mnist"):
        X_tr, y_tr, _, _ = B.load(name)
        aucs = {label: [] for label in RULES}
        for c, X_fit, X_val, is_anomaly in B.selection_tasks(X_tr, y_tr, range(10)):
            parts = {m: parts_of(make().fit(X_fit), X_val) for m, make in B.PYAE_MODELS.items()}
            for label, terms in RULES.items():
                score = sum(parts[m][p] for m, ps in terms for p in ps)
                aucs[label].append(100 * roc_auc_score(is_anomaly, score))
        print(f"\n{name}: mean validation ROC-AUC % (per class 0..9)")
        for label, a in aucs.items():
            print(f"  {label:<28}{np.mean(a):6.2f}   " + " ".join(f"{x:.1f}" for x in a))


if __name__ == "__main__":
    main()
