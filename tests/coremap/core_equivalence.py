"""The check both relay and pool-stage tests make: a core-level simulation of a mapping equals the whole graph's."""
import numpy as np

from snncc.backends.coremap import to_graph
from snncc.backends.coremap.coresim import quantized_from_mapping, simulate_cores, whole_graph_spike_trains


def assert_cores_equal_whole_graph(graph, x, doc) -> None:
    cores = simulate_cores(graph, doc, x)
    q = quantized_from_mapping(graph, doc)
    ref = whole_graph_spike_trains(to_graph(q, dict(graph.meta)), q.quantize_input(x), doc["timesteps"])
    assert set(cores.spikes) == set(ref.spikes)
    for layer, trains in cores.spikes.items():
        np.testing.assert_array_equal(trains, ref.spikes[layer], err_msg=layer)
    for layer, value in cores.readouts.items():
        np.testing.assert_array_equal(value, ref.readouts[layer], err_msg=layer)
