import json

import pytest

from snncc.backends.coremap import dumps, map_graph
from tests.coremap.nets import compiled


@pytest.fixture(scope="session")
def mapped():
    """map(name, profile) -> (graph, calibration x, loaded mapping document), cached per session."""
    cache = {}

    def get(name: str, profile):
        key = (name, profile if isinstance(profile, str) else profile.to_json().__repr__())
        if key not in cache:
            graph, x = compiled(name)
            cache[key] = (graph, x, json.loads(dumps(map_graph(graph, profile, x, calibration_samples=16).document)))
        return cache[key]

    return get
