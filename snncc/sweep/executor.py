"""Where sweep tasks run: a Dask distributed client (a LocalCluster sized to the machine, or an existing scheduler),
or in this process, one task after the other, with the same task functions and the same shards (`serial`)."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator

from snncc.errors import OptionError


class _Done:
    """A finished in-process task, shaped like the part of a Dask future the sweep uses."""

    def __init__(self, value) -> None:
        self.value = value

    def result(self):
        return self.value


class SerialClient:
    """Runs each task when it is submitted; futures passed as arguments are replaced by their values."""

    def submit(self, fn, *args, **kwargs):
        args = [a.value if isinstance(a, _Done) else a for a in args]
        return _Done(fn(*args, **kwargs))

    @staticmethod
    def as_completed(futures):
        return iter(futures)


class DaskClient:
    """The same two calls on a `distributed.Client`."""

    def __init__(self, client) -> None:
        self.client = client

    def submit(self, fn, *args, key: str | None = None, **kwargs):
        return self.client.submit(fn, *args, key=key, **kwargs) if key else self.client.submit(fn, *args, **kwargs)

    @staticmethod
    def as_completed(futures):
        from distributed import as_completed

        return as_completed(futures)


def scheduler_address(option: str | None) -> str | None:
    """--scheduler, else $DASK_SCHEDULER_ADDRESS, else None (start a LocalCluster)."""
    return option or os.environ.get("DASK_SCHEDULER_ADDRESS") or None


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[DaskClient]:
    """A client of the scheduler at `scheduler`, or of a LocalCluster of `workers` single-threaded processes
    (default: one per CPU core) that is shut down on exit."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise OptionError("snncc sweep runs on Dask distributed: pip install 'snncc[sweep]' (or use --serial)") \
            from None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise OptionError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield DaskClient(client)
        return
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        yield DaskClient(client)
