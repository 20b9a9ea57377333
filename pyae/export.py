"""ONNX export (optional extra: pip install 'pyae[onnx]'; torch is not used).

``export_onnx(model, path, part)`` writes a graph of Gemm + activation nodes
with a dynamic batch dimension:

- Autoencoder / DenoisingAutoencoder: "full" maps input -> output
  (reconstruction), "encoder" input -> output (the code), "decoder" the code
  -> output.
- VAE: "encoder" maps input -> (mu, logvar); "decoder" z -> output (the
  decoder mean); "full" input -> output through the posterior mean.
"""

from __future__ import annotations

import numpy as np

from ._io import atomic_write_bytes

__all__ = ["export_onnx"]

_ACT_OPS = {"sigmoid": "Sigmoid", "relu": "Relu", "tanh": "Tanh", "identity": None}
PARTS = ("full", "encoder", "decoder")


class _Graph:
    def __init__(self, helper, numpy_helper):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.inits, self.names = [], [], set()

    def constant(self, name, array):
        if name not in self.names:
            self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
            self.names.add(name)
        return name

    def dense(self, x, weight, bias, act, out, trans_b=True):
        """out = act(x @ W^T + b) (or x @ W with trans_b=False)."""
        pre = out if _ACT_OPS[act] is None else out + "_pre"
        self.nodes.append(self.helper.make_node("Gemm", [x, weight, bias], [pre],
                                                transB=1 if trans_b else 0))
        if _ACT_OPS[act] is not None:
            self.nodes.append(self.helper.make_node(_ACT_OPS[act], [pre], [out]))
        return out


def _layer_tensors(model):
    """Per layer: (weight name, weight array, transposed, bias name, bias)."""
    net = model.network_
    params = net.params
    specs = net.layer_specs()
    owner_name = {}
    out = []
    for i, s in enumerate(specs):
        n = s["d_in"] * s["d_out"]
        w = params[s["weight_offset"]:s["weight_offset"] + n]
        if s["weight_transposed"]:
            w = w.reshape(s["d_in"], s["d_out"])
            name = owner_name[s["weight_offset"]]
        else:
            w = w.reshape(s["d_out"], s["d_in"])
            name = owner_name.setdefault(s["weight_offset"], f"layers.{i}.weight")
        b = params[s["bias_offset"]:s["bias_offset"] + s["d_out"]]
        out.append((name, w, s["weight_transposed"], f"layers.{i}.bias", b))
    return out


def _chain(graph, tensors, acts, first, last, x, final):
    for i in range(first, last):
        wname, w, transposed, bname, b = tensors[i]
        if transposed:  # a tied layer's weight is its encoder twin's
            owner = int(wname.split(".")[1])
            graph.constant(wname, tensors[owner][1])
        else:
            graph.constant(wname, w)
        graph.constant(bname, b)
        x = graph.dense(x, wname, bname, acts[i], final if i == last - 1 else f"h{i}",
                        trans_b=not transposed)
    return x


def export_onnx(model, path, part="full", opset=17):
    """Writes ``model`` (or its encoder/decoder) as an ONNX file at ``path``."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise ImportError("export_onnx needs the onnx package: pip install 'pyae[onnx]'") from None
    from . import __version__
    from .vae import VAE

    model._check_fitted()
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    g = _Graph(helper, numpy_helper)
    tensors = _layer_tensors(model)
    acts = model.activations_
    L = len(tensors)
    widths = model.layer_widths_
    D = model.n_features_in_

    def tensor(name, width):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", width])

    if isinstance(model, VAE):
        Z = model.latent_dim
        head = len(model._checked_config()["hidden"])
        outputs = []
        if part in ("encoder", "full"):
            h = _chain(g, tensors, acts, 0, head, "input", "hidden") if head else "input"
            _, w, _, _, b = tensors[head]
            for k, name in enumerate(("mu", "logvar")):
                if part == "full" and name == "logvar":
                    continue
                g.constant(f"head.{name}.weight", w[k * Z:(k + 1) * Z])
                g.constant(f"head.{name}.bias", b[k * Z:(k + 1) * Z])
                g.dense(h, f"head.{name}.weight", f"head.{name}.bias", "identity", name)
            inputs = [tensor("input", D)]
            outputs = [tensor("mu", Z), tensor("logvar", Z)]
        if part in ("decoder", "full"):
            z = "mu" if part == "full" else "z"
            _chain(g, tensors, acts, head + 1, L, z, "output")
            inputs = [tensor("input", D)] if part == "full" else [tensor("z", Z)]
            outputs = [tensor("output", D)]
    else:
        code = model.network_.code_layer
        first, last = {"full": (0, L), "encoder": (0, code), "decoder": (code, L)}[part]
        _chain(g, tensors, acts, first, last, "input", "output")
        inputs = [tensor("input", widths[first])]
        outputs = [tensor("output", widths[last])]

    graph = helper.make_graph(g.nodes, f"pyae_{type(model).__name__}_{part}", inputs, outputs,
                              initializer=g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="pyae", producer_version=__version__)
    proto.ir_version = min(proto.ir_version, 9)  # readable by older runtimes too
    onnx.checker.check_model(proto)
    atomic_write_bytes(path, proto.SerializeToString())
