"""In-process face of the simulator: convert a `snncc.ir.Graph` into a program description and run it with the
kernels of the `kernels` package (the same code an emitted program runs)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from snncc.backends.simulator import kernels
from snncc.ir.graph import Graph
from snncc.ir.node import ConstRef


def _plain(value):
    """An IR attribute value as JSON: tuples become lists; ints, floats, strs, bools and None stay."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return value


def program_description(graph: Graph, *, schedule: str | None = None) -> dict:
    """The JSON-able program description of `graph` (see `kernels` for the format). Attributes that name constants
    (`ConstRef`) go to `consts`, all others to `attrs`. The schedule is `schedule`, else the graph header's
    `schedule` entry, else "concurrent". Raises `kernels.NotLoweredError` for a node without a spiking kernel
    (relu, max_pool, ...)."""
    if schedule is None:
        schedule = graph.meta.get("schedule", "concurrent")
    nodes = []
    for node in graph.nodes:
        if node.op not in kernels.KERNELS:
            raise kernels.NotLoweredError(kernels.not_lowered_message(node.name, node.op))
        attrs, consts = {}, {}
        for key, value in node.attributes():
            if isinstance(value, ConstRef):
                consts[key] = str(value)
            else:
                attrs[key] = _plain(value)
        nodes.append({"name": node.name, "op": node.op, "inputs": list(node.inputs),
                      "shape": list(node.type.shape), "attrs": attrs, "consts": consts})
    return {"format": kernels.FORMAT, "version": kernels.FORMAT_VERSION, "schedule": schedule,
            "meta": {str(k): str(v) for k, v in graph.meta.items()},
            "inputs": [n.name for n in graph.inputs], "outputs": list(graph.outputs), "nodes": nodes}


def build_program(graph: Graph) -> kernels.Program:
    """The graph's kernels, built once (index maps, transposed weights) and reusable across runs."""
    return kernels.Program(program_description(graph), dict(graph.constants))


@dataclass(frozen=True)
class SimulationResult:
    """What one simulation measured.

    outputs[T]      decoded first graph output at checkpoint T: (1/T) sum_{t<=T} out(t), shape (N, ...)
    predictions[T]  argmax of outputs[T] over the last axis
    spikes_per_layer  {spiking population: mean spikes per sample over max(T) steps}
    spikes_per_sample, synops_per_sample  totals per sample; SynOps = sum over spikes of the neuron's fan-out
    ann_macs_per_sample  multiply-accumulates of dense/conv in ANN mode
    snn_macs_per_sample  MACs the SNN still does: dense/conv fed by analog values, every step (x max T)
    energy_ratio     ann_energy / snn_energy at max T (45 nm: 0.9 pJ per accumulate: a SynOp or a bias add; 3.7 pJ
                     per multiply; 4.6 pJ per MAC: an ANN synapse, a SynOp whose spike weight needs a multiply, a
                     synapse on analog input); `energy_ratio_at[T]` at each checkpoint
    weighted_synops_per_sample, bias_adds_per_sample, multiplies_per_sample  parts of the SNN's energy
    max_spikes_per_neuron  the largest spike count of any neuron in any sample
    latency_steps, pipeline_interval_steps  steps until the output is ready and between pipelined samples
                     (concurrent: max T for both; windowed: K x spiking depth and K)
    """

    timesteps: tuple[int, ...]
    output_name: str
    outputs: Mapping[int, np.ndarray]
    predictions: Mapping[int, np.ndarray]
    spikes_per_layer: Mapping[str, float]
    spikes_per_sample: float
    synops_per_sample: float
    ann_macs_per_sample: int
    snn_macs_per_sample: float
    ann_energy_pj: float
    snn_energy_pj: float
    energy_ratio: float
    max_spikes_per_neuron: int
    all_outputs: Mapping[str, Mapping[int, np.ndarray]]
    latency_steps: int = 0
    pipeline_interval_steps: int = 0
    energy_ratio_at: Mapping[int, float] = field(default_factory=dict)
    weighted_synops_per_sample: float = 0.0
    bias_adds_per_sample: float = 0.0
    multiplies_per_sample: float = 0.0
    engine: str = "numpy"
    threads: int = 1

    def accuracy(self, labels: np.ndarray) -> dict[int, float]:
        """Fraction of predictions equal to `labels`, per checkpoint T."""
        labels = np.asarray(labels)
        return {t: float(np.mean(p == labels)) for t, p in self.predictions.items()}


