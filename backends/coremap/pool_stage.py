"""Pooling stages (`network.pool_stage_nodes`) on a profile: what a core can send for them.

A pooling stage sums its channel's spikes every step and sends the sum, so its readers (a dense head) read C
pooled values instead of C x H x W spikes. With graded spikes the sum travels as one payload and the stage is exact.
Without them (Loihi 1, TrueNorth) a core sends 0/1 spikes only, so for each stage:

- when every reader's neurons, composed with the stage (W / window on each of the window's sources), still fit one
  core's input axons and synapse memory, the stage is composed away: exactly the graph's maths;
- otherwise the stage becomes an IF population with threshold = window (reset by subtraction), whose spike count
  over T steps is the pooled spike count divided by the window, rounded down (v0 = 0.5: to the nearest), and its
  readers read it with the dense weights W: the average rate, as a rate-coded pooling layer computes it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from snncc.backends.coremap.network import (MAX_COMPOSED_NONZEROS, NEURON_MODELS, POOL_STAGE_OP, ConvProjection,
                                            Layer, MatrixProjection, Network, SparseRows, explicit_projection,
                                            pool_window)
from snncc.backends.coremap.partition import axon_multiplicity
from snncc.backends.coremap.profile import Profile
from snncc.ir import IFNeuron, TensorType
from snncc.ir.node import ConstRef

POOL_V0 = 0.5


def _as_matrix(p):
    """A head's projection from a stage as a matrix over the C pooled values (a conv over (C, 1, 1) is a dense)."""
    return explicit_projection(p) if isinstance(p, ConvProjection) else p


def _composed(reader: MatrixProjection, stage: Layer) -> list[MatrixProjection]:
    """reader o stage as one matrix per population the stage sums (each pooled value's weight on its window's
    spikes)."""
    out = []
    for conv in stage.projections:
        c, h, w = conv.src_shape
        window = h * w
        m = reader.matrix
        cols = (m.indices[:, None] * window + np.arange(window)[None, :]).reshape(-1)
        matrix = SparseRows(m.indptr * window, cols, np.repeat(m.data, window), (m.shape[0], c * window))
        out.append(MatrixProjection(conv.source, conv.src_shape, reader.tgt_shape, matrix))
    return out


def _fits_composed(stage: Layer, readers: list[Layer], layers: dict[str, Layer], profile: Profile) -> bool:
    window = pool_window(stage)
    sources = {p.source for p in stage.projections}
    m = sum(axon_multiplicity(layers[s], profile) for s in sources)
    total = 0
    for layer in readers:
        if any(p.source in sources for p in layer.projections):
            return False        # it reads the stage's source directly too: one projection per source
        axons = 0
        for p in layer.projections:
            if p.source == stage.name:
                p = _as_matrix(p)
                axons += int(np.diff(p.matrix.indptr).max(initial=0)) * window * m
                total += p.matrix.nnz * window * len(sources)
            else:
                axons += int(p.min_axons()) * axon_multiplicity(layers[p.source], profile)
        if axons > profile.input_axons_per_core or (profile.synapse_memory_model == "per_synapse" and
                                                    axons * profile.weight_bits > profile.synapse_memory_bits_per_core):
            return False
    return total <= MAX_COMPOSED_NONZEROS


def _spiking(stage: Layer) -> Layer:
    window = pool_window(stage)
    node = IFNeuron(name=stage.name, inputs=tuple(stage.node.inputs), type=TensorType(stage.shape),
                    theta=ConstRef(stage.name + ".theta"), v0=POOL_V0)
    return Layer(stage.name, "if_neuron", "population", stage.shape, node, NEURON_MODELS["if_neuron"],
                 stage.projections, None, np.full((1, 1, 1), float(window), np.float32))


def pool_stages_for(network: Network, profile: Profile) -> Network:
    """The network as `profile` can run its pooling stages (see the module docstring)."""
    stages = {l.name: l for l in network.layers if l.op == POOL_STAGE_OP}
    if not stages or profile.graded_spikes:
        return network
    layers = network.by_name()
    readers = {name: [l for l in network.layers if any(p.source == name for p in l.projections)] for name in stages}
    composed = {name for name, stage in stages.items() if _fits_composed(stage, readers[name], layers, profile)}
    out = []
    for layer in network.layers:
        if layer.name in composed:
            continue
        if layer.name in stages:
            out.append(_spiking(layer))
            continue
        projections = []
        for p in layer.projections:
            if p.source in composed:
                projections += _composed(_as_matrix(p), stages[p.source])
                continue
            if p.source in stages:     # a spiking stage sends the average, not the sum: the window comes back
                p = _as_matrix(p)
                p = p.scaled(np.full(p.matrix.shape[0], float(pool_window(stages[p.source])), np.float32))
            projections.append(p)
        out.append(replace(layer, projections=projections))
    return Network(out, network.coding, network.timesteps)
