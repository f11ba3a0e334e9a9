"""Pre-flight feasibility of a mapping: what makes a graph unmappable on a profile, found from the layers alone in
seconds, before any partitioning (the partitioner would find the same only after placing everything before it)."""

from __future__ import annotations

import numpy as np

from snncc.backends.coremap.network import ConvProjection, Layer, MappingError, Network
from snncc.backends.coremap.partition import axon_multiplicity
from snncc.backends.coremap.profile import Profile


def _largest_fan_in(layer: Layer, layers: dict[str, Layer], profile: Profile) -> int:
    """Input axons of one neuron of the layer that surely has this many: a projection's largest count of nonzero
    weights of one neuron (a conv's only where some output position has its whole kernel inside the input), the
    largest over projections (several projections may peak at different neurons). Never more than any mapping
    needs, so a neuron reported here as fitting no core truly fits none."""
    best = 0
    for p in layer.projections:
        m = axon_multiplicity(layers[p.source], profile)
        if isinstance(p, ConvProjection):
            kh, kw = p.weight.shape[2:]
            whole = p.max_taps() == kh * kw
            count = int(np.count_nonzero(p.weight.reshape(p.weight.shape[0], -1), axis=1).max(initial=0)) \
                if whole else 0
        else:
            rows = np.repeat(np.arange(p.matrix.shape[0]), np.diff(p.matrix.indptr))
            count = int(np.bincount(rows[p.matrix.data != 0], minlength=1).max(initial=0))
        best = max(best, count * m)
    return best


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
        if profile.graded_spikes or not layer.projections:
            continue        # partial-sum relays split any fan-in across cores
        axons = _largest_fan_in(layer, layers, profile)
        memory = axons * profile.weight_bits if profile.synapse_memory_model == "per_synapse" else 0
        if axons > profile.input_axons_per_core or memory > profile.synapse_memory_bits_per_core:
            bits = f" ({memory} synapse memory bits; a core has {profile.synapse_memory_bits_per_core})" if memory else ""
            problems.append(
                f"layer %{layer.name} ({layer.op}): one neuron has a fan-in of {axons} input axons{bits} but a "
                f"{profile.name} core has {profile.input_axons_per_core}, and without graded spikes its fan-in cannot be "
                "split across cores: reduce the layer's fan-in (groups, smaller kernels) or use a profile with "
                "graded spikes (loihi2, spinnaker2, generic)")
    return problems


def check_feasible(network: Network, profile: Profile) -> None:
    """MappingError naming every layer that fits no core, before partitioning starts."""
    problems = infeasibilities(network, profile)
    if problems:
        more = f" (and {len(problems) - 3} more layers)" if len(problems) > 3 else ""
        raise MappingError(f"cannot map onto {profile.name}: "
                           + "; ".join(problems[:3]) + more)
