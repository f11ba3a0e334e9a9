"""`snncc sweep`: every feasible (coding, option) point of a model compiled and evaluated, on Dask or in process."""

from snncc.sweep.executor import SerialClient, dask_client, scheduler_address
from snncc.sweep.run import plan_points, run_sweep

__all__ = ["run_sweep", "plan_points", "SerialClient", "dask_client", "scheduler_address"]
