"""The NumPy engine's memory does not grow with T: one buffer per layer, overwritten every step."""

import tracemalloc

import numpy as np

from snncc.backends.simulator import build_program, simulate
from tests.onnx_step.compiled import compiled, data


def peak_bytes(program, x, t):
    tracemalloc.start()
    try:
        simulate(program, x, t, input_coding="poisson", batch_size=4)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_timesteps():
    program = build_program(compiled("mnist_cnn", "rate"))     # fused pool trees and their index buffers included
    x = data("mnist_cnn")[:4]
    peak_bytes(program, x, 2)                                   # warm caches (imports, BLAS) outside the measure
    short, long = peak_bytes(program, x, 8), peak_bytes(program, x, 64)
    assert long <= short * 1.05 + 64 * 1024, (short, long)
    assert short < 64 * 2 ** 20
