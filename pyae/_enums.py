"""Names the Python API uses for the integer codes of the C++ enums."""

ACTIVATIONS = {"identity": 0, "sigmoid": 1, "relu": 2, "tanh": 3}
LOSSES = {"mse": 0, "bce": 1}
OPTIMIZERS = {"adam": 0, "sgd": 1}
