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

PARTS = ("full", "encoder", "decoder")
_SQRT_HALF = 0.7071067811865476


class _Graph:
    def __init__(self, helper, numpy_helper):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.inits, self.names = [], [], set()

    def constant(self, name, array):
        if name not in self.names:
            self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
            self.names.add(name)
        return name

    def node(self, op, inputs, output, **attrs):
        self.nodes.append(self.helper.make_node(op, inputs, [output], **attrs))
        return output

    def scalar(self, value):
        return self.constant(f"const.{value!r}", np.array(value, dtype=np.float32))

    def activation(self, x, act, out):
        """out = act(x) in opset-17 operators (GELU is exact: x * Phi(x))."""
        simple = {"sigmoid": "Sigmoid", "relu": "Relu", "tanh": "Tanh"}
        if act in simple:
            return self.node(simple[act], [x], out)
        if act == "leaky_relu":
            return self.node("LeakyRelu", [x], out, alpha=0.01)
        if act == "elu":
            return self.node("Elu", [x], out, alpha=1.0)
        if act == "silu":
            return self.node("Mul", [x, self.node("Sigmoid", [x], out + "_sig")], out)
        if act == "gelu":
            erf = self.node("Erf", [self.node("Mul", [x, self.scalar(_SQRT_HALF)], out + "_s")],
                            out + "_erf")
            cdf = self.node("Mul", [self.node("Add", [erf, self.scalar(1.0)], out + "_1p"),
                                    self.scalar(0.5)], out + "_cdf")
            return self.node("Mul", [x, cdf], out)
        raise ValueError(f"no ONNX form for activation {act!r}")

    def dense(self, x, weight, bias, act, out, trans_b=True):
        """out = act(x @ W^T + b) (or x @ W with trans_b=False)."""
        pre = out if act == "identity" else out + "_pre"
        self.node("Gemm", [x, weight, bias], pre, transB=1 if trans_b else 0)
        return out if act == "identity" else self.activation(pre, act, out)


def _layer_tensors(model):
    """Per row of the layer table: (weight name, weight array, transposed,
    bias name, bias); a tied layer names its encoder twin's weight."""
    params = model.network_.params
    out = []
    for i, s in enumerate(model.network_.table.layers):
        owner = s.tied_to if s.tied_to >= 0 else i
        n = s.d_in * s.d_out
        w = params[s.weight_offset:s.weight_offset + n]
        w = w.reshape((s.d_in, s.d_out) if s.tied_to >= 0 else (s.d_out, s.d_in))
        b = params[s.bias_offset:s.bias_offset + s.d_out]
        out.append((f"layers.{owner}.weight", w, s.tied_to >= 0, f"layers.{i}.bias", b))
    return out


def _chain(graph, tensors, acts, first, last, x, final):
    for i in range(first, last):
        wname, w, transposed, bname, b = tensors[i]
        if transposed:  # a tied layer's weight is its encoder twin's
            graph.constant(wname, tensors[int(wname.split(".")[1])][1])
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

    model._check_fitted()
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    g = _Graph(helper, numpy_helper)
    tensors = _layer_tensors(model)
    table = model.network_.table
    acts = [row.activation.name for row in table.layers]
    L = len(tensors)
    D = table.features

    def tensor(name, width):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", width])

    # The model's feature scaling (scale=...), as pyae applies it: the
    # network sees (x - offset) * factor; its feature output is mapped back.
    scaler = getattr(model, "scaler_", None)
    if scaler is not None:
        g.constant("scaler.offset", scaler[0])
        g.constant("scaler.factor", scaler[1])

    def features_in():
        if scaler is None:
            return "input"
        centred = g.node("Sub", ["input", "scaler.offset"], "input.centred")
        return g.node("Mul", [centred, "scaler.factor"], "input.scaled")

    network_out = "output" if scaler is None else "output.scaled"

    def features_out():
        if scaler is not None:
            g.node("Add", [g.node("Div", [network_out, "scaler.factor"], "output.divided"),
                           "scaler.offset"], "output")

    if table.variational:
        head = table.latent_layer
        Z = table[head].d_out // 2
        outputs = []
        if part in ("encoder", "full"):
            x = features_in()
            h = _chain(g, tensors, acts, 0, head, x, "hidden") if head else x
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
            _chain(g, tensors, acts, head + 1, L, z, network_out)
            features_out()
            inputs = [tensor("input", D)] if part == "full" else [tensor("z", Z)]
            outputs = [tensor("output", D)]
    else:
        code = table.decoder_start
        first, last = {"full": (0, L), "encoder": (0, code), "decoder": (code, L)}[part]
        _chain(g, tensors, acts, first, last, features_in() if first == 0 else "input",
               network_out if last == L else "output")
        if last == L:
            features_out()
        inputs = [tensor("input", table.input_width(first))]
        outputs = [tensor("output", table.input_width(last))]

    graph = helper.make_graph(g.nodes, f"pyae_{type(model).__name__}_{part}", inputs, outputs,
                              initializer=g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="pyae", producer_version=__version__)
    proto.ir_version = min(proto.ir_version, 9)  # readable by older runtimes too
    onnx.checker.check_model(proto)
    atomic_write_bytes(path, proto.SerializeToString())
