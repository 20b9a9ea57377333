"""The lecture's exercise: a 4-3-2-3-4 autoencoder on a 4-feature data set.

The iris measurements (4 features, bundled with scikit-learn), scaled to
[0, 1], go through an encoder of 3 then 2 sigmoid neurons and a mirrored
decoder of 3 then 4. The script prints the layers, the neurons per layer and
the parameter counts (check them by hand: weights 4*3 + 3*2 + 2*3 + 3*4 = 36,
biases 3 + 2 + 3 + 4 = 12), trains the network by backpropagation to minimise
the reconstruction error ||x - x'||^2, and plots the 2-D codes and the loss.

    python examples/exercise_4_3_2_3_4.py [--quick] [--out FOLDER]
"""

import os

import matplotlib
import numpy as np
from sklearn.datasets import load_iris

import pyae

from _args import parse, save

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)

args = parse(__doc__.splitlines()[0])
iris = load_iris()
X = iris.data.astype(np.float32)
X = (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))  # sigmoid outputs: [0, 1]

model = pyae.Autoencoder(hidden=(3, 2), activation="sigmoid", output_activation="sigmoid",
                         loss="mse", learning_rate=0.01, batch_size=16,
                         epochs=100 if args.quick else 2000, seed=0, verbose=False)
model.summary(n_features=4)  # before training: the architecture alone
with open(os.path.join(args.out, "exercise_summary.txt"), "w") as f:
    f.write(model.summary(n_features=4, print_fn=str) + "\n")
print(repr(model))
model.fit(X)
print(repr(model))
print(f"mean squared reconstruction error: {model.history_['loss'][0]:.4f} (first epoch) -> "
      f"{model.history_['loss'][-1]:.4f} (epoch {len(model.history_['loss'])})")

codes = model.transform(X)  # the 2 neurons of the middle layer
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
for k, name in enumerate(iris.target_names):
    left.scatter(*codes[iris.target == k].T, s=12, label=name)
left.set(title="Codes of the 4-3-2-3-4 network", xlabel="neuron 1", ylabel="neuron 2")
left.legend()
right.plot(model.history_["loss"])
right.set(title="Reconstruction error", xlabel="epoch", ylabel="MSE", yscale="log")
save(fig, args, "exercise_codes.png")
