"""Pre-flight feasibility of a mapping: what makes a graph unmappable on a profile, found from the layers alone in
seconds, before any partitioning (the partitioner would find the same only after placing everything before it)."""

from __future__ import annotations

import numpy as np

from snncc.backends.coremap.network import PRODUCT_OP, ConvProjection, Layer, MappingError, Network
from snncc.backends.coremap.partition import axon_multiplicity
from snncc.backends.coremap.profile import Profile


def _inside(p: ConvProjection, axis: int) -> np.ndarray:
    """(output positions, kernel taps) along `axis`: whether the tap lands inside the input there."""
    k = p.weight.shape[2 + axis]
    pos = (np.arange(p.tgt_shape[1 + axis])[:, None] * p.strides[axis] - p.pads[axis]
           + np.arange(k)[None, :] * p.dilations[axis])
    return (pos >= 0) & (pos < p.src_shape[1 + axis])


def projection_fan_in(p) -> np.ndarray:
    """Nonzero weights of each target neuron (flat C order) in one projection: the source neurons it surely reads.
    A conv neuron at (o, r, q) reads, per kernel tap that lands inside the input there, the input channels whose
    weight at that tap is nonzero."""
    if isinstance(p, ConvProjection):
        per_tap = (p.weight != 0).sum(axis=1).astype(np.float64)              # (O, kh, kw)
        rows, cols = _inside(p, 0).astype(np.float64), _inside(p, 1).astype(np.float64)
        return np.einsum("oij,ri,qj->orq", per_tap, rows, cols).round().astype(np.int64).reshape(-1)
    rows = np.repeat(np.arange(p.matrix.shape[0]), np.diff(p.matrix.indptr))
    return np.bincount(rows[p.matrix.data != 0], minlength=p.matrix.shape[0]).astype(np.int64)


def neuron_fan_in(layer: Layer, layers: dict[str, Layer], profile: Profile) -> tuple[np.ndarray, dict[str, int]]:
    """(input axons of each neuron of the layer, {source: its share at the neuron with the most}): the sum over the
    layer's projections (one per source, so their sources never coincide) of its nonzero weights x the axons a
    source neuron takes. Never more than any mapping needs, so a neuron found here fitting no core fits none."""
    total = np.zeros(layer.size, np.int64)
    shares = []
    for p in layer.projections:
        fan = projection_fan_in(p) * axon_multiplicity(layers[p.source], profile)
        total += fan
        shares.append((p.source, fan))
    worst = int(np.argmax(total)) if total.size else 0
    return total, {source: int(fan[worst]) for source, fan in shares if fan.size and fan[worst]}


def infeasibilities(network: Network, profile: Profile) -> list[str]:
    """One sentence per layer whose single neuron fits no empty core of the profile; empty when all can."""
    layers = network.by_name()
    problems = []
    for layer in network.layers:
        if layer.kind == "input":
            continue
        if layer.units > profile.neurons_per_core:
            problems.append(f"layer %{layer.name} ({layer.op}): one neuron takes {layer.units} compartments but a "
                            f"{profile.name} core has {profile.neurons_per_core}")
            continue
        if layer.op == PRODUCT_OP and not profile.graded_spikes:
            problems.append(f"layer %{layer.name} (mul): a product of two activations (squeeze-excitation) maps as a "
                            f"product relay that receives its operands' values and sends their product as graded "
                            f"spikes, which {profile.name} does not have: use a profile with graded spikes (loihi2, "
                            "spinnaker2, generic) or a model without the product")
            continue
        if profile.graded_spikes or not layer.projections:
            continue        # partial-sum relays split any fan-in across cores
        fan, shares = neuron_fan_in(layer, layers, profile)
        axons = int(fan.max(initial=0))
        memory = axons * profile.weight_bits if profile.synapse_memory_model == "per_synapse" else 0
        if axons > profile.input_axons_per_core or memory > profile.synapse_memory_bits_per_core:
            bits = f" ({memory} synapse memory bits; a core has {profile.synapse_memory_bits_per_core})" if memory else ""
            parts = f" ({', '.join(f'%{k}: {v}' for k, v in shares.items())})" if len(shares) > 1 else ""
            problems.append(
                f"layer %{layer.name} ({layer.op}): one neuron has a fan-in of {axons} input axons{parts}{bits} but a "
                f"{profile.name} core has {profile.input_axons_per_core}, and without graded spikes its fan-in cannot be "
                "split across cores: reduce the layer's fan-in (fewer input channels, smaller kernels, groups; an "
                "AveragePool reads one population where a MaxPool's rate lowering adds its max-tree populations) or "
                "use a profile with graded spikes (loihi2, spinnaker2, generic), whose partial-sum relays split it")
    return problems


def check_feasible(network: Network, profile: Profile) -> None:
    """MappingError naming every layer that fits no core, before partitioning starts."""
    problems = infeasibilities(network, profile)
    if problems:
        more = f" (and {len(problems) - 3} more layers)" if len(problems) > 3 else ""
        raise MappingError(f"cannot map onto {profile.name}: "
                           + "; ".join(problems[:3]) + more)
