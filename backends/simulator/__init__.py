"""NumPy simulator backend: time-stepped, batched simulation of lowered spiking graphs, in process (`simulate`)
and as an emitted standalone program (`emit_program`); both run the kernels of the `kernels` package.

New neuron types plug in with `register_neuron_kernel` (see `NeuronKernel`), new schedules with
`register_schedule`; both go in a module of the `kernels` package so that emitted programs carry them.
"""

from snncc.backends.simulator.kernels import (ENERGY_PJ_PER_ACCUMULATE, ENERGY_PJ_PER_MAC, KERNELS, SCHEDULES, Kernel,
                                              NeuronKernel, NotLoweredError, Program, ProgramError, Signal,
                                              register_kernel, register_neuron_kernel, register_schedule)
from snncc.backends.simulator.runner import (SimulationResult, build_program, program_description, simulate,
                                             trace_steps)
from snncc.backends.simulator.emit import emit_program, program_source

__all__ = [
    "simulate", "SimulationResult", "emit_program", "program_source", "program_description", "build_program",
    "Program", "Kernel", "NeuronKernel", "Signal", "KERNELS", "SCHEDULES", "register_kernel", "register_neuron_kernel",
    "register_schedule", "ProgramError", "NotLoweredError", "ENERGY_PJ_PER_ACCUMULATE", "ENERGY_PJ_PER_MAC",
]
