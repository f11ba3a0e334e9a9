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
from snncc.backends.coremap.network import (PRODUCT_OP, MappingError, Network, explicit_synapses, extract, fits_explicit,
                                            has_zero_taps, with_explicit)
from snncc.backends.coremap.partition import Mapping, is_large, partition, spread_mapping
from snncc.backends.coremap.graph_bound import graph_bound, one_axon_bound
from snncc.backends.coremap.pool_stage import pool_stages_for
from snncc.backends.coremap.preflight import check_feasible
from snncc.backends.coremap.profile import Profile, load_profile
from snncc.backends.coremap.traffic import CALIBRATION_SAMPLES, neuron_spike_counts, recorded_rates
from snncc.backends.coremap.quantize import QUANTIZABLE_OPS, QuantizedNetwork, quantize, to_graph
from snncc.ir import Graph, to_chunks



@dataclass
class MapResult:
    document: dict
    network: Network
    quantized: QuantizedNetwork | None
    mapping: Mapping
    profile: Profile


def check_coding(graph: Graph, network: Network | None, profile: Profile) -> None:
    """MappingError when the profile cannot run the graph's coding or one of its neuron models (network None: the
    header's coding only, checked before the layers are extracted)."""
    layers = network.layers if network is not None else []
    needed = sorted({l.model.coding for l in layers if l.model is not None and l.model.coding} |
                    ({graph.meta["coding"]} if graph.meta.get("coding") else set()))
    missing = [c for c in needed if c not in profile.neuron_models]
    if missing:
        raise MappingError(f"profile {profile.name} cannot run the {', '.join(missing)} coding; it supports the "
                           f"neuron models: {', '.join(profile.neuron_models)}")


def ir_digest(graph: Graph) -> str:
    h = hashlib.sha256()
    for chunk in to_chunks(graph):
        h.update(chunk)
    return h.hexdigest()


LARGE_ROOM = 1.05      # a large network's mapping above this many times its bound tries the explicit form too

TRAFFIC_SOURCES = ("auto", "recorded", "simulate", "uniform")


def _traffic(graph: Graph, network: Network, quantized: QuantizedNetwork | None, calibration, samples: int,
             source: str, progress: bool = False) -> tuple[dict[str, np.ndarray] | None, str]:
    """(per-neuron spikes per sample by layer, or None for uniform; the words the mapping file records)."""
    if source not in TRAFFIC_SOURCES:
        raise MappingError(f"traffic source {source!r} is not one of {', '.join(TRAFFIC_SOURCES)}")
    recorded = recorded_rates(graph) if source in ("auto", "recorded") else None
    if source == "recorded" and recorded is None:
        raise MappingError("--traffic recorded: this graph's header has no spike_rates (compile it with calibration "
                           "data, or use --traffic simulate with --calib)")
    if recorded is not None:
        sizes = {l.name: l.size for l in network.layers}
        rates = {name: np.full(sizes[name], rate) for name, rate in recorded.items() if name in sizes}
        return rates, "recorded: spike rates measured by compile on its calibration data"
    usable = calibration is not None and len(calibration) and len(graph.inputs) == 1
    if source == "simulate" and not usable:
        raise MappingError("--traffic simulate needs calibration data (--calib FILE.npz) for a single-input graph")
    if source in ("auto", "simulate") and usable:
        x = np.asarray(calibration[:samples], np.float32)
        if quantized is not None:
            sim_graph, sim_x = to_graph(quantized, dict(graph.meta)), quantized.quantize_input(x)
        else:
            sim_graph, sim_x = graph, x
        return (neuron_spike_counts(sim_graph, sim_x, network.timesteps, progress=progress,
                                    desc="map: spike traffic"),
                f"simulated: {len(x)} calibration samples, T={network.timesteps}")
    why = "--traffic uniform" if source == "uniform" else "no recorded spike rates, no calibration data"
    return None, f"uniform: 1 spike per neuron per sample ({why})"


def map_graph(graph: Graph, profile: str | Profile, calibration: np.ndarray | None = None, *,
              calibration_samples: int = CALIBRATION_SAMPLES, granularities: tuple[int, ...] | None = None,
              progress=None, traffic: str = "auto") -> MapResult:
    """Map a compiled graph onto a profile's cores; MappingError when it cannot fit.

    `traffic` weighs the routes: "recorded" (the header's spike rates from compile), "simulate" (simulate the
    calibration data), "uniform" (one spike per neuron per sample), or "auto": recorded, else simulated, else
    uniform."""
    profile = load_profile(profile)
    check_coding(graph, None, profile)          # before extraction, which takes seconds on a large graph
    network = pool_stages_for(extract(graph), profile)
    check_coding(graph, network, profile)
    quantized = None
    target = network
    quant_info = None
    timesteps = network.timesteps
    if all(l.op in QUANTIZABLE_OPS for l in network.layers if l.kind == "population"):
        # the float network is given up layer by layer as its integer copy is made: with a lazily loaded graph
        # (`snncc map`) the float weights are then never all in memory beside the integer ones
        quantized = quantize(network, profile, calibration, release=True)
        target = network = quantized.network
        quant_info = {"weight_bits": profile.weight_bits, "input_bits": 8,
                      "input_scale": float(repr(quantized.input_scale)), "input_signed": quantized.input_signed,
                      "scale": "per threshold group (per channel or per layer); per layer for readouts",
                      "clipped_thresholds": quantized.clipped_thresholds}
    # weights rounded to the profile's precision: some become zero and read nothing (both bounds see that)
    check_feasible(target, profile)
    bound, one_axon = graph_bound(target, profile), one_axon_bound(target, profile)
    rates, traffic = _traffic(graph, network, quantized, calibration, calibration_samples, traffic, bool(progress))
    # the network as extracted is not needed past here: the split target replaces it, and its composed matrices
    # (float when not quantized), the largest arrays a map holds, go before partitioning allocates
    del network
    target = split_fan_in(explicit_synapses(target, profile.shared_conv_weights), profile)
    relays = [l for l in target.layers if l.kind == "relay"]
    if relays and rates is not None:
        rates = dict(rates)
        rates.update({l.name: np.full(l.size, 1.0 if l.op == PRODUCT_OP else float(timesteps))
                      for l in relays})     # a sum every step; a product once per window
    mapping = partition(target, profile, rates, granularities, bool(progress), spread=False)
    # a large network tries the explicit form only when its mapping leaves room above the bound: a packing takes
    # seconds there, and on the ResNets measured the two forms came within 1% of each other
    room = not is_large(target) or len(mapping.cores) > LARGE_ROOM * mapping.lower_bound
    if room and any(has_zero_taps(p) for l in target.layers for p in l.projections):
        # a sparse-tap conv shares its kernel but its halo box counts sources it never reads; explicit, it stores
        # every synapse but reads only its sources: keep whichever needs fewer cores (then less traffic)
        explicit = with_explicit(target, lambda layer, i, p: has_zero_taps(p) and fits_explicit(p))
        try:
            other = partition(explicit, profile, rates, granularities, bool(progress), spread=False)
        except MappingError:
            other = None
        if other is not None and other.rank < mapping.rank:
            target, mapping = explicit, other
    mapping = spread_mapping(target, profile, rates, mapping)     # the slow refill, on the winner only
    doc = mapping_document(target, mapping, profile, ir_digest(graph), traffic_source=traffic,
                           quantization=quant_info, graph_bound=bound, one_axon_bound=one_axon)
    return MapResult(doc, target, quantized, mapping, profile)