def _one_blas_thread():
    """A context with BLAS limited to one thread (threadpoolctl, when installed). The step loop does many small
    matrix products, where BLAS threads cost far more than they give: on a loaded 2-core machine the MNIST CNN ran
    ~14x slower with the default thread pool (docs/performance.md). The emitted program does the same."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:      # optional: without it the run is only slower
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# The engine "auto" picks when onnxruntime is installed: at eval's default batch of 256 the ort engine measured 1.15x
# the numpy engine's throughput (geometric mean of 10 model/coding rows, faster on 9; `benchmarks/sim_speed.py
# --engines`, load average 2.6-3.0 on the shared 2-core machine); at batch 1, 1.73x (faster on 10).
FASTEST_INSTALLED = "ort"


def fastest_engine() -> str:
    """FASTEST_INSTALLED when onnxruntime can be imported, else "numpy"."""
    if FASTEST_INSTALLED == "ort":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "numpy"
    return FASTEST_INSTALLED


def simulate(graph: Graph | kernels.Program, x: np.ndarray | Mapping[str, np.ndarray], timesteps: int | Sequence[int],
             *, input_coding: str = "analog", seed: int = 0, batch_size: int = 256, progress: bool = False,
             synaptic_path: str = "auto", engine: str = "numpy", threads: int | None = None) -> SimulationResult:
    """Simulate a lowered graph on samples `x` (one array, or a dict by input name) for max(timesteps) steps.

    `timesteps` is one T or a list of checkpoints: the run goes to max(T) once and records the decoded output at
    each. `input_coding` is "analog" (x as a constant current) or "poisson" (Bernoulli spikes with p = clip(x, 0, 1)
    from a numpy Generator seeded with `seed`). `synaptic_path` is "auto" (fused event-driven max-pool trees from
    POOL_TREE_MIN_WINDOWS windows per batch; each conv/dense layer event-driven for a batch when its event density
    over the first steps is below a measured crossover), "dense" (every node as written, dense products) or "event"
    (every spike-fed layer event-driven); they give the same spikes, values up to float32 rounding where an event path
    sums in another order. `engine` is "auto"
    (`fastest_engine()`; numpy where the step model cannot express the program), "numpy" (the
    reference kernels, one BLAS thread) or "ort" (the program lowered to an ONNX step model on onnxruntime with
    `threads` intra-op threads, default the machine's idle cores; `backends/onnx_step`).
    """
    program = graph if isinstance(graph, kernels.Program) else build_program(graph)
    if engine == "auto":
        engine = fastest_engine()
        if engine == "ort":
            try:
                return simulate(program, x, timesteps, input_coding=input_coding, seed=seed, batch_size=batch_size,
                                progress=progress, synaptic_path=synaptic_path, engine="ort", threads=threads)
            except kernels.ProgramError:    # a program the step model cannot express: the reference kernels can
                engine = "numpy"
    if not isinstance(x, Mapping):
        if len(program.inputs) != 1:
            raise kernels.ProgramError(f"the graph has {len(program.inputs)} inputs; pass a dict by name")
        x = {program.inputs[0]: x}
    if engine == "ort":
        from snncc.backends.onnx_step.engine import OrtStepRunner

        raw = OrtStepRunner(program, threads).simulate(x, timesteps, input_coding=input_coding, seed=seed,
                                                       batch_size=batch_size, progress=progress)
    elif engine == "numpy":
        with _one_blas_thread():
            raw = kernels.simulate_program(program, x, timesteps, input_coding=input_coding, seed=seed,
                                           batch_size=batch_size, progress=progress, synaptic_path=synaptic_path)
    else:
        raise kernels.ProgramError(f"unknown engine {engine!r}; use 'auto', 'numpy' or 'ort'")
    first = program.outputs[0]
    outputs = raw["outputs"][first]
    return SimulationResult(
        timesteps=tuple(raw["timesteps"]), output_name=first, outputs=outputs,
        predictions={t: kernels.predictions_of(v) for t, v in outputs.items()},
        spikes_per_layer=raw["spikes_per_layer"], spikes_per_sample=raw["spikes_per_sample"],
        synops_per_sample=raw["synops_per_sample"], ann_macs_per_sample=raw["ann_macs_per_sample"],
        snn_macs_per_sample=raw["snn_macs_per_sample"], ann_energy_pj=raw["ann_energy_pj"],
        snn_energy_pj=raw["snn_energy_pj"], energy_ratio=raw["energy_ratio"],
        max_spikes_per_neuron=raw["max_spikes_per_neuron"], all_outputs=raw["outputs"],
        latency_steps=int(raw.get("latency_steps", raw["timesteps"][-1])),
        pipeline_interval_steps=int(raw.get("pipeline_interval_steps", raw["timesteps"][-1])),
        energy_ratio_at=dict(raw["energy_ratio_at"]), weighted_synops_per_sample=raw["weighted_synops_per_sample"],
        bias_adds_per_sample=raw["bias_adds_per_sample"], multiplies_per_sample=raw["multiplies_per_sample"],
        engine=raw.get("engine", "numpy"), threads=int(raw.get("threads", 1)))


def trace_steps(graph: Graph, x: np.ndarray, timesteps: int, *, batch_size: int = 256) -> np.ndarray:
    """The value of the graph's first output at every step of the concurrent schedule, shape (T, N, *shape): what
    a population reading that value receives as input current at t = 1..T (inputs as constant analog currents).
    Used by calibrations that look inside the SNN (max-input-current balancing, calibrate-snn)."""
    program = build_program(graph.with_(meta={**graph.meta, "schedule": "concurrent"}))
    name = program.outputs[0]
    x = np.asarray(x, np.float32)
    out = np.zeros((int(timesteps), len(x)) + program.shapes[name], np.float32)
    with _one_blas_thread():
        for start in range(0, len(x), batch_size):
            stop = min(start + batch_size, len(x))
            bound = program.bind({program.inputs[0]: x[start:stop]}, stop - start, kernels.RunOptions(), start)
            moving = [k for k in program.kernels if not k.output.static]
            for t in range(1, int(timesteps) + 1):
                for kernel in (program.kernels if t == 1 else moving):
                    kernel.step(t)
                out[t - 1, start:stop] = bound[name].value
    return out
