"""Executors: where the points' iovsim processes run. Both call remote.execute() and hand each
outcome back to the caller in the calling thread, which stores it (points.record) and so builds
point directories, and results.csv from them, the same way whichever executor ran the point.

    local   a thread pool of --jobs threads, each waiting on one iovsim process
    dask    one task per point on a Dask distributed cluster (python3-distributed)
The Slurm flow does not execute anything here: see slurm.py.
"""
import concurrent.futures
import os

from . import remote
from .errors import UsageError


def run_local(items, jobs, progress, on_result):
    """Runs (point, task) items on `jobs` threads; on_result(point, outcome) as each finishes.

    On Ctrl-C the points not yet started are cancelled; those running see the same SIGINT (same
    process group), end, and are recorded as failed, so the next run reruns them.
    """
    def work(task):
        progress.started()
        try:
            return remote.execute(task)
        finally:
            progress.stopped()

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
    futures = {}
    try:
        for point, task in items:
            futures[pool.submit(work, task)] = point
        for future in concurrent.futures.as_completed(futures):
            on_result(futures[future], future.result())
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    finally:
        pool.shutdown(wait=True)


def import_distributed():
    """dask.distributed's Client and as_completed, or a UsageError saying what to install."""
    try:
        import cloudpickle
        from distributed import Client, as_completed
    except ImportError as e:
        raise UsageError("--executor dask needs Dask distributed (%s): apt-get install "
                         "python3-distributed, and run with /usr/bin/python3" % e)
    return Client, as_completed, cloudpickle


def run_dask(items, scheduler, progress, on_result, connect_timeout=20):
    """Runs each (point, task) as a Dask task calling remote.execute on a worker.

    remote.py is shipped by value, so workers need Python with distributed and iovsim (at the
    same path as here, or $IOVSIM or on PATH on the worker), not this package.
    """
    if not scheduler:
        raise UsageError("--executor dask needs --scheduler tcp://HOST:PORT (or "
                         "$DASK_SCHEDULER_ADDRESS)")
    Client, as_completed, cloudpickle = import_distributed()
    cloudpickle.register_pickle_by_value(remote)
    try:
        client = Client(scheduler, timeout=connect_timeout, set_as_default=False)
    except (OSError, ValueError) as e:
        raise UsageError("cannot connect to the Dask scheduler at %s: %s" % (scheduler, e))
    futures = {}
    try:
        progress.running_cap = max(1, sum(client.nthreads().values()))
        for point, task in items:
            # pure=False: a fresh key each time, never a result cached from an earlier sweep.
            future = client.submit(remote.execute, task, pure=False, retries=0,
                                   key="iovsim-point-%s-%s" % (point.hash, os.urandom(4).hex()))
            futures[future] = point
            progress.started()
        for future in as_completed(list(futures), loop=client.loop):
            point = futures[future]
            progress.stopped()
            try:
                outcome = future.result()
            except Exception as e:  # the worker died or could not run the task
                outcome = {"exit": None, "reason": "Dask task failed: %s: %s"
                           % (type(e).__name__, e), "stderr": "", "files": {}}
            on_result(point, outcome)
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    finally:
        client.close()
