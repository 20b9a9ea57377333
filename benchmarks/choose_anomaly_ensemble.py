"""Would an ensemble of pyae's models beat each one as an anomaly detector?
Evidence from the training splits only (the test splits are not touched).

The one-class selection protocol of bench_anomaly.py: for each class, 80% of
its training images train AE, DAE and VAE (bench_anomaly's settings); the
other 20% are the normal validation rows and 2,000 training images of other
classes the anomalies. The models' "combined" scores (each centred and
scaled by its training median and spread) are summed over chosen models;
the mean validation ROC-AUC of each rule is printed.

    PYAE_DATA_DIR=../shared/datasets python benchmarks/choose_anomaly_ensemble.py [--precision bf16]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.metrics import roc_auc_score

import bench_anomaly as B

RULES = {  # label -> the models whose combined scores are summed
    "AE": ["AE"],
    "DAE": ["DAE"],
    "VAE": ["VAE"],
    "AE + VAE": ["AE", "VAE"],
    "DAE + VAE": ["DAE", "VAE"],
    "AE + DAE + VAE": ["AE", "DAE", "VAE"],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    B.PRECISION = ap.parse_args().precision
    print(f"CPU: {B.cpu_model()}; pyae {B.pyae.__version__} ({B.pyae.simd_level()}); "
          f"{B.EPOCHS} epochs, batch {B.BATCH}, {B.PRECISION}; training splits only")
    for name in ("fashion-mnist", "mnist"):
        X_tr, y_tr, _, _ = B.load(name)
        aucs = {label: [] for label in RULES}
        for c, X_fit, X_val, is_anomaly in B.selection_tasks(X_tr, y_tr, range(10)):
            scores = {m: make().fit(X_fit)._scores(X_val, "combined")
                      for m, make in B.PYAE_MODELS.items()}
            for label, models in RULES.items():
                score = sum(scores[m] for m in models)
                aucs[label].append(100 * roc_auc_score(is_anomaly, score))
        print(f"\n{name}: mean validation ROC-AUC % (per class 0..9)")
        for label, a in aucs.items():
            print(f"  {label:<28}{np.mean(a):6.2f}   " + " ".join(f"{x:.1f}" for x in a))


if __name__ == "__main__":
    main()
