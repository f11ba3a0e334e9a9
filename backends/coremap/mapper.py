"""`map_graph`: compiled graph + profile (+ calibration data) -> mapping document.

Steps: check the coding against the profile, extract layers and projections, quantize the weights to the profile's
precision (rate/IF populations), measure per-neuron spike counts by simulating the calibration data through the
quantized graph (the traffic weights), partition, and write the document.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from snncc.backends.coremap.fan_in import split_fan_in
from snncc.backends.coremap.mapfile import mapping_document
from snncc.backends.coremap.network import (MappingError, Network, explicit_synapses, extract, fits_explicit,
                                            has_zero_taps, with_explicit)
from snncc.backends.coremap.partition import Mapping, partition
from snncc.backends.coremap.profile import Profile, load_profile
from snncc.backends.coremap.quantize import QUANTIZABLE_OPS, QuantizedNetwork, quantize, to_graph
from snncc.ir import Graph, to_bytes

CALIBRATION_SAMPLES = 128


@dataclass
class MapResult:
    document: dict
    network: Network
    quantized: QuantizedNetwork | None
    mapping: Mapping
    profile: Profile


def check_coding(graph: Graph, network: Network, profile: Profile) -> None:
    """MappingError when the profile cannot run the graph's coding or one of its neuron models."""
    needed = sorted({l.model.coding for l in network.layers if l.model is not None} |
                    ({graph.meta["coding"]} if graph.meta.get("coding") else set()))
    missing = [c for c in needed if c not in profile.neuron_models]
    if missing:
        raise MappingError(f"profile {profile.name} cannot run the {', '.join(missing)} coding; it supports the "
                           f"neuron models: {', '.join(profile.neuron_models)}")


def ir_digest(graph: Graph) -> str:
    return hashlib.sha256(to_bytes(graph)).hexdigest()


def neuron_spike_counts(graph: Graph, x: np.ndarray, timesteps: int, batch_size: int = 128) -> dict[str, np.ndarray]:
    """Mean spikes per sample of every neuron of every spiking population (flat C-order arrays), measured with the
    simulator's kernels on analog input: the per-neuron counts the simulator keeps per batch (`kernel.counts`),
    summed here (its `simulate` reports layer totals only)."""
    from snncc.backends.simulator import build_program
    from snncc.backends.simulator import kernels

    program = build_program(graph)
    run = kernels.RunOptions("analog", 0, "dense")
    schedule = kernels.SCHEDULES[program.schedule]
    n = len(x)
    totals: dict[str, np.ndarray] = {}
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        bound = program.bind({program.inputs[0]: np.asarray(x[start:stop], np.float32)}, stop - start, run)
        schedule(kernels.BatchRun(program, bound, stop - start), [int(timesteps)])
        for kernel in program.kernels:
            if kernel.counts is not None:
                c = kernel.counts.reshape(stop - start, -1).astype(np.float64).sum(axis=0)
                totals[kernel.name] = totals.get(kernel.name, 0.0) + c
    return {k: v / max(n, 1) for k, v in totals.items()}


def map_graph(graph: Graph, profile: str | Profile, calibration: np.ndarray | None = None, *,
              calibration_samples: int = CALIBRATION_SAMPLES, granularities: tuple[int, ...] | None = None,
              progress=None) -> MapResult:
    """Map a compiled graph onto a profile's cores; MappingError when it cannot fit."""
    profile = load_profile(profile)
    network = extract(graph)
    check_coding(graph, network, profile)
    quantized = None
    target = network
    quant_info = None
    if all(l.op in QUANTIZABLE_OPS for l in network.layers if l.kind == "population"):
        quantized = quantize(network, profile, calibration)
        target = quantized.network
        quant_info = {"weight_bits": profile.weight_bits, "input_bits": 8,
                      "input_scale": float(repr(quantized.input_scale)), "input_signed": quantized.input_signed,
                      "scale": "per threshold group (per channel or per layer); per layer for readouts",
                      "clipped_thresholds": quantized.clipped_thresholds}
    rates = None
    traffic = "uniform: 1 spike per neuron per sample (no calibration data)"
    if calibration is not None and len(calibration) and len(graph.inputs) == 1:
        x = np.asarray(calibration[:calibration_samples], np.float32)
        if quantized is not None:
            sim_graph, sim_x = to_graph(quantized, dict(graph.meta)), quantized.quantize_input(x)
        else:
            sim_graph, sim_x = graph, x
        rates = neuron_spike_counts(sim_graph, sim_x, network.timesteps)
        traffic = f"simulated: {len(x)} calibration samples, T={network.timesteps}"
    target = split_fan_in(explicit_synapses(target, profile.shared_conv_weights), profile)
    relays = [l for l in target.layers if l.kind == "relay"]
    if relays and rates is not None:
        rates = dict(rates)
        rates.update({l.name: np.full(l.size, float(network.timesteps)) for l in relays})  # a sum every step
    mapping = partition(target, profile, rates, granularities)
    if any(has_zero_taps(p) for l in target.layers for p in l.projections):
        # a sparse-tap conv shares its kernel but its halo box counts sources it never reads; explicit, it stores
        # every synapse but reads only its sources: keep whichever needs fewer cores (then less traffic)
        explicit = with_explicit(target, lambda layer, i, p: has_zero_taps(p) and fits_explicit(p))
        try:
            other = partition(explicit, profile, rates, granularities)
        except MappingError:
            other = None
        if other is not None and other.rank < mapping.rank:
            target, mapping = explicit, other
    doc = mapping_document(target, mapping, profile, ir_digest(graph), traffic_source=traffic,
                           quantization=quant_info)
    return MapResult(doc, target, quantized, mapping, profile)
