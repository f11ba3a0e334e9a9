"""Hardware-profile preconditions: what stops a coding on a profile, from the ANN graph, before any partitioning.

Each is `fn(graph, coding, profile) -> [Blocker]`, registered with `register_profile_precondition`. Built in: the
profile runs the coding's neuron model, and every neuron should fit one core (its fan-in, the inputs of one output of a
dense or conv layer, is at most the core's input axons), unless the profile splits fan-in into partial sums (graded
spikes); the fan-in rule is a note here (quantization may zero weights) and a refusal in `snncc map`, which sees the
quantized weights (backends/coremap/preflight.py).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from snncc.passes.preconditions import Blocker

ProfilePrecondition = Callable[..., list[Blocker]]
PROFILE_PRECONDITIONS: list[ProfilePrecondition] = []


def register_profile_precondition(fn: ProfilePrecondition) -> ProfilePrecondition:
    PROFILE_PRECONDITIONS.append(fn)
    return fn


def profile_blockers(graph, coding: str, profile) -> list[Blocker]:
    return [b for fn in PROFILE_PRECONDITIONS for b in fn(graph, coding, profile)]


def fan_in(node, graph) -> int | None:
    """Most nonzero weights of one output neuron of a dense or conv node (None for other ops): a lower bound of the
    input axons the neuron needs on any profile."""
    if node.op not in ("dense", "conv"):
        return None
    w = np.asarray(graph.constants[node.weight])
    return int(np.count_nonzero(w.reshape(w.shape[0], -1), axis=1).max(initial=0))


@register_profile_precondition
def runs_the_coding(graph, coding: str, profile) -> list[Blocker]:
    if coding in profile.neuron_models:
        return []
    return [Blocker(None, None, f"profile {profile.name} cannot run the {coding} coding (it runs "
                    f"{', '.join(profile.neuron_models)})", f"--coding {profile.neuron_models[0]}")]


@register_profile_precondition
def neurons_fit_a_core(graph, coding: str, profile) -> list[Blocker]:
    if profile.graded_spikes:
        return []   # partial-sum relays split any fan-in (backends/coremap/fan_in.py)
    blockers = []
    for node in graph.nodes:
        n = fan_in(node, graph)
        if n is not None and n > profile.input_axons_per_core:
            # a note, not a blocker: quantizing to the profile's weight bits may zero enough weights to fit
            blockers.append(Blocker(node.name, node.op, f"one neuron reads {n} inputs, more than a "
                                    f"{profile.name} core's {profile.input_axons_per_core} input axons, and the "
                                    "profile has no graded spikes to split it: it fits only if quantization to "
                                    f"{profile.weight_bits}-bit weights zeroes enough of them",
                                    "a profile with graded spikes", blocking=False))
    return blockers


@register_profile_precondition
def products_map_as_relays(graph, coding: str, profile) -> list[Blocker]:
    """A product of two activations (kept by amos) maps as a product relay: one neuron per element receiving both
    operands' values and sending the product, which needs graded spikes."""
    from snncc.non_spiking import non_spiking_products

    names = non_spiking_products(graph) if coding in profile.neuron_models else []
    if not names:
        return []
    node = graph.node(names[0])
    if profile.graded_spikes:
        elements = sum(int(np.prod(graph.node(n).type.shape)) for n in names)
        return [Blocker(node.name, node.op, f"{len(names)} product(s) of two activations map as product relays on "
                        f"{profile.name}: {elements} relay neurons, each reading 2 graded inputs", "",
                        blocking=False)]
    return [Blocker(node.name, node.op, f"{len(names)} product(s) of two activations (squeeze-excitation) map only as "
                    f"product relays, which need graded spikes; {profile.name} has none",
                    "a profile with graded spikes (loihi2, spinnaker2, generic)")]
