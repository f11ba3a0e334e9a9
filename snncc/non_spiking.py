"""Products of two activations (a squeeze-excitation block's x * sigmoid(s), a gated unit): `mul` nodes. No coding
turns a product into spikes; `--coding amos` keeps each as an analog multiply between spiking layers (as the AMOS
EfficientNet run did), the ReLU-only codings refuse them. The compile and eval reports count them, and `snncc check`
can name them, from this one query."""

from __future__ import annotations

from snncc.ir import Graph

PRODUCT_OPS = frozenset({"mul"})


def non_spiking_products(graph: Graph) -> list[str]:
    """Names of the nodes that multiply two activations, in graph order."""
    return [n.name for n in graph.nodes if n.op in PRODUCT_OPS]


def products_note(graph: Graph) -> str | None:
    """One line for a report, or None when the graph has no product."""
    names = non_spiking_products(graph)
    if not names:
        return None
    shown = ", ".join("%" + n for n in names[:8]) + (f", ... ({len(names) - 8} more)" if len(names) > 8 else "")
    return (f"{len(names)} non-spiking mul node(s) (analog products of two activations, e.g. squeeze-excitation "
            f"x * sigmoid(s); only --coding amos keeps them): {shown}")
