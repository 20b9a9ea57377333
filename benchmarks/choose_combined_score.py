"""How "combined" weighs its parts. Evidence from the training splits only
(the test splits are not touched).

The one-class selection protocol of bench_anomaly.py: for each class, 80% of
its training images train the model (bench_anomaly's settings); the other
20% are the normal validation rows and 2,000 training images of other
classes the anomalies. Each part of "combined" (the logs of standardized,
latent and hidden_neighbours) is centred and scaled by the training median
and spread fit learnt; the mean validation ROC-AUC of
hidden_neighbours + w_s * standardized + w_l * latent is printed for a grid
of weights. "combined" uses the pair whose worse data set is best (a
default must hold on each kind of data; the mean of the two lets a gain on
one hide a loss on the other): pyae/_outliers.py, COMBINED.

    PYAE_DATA_DIR=../shared/datasets python benchmarks/choose_combined_score.py [--model AE]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
from sklearn.metrics import roc_auc_score

import bench_anomaly as B
from pyae._outliers import COMBINED, _log

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def standard_parts(model, X):
    """The parts of "combined" on X, each log centred and scaled as "combined" does."""
    stats = model.outlier_stats_
    parts, m = model._combined_parts(X, stats), stats["combined_moments"].reshape(-1, 3)
    return {name: (_log(parts[name], floor) - median) / spread
            for name, (floor, median, spread) in zip(COMBINED, m)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="AE", choices=list(B.PYAE_MODELS))
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    args = ap.parse_args()
    B.PRECISION = args.precision
    print(f"CPU: {B.cpu_model()}; pyae {B.pyae.__version__} ({B.pyae.simd_level()}); "
          f"{args.model}, {B.EPOCHS} epochs, batch {B.BATCH}, {args.precision}; "
          "training splits only")
    aucs = {}  # (w_s, w_l) -> data set -> per-class AUCs
    for name in ("fashion-mnist", "mnist"):
        X_tr, y_tr, _, _ = B.load(name)
        for c, X_fit, X_val, is_anomaly in B.selection_tasks(X_tr, y_tr, range(10)):
            z = standard_parts(B.PYAE_MODELS[args.model]().fit(X_fit), X_val)
            for ws, wl in itertools.product(WEIGHTS, WEIGHTS):
                score = z["hidden_neighbours"] + ws * z["standardized"] + wl * z["latent"]
                aucs.setdefault((ws, wl), {}).setdefault(name, []).append(
                    100 * roc_auc_score(is_anomaly, score))
    rows = sorted((min(f, m), (f + m) / 2, f, m, w) for w, (f, m) in
                  ((w, (np.mean(a["fashion-mnist"]), np.mean(a["mnist"]))) for w, a in aucs.items()))
    print("\nmean validation ROC-AUC %: worse data set, mean of both, Fashion-MNIST, MNIST  "
          "<- (w_s, w_l)")
    for worse, both, f, m, w in rows:
        chosen = " <- COMBINED" if w == (COMBINED["standardized"], COMBINED["latent"]) else ""
        print(f"  {worse:6.2f} {both:6.2f} {f:6.2f} {m:6.2f}  <- {w}{chosen}")


if __name__ == "__main__":
    main()
