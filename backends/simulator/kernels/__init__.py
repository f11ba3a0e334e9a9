"""Step kernels of the snncc simulator: a self-contained NumPy package that runs a *program description*.

This package is copied, file by file, into every emitted program (`snn_program.py` plus `snn_kernels/`), so its
modules import only NumPy, the standard library and each other (relatively; tqdm lazily, and only when a progress
bar is asked for). The in-process runner and the emitted program run this same code, so they agree by construction.
One module per kind of kernel:

    base                 format, errors, registries, Signal, RunOptions, Kernel and NeuronKernel
    input                graph inputs (analog, Poisson)
    if_neuron, signed_neuron                     neurons of the concurrent schedule
    windowed_neuron, phase_neuron, bits_neuron, fs_neuron, ttfs_neuron   neurons of the layer-windowed schedule
    dense, conv, graph_conv                      synapses (dense and event-driven paths)
    windows              sliding-window index maps shared by conv and pooling
    pooling, elementwise, shape_ops              pass-through ops
    pool_tree            the max-pool ReLU tree fused into one event-driven kernel over the pooling windows
    schedule_concurrent, schedule_windowed       time schedules
    program              Program, simulate_program (batches, accounting)
    main                 the emitted program's command line (`program_main`)

Program description (JSON-able; nodes in topological order, shapes per sample, the batch dimension implicit):

    {"format": "snncc-sim-program", "version": 1, "schedule": "concurrent",
     "inputs": ["x"], "outputs": ["fc2"], "meta": {"coding": "rate", ...},
     "nodes": [{"name": "x", "op": "input", "inputs": [], "shape": [64], "attrs": {}, "consts": {}},
               {"name": "fc1", "op": "dense", "inputs": ["x"], "shape": [32], "attrs": {"axis": -1},
                "consts": {"weight": "fc1.weight", "bias": "fc1.bias"}},
               {"name": "if1", "op": "if_neuron", "inputs": ["fc1"], "shape": [32], "attrs": {"v0": 0.5},
                "consts": {"theta": "if1.theta"}}, ...]}

and a mapping of constant name -> array (`weights.npz` in an emitted program).

Time model (concurrent schedule, rate coding). Steps t = 1..T; at every step every node runs in topological order:
- the input node gives the analog sample x as a constant current (`analog`), or Bernoulli spikes
  s(t) ~ Bernoulli(clip(x, 0, 1)) from a seeded numpy Generator (`poisson`);
- a linear op applies its map to the current values of its inputs (a bias is a constant current every step);
- a neuron population integrates its input current and emits spikes (see `IFNeuronKernel`);
- each graph output accumulates its values, and is decoded as out_hat(t) = (1/t) sum_{u<=t} out(u).

Event-driven synapses. A value whose non-zeros are spike events (`Signal.events`) lets a dense or conv consumer do
work proportional to the number of events instead of the number of inputs; with `synaptic_path="auto"` each layer
measures its event density over the first steps of a batch and keeps the event-driven path for the batch when the
density is below a measured crossover (base.py). A max-pool ReLU tree runs as one kernel that visits only the
pooling windows with an input spike or a neuron at threshold (pool_tree.py) when the batch has enough windows for it to
pay (base.POOL_TREE_MIN_WINDOWS; below, its members run as whole-array ops).

Extension points (for other codings and schedules):
- `@register_neuron_kernel("op_name")` on a `NeuronKernel` subclass adds a neuron type (implement `setup`, `reset`
  and `fire`; see `NeuronKernel`);
- `@register_kernel("op_name")` on a `Kernel` subclass adds a non-spiking op;
- `@register_schedule("name")` adds a time schedule; the description's `"schedule"` key selects it.
Kernels must live in a module of this package, imported below, to be registered and carried by emitted programs.
"""

from .base import (COST_GATHER, COST_ROW_GATHER, ENERGY_PJ_PER_ACCUMULATE, ENERGY_PJ_PER_MAC, ENERGY_PJ_PER_MULTIPLY, FORMAT, FORMAT_VERSION, KERNELS,
                   SCHEDULES, Kernel, NeuronKernel, NotLoweredError, ProgramError, RunOptions, Signal,
                   not_lowered_message, pass_through_signal, register_kernel, register_neuron_kernel, register_schedule,
                   zeros_buffer)
from .input import InputKernel
from .if_neuron import IFNeuronKernel
from .signed_neuron import SignedNeuronKernel
from .windowed_neuron import WindowedNeuronKernel
from .phase_neuron import PhaseNeuronKernel
from .bits_neuron import BitsNeuronKernel
from .fs_neuron import FSNeuronKernel
from .ttfs_neuron import TTFSNeuronKernel
from .dense import DenseKernel, event_coordinates
from .windows import PaddedInput, conv_index_maps
from .conv import ConvKernel
from .graph_conv import GraphConvKernel
from .pool_tree import PoolTreeKernel, find_pool_trees
from .pooling import AvgPoolKernel, FirstSpikePoolKernel, GlobalAvgPoolKernel
from .elementwise import AddKernel, AffineKernel, MulKernel, reduce_to_shape
from .shape_ops import ConcatKernel, DelayKernel, FlattenKernel, ReshapeKernel
from .schedule_concurrent import run_concurrent
from .schedule_windowed import run_windowed, window_latency
from .program import BatchRun, Program, predictions_of, progress_bar, simulate_program
from .main import PROGRAM_FILE, WEIGHTS_FILE, load_program, program_main
