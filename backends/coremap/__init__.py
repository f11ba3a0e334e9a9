"""Neuromorphic-core mapping backend: hardware profiles, weight quantization, partitioning into cores, the mapping
file, an independent checker and a core-level simulator (see docs/mapping.md)."""

from snncc.backends.coremap.profile import Profile, ProfileError, builtin_profiles, load_profile, profile_from_dict
from snncc.backends.coremap.network import (MappingError, NeuronModel, NEURON_MODELS, Network, extract,
                                            register_neuron_model)
from snncc.backends.coremap.quantize import QuantizedNetwork, quantize, to_graph
from snncc.backends.coremap.partition import Mapping, lower_bound, partition
from snncc.backends.coremap.mapfile import MAP_FORMAT, MAP_VERSION, dumps, load_mapping
from snncc.backends.coremap.mapper import MapResult, map_graph
from snncc.backends.coremap.traffic import neuron_spike_counts
from snncc.backends.coremap.check import check_mapping

__all__ = [
    "Profile", "ProfileError", "builtin_profiles", "load_profile", "profile_from_dict", "MappingError", "NeuronModel",
    "NEURON_MODELS", "Network", "extract", "register_neuron_model", "QuantizedNetwork", "quantize", "to_graph",
    "Mapping", "lower_bound", "partition", "MAP_FORMAT", "MAP_VERSION", "dumps", "load_mapping", "MapResult",
    "map_graph", "neuron_spike_counts", "check_mapping",
]
