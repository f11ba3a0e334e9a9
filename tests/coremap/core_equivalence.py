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


def assert_windowed_cores_match(graph, doc, x) -> None:
    """Core by core (windowed codings), the mapped network computes the whole network's frames for the file's
    relays, and its readout the simulator's logits."""
    from snncc.backends.coremap.coresim_windowed import simulate_cores_windowed, whole_network_windowed
    from snncc.backends.coremap.fan_in import as_recorded
    from snncc.backends.coremap.network import extract
    from snncc.backends.coremap.profile import profile_from_dict
    from snncc.backends.simulator import simulate

    cores = simulate_cores_windowed(graph, doc, x)
    whole = whole_network_windowed(as_recorded(extract(graph), profile_from_dict(doc["profile"], "p"), doc), x)
    for name, frames in whole.frames.items():
        np.testing.assert_array_equal(cores.frames[name], frames, err_msg=name)
    (name, logits), = cores.readouts.items()
    reference = simulate(graph, x, int(graph.meta["latency_steps"])).outputs
    np.testing.assert_allclose(logits, reference[max(reference)], rtol=1e-4, atol=1e-4)
