"""The text of ``model.summary()``: one line per layer of the layer table,
as Keras users expect, with the neurons per layer and parameter counts."""

from __future__ import annotations

ROLE_NAMES = {"encoder": "encoder", "latent_head": "latent head (mu, log var)",
              "decoder": "decoder"}


def widths(table) -> list:
    """Neurons per layer, input to output: [4, 3, 2, 3, 4] for 4-3-2-3-4.
    A VAE's latent head has 2Z outputs but feeds Z codes to the decoder."""
    out = [table.input_width(0)]
    for row in table.layers:
        out.append(row.d_out // 2 if row.role.name == "latent_head" else row.d_out)
    return out


def layer_summary(model, table) -> str:
    header = ("layer", "role", "in", "out", "activation", "weight", "parameters")
    rows = []
    n_weights = n_biases = 0
    for i, spec in enumerate(table.layers):
        if spec.owns_weight:
            weight = f"({spec.d_out}, {spec.d_in})"
            n_weights += spec.d_in * spec.d_out
            count = spec.d_in * spec.d_out + spec.d_out
        else:
            weight = f"layer {spec.tied_to}'s, transposed"
            count = spec.d_out
        n_biases += spec.d_out
        rows.append((str(i), ROLE_NAMES[spec.role.name], str(spec.d_in), str(spec.d_out),
                     spec.activation.name, weight, f"{count:,}"))
    sizes = [max(len(r[k]) for r in (header, *rows)) for k in range(len(header))]
    right = {2, 3, 6}  # numbers line up on the right
    lines = ["  ".join(c.rjust(n) if k in right else c.ljust(n)
                       for k, (c, n) in enumerate(zip(r, sizes))).rstrip()
             for r in (header, *rows)]
    rule = "-" * len(max(lines, key=len))
    shape = "-".join(map(str, widths(table)))
    return "\n".join([f"{type(model).__name__}: {shape} ({len(table.layers)} layers)", rule,
                      lines[0], rule, *lines[1:], rule,
                      f"parameters: {n_weights + n_biases:,} "
                      f"(weights {n_weights:,}, biases {n_biases:,})",
                      f"neurons per layer: {shape}"])
