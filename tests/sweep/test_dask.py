"""--executor dask on a real Dask cluster: a scheduler and two workers on 127.0.0.1 (free ports),
a 4-point sweep, and results.csv compared with the local executor's (every column but wall_s,
the measured wall time). Skipped, saying why, only when Dask distributed cannot be imported."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest
import warnings

import support

try:
    import distributed  # noqa: F401
    MISSING = None
except ImportError as e:  # pragma: no cover - depends on the machine
    MISSING = "python3-distributed is not importable on %s (%s)" % (sys.executable, e)

STARTUP_S = 60


def start(args, log):
    """A process in its own session, so that teardown can kill it and any children."""
    return subprocess.Popen([sys.executable, "-m"] + args, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def stop(proc):
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@unittest.skipIf(MISSING, MISSING)
class DaskExecutor(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = support.scratch("test_dask.DaskExecutor")
        cls.procs = []
        cls.addClassCleanup(cls.teardown_cluster)
        sched_file = os.path.join(cls.dir, "scheduler.json")
        cls.log = open(os.path.join(cls.dir, "cluster.log"), "w")
        cls.procs.append(start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                "--port", "0", "--no-dashboard", "--scheduler-file", sched_file],
                               cls.log))
        deadline = time.monotonic() + STARTUP_S
        address = None
        while address is None:
            if time.monotonic() > deadline or cls.procs[0].poll() is not None:
                raise RuntimeError("the Dask scheduler did not start (see %s)" % cls.log.name)
            try:
                with open(sched_file) as f:
                    address = json.load(f)["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        cls.address = address
        for i in range(2):
            cls.procs.append(start(["distributed.cli.dask_worker", address, "--host", "127.0.0.1",
                                    "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                    "--local-directory", os.path.join(cls.dir, "w%d" % i),
                                    "--death-timeout", "60"], cls.log))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # tornado's, not ours
            from distributed import Client
            with Client(address, timeout=STARTUP_S) as client:
                client.wait_for_workers(2, timeout=STARTUP_S)
        cls.worker_pids = set(p.pid for p in cls.procs[1:])

    @classmethod
    def teardown_cluster(cls):
        for proc in reversed(cls.procs):
            stop(proc)
        cls.log.close()

    def test_same_results_as_local(self):
        args = support.SMALL + ["--grid", "iommu.iotlb.entries=16,64",
                                "--grid", "workload.window_bytes=256K,4M"]
        dask_out, local_out = os.path.join(self.dir, "dask"), os.path.join(self.dir, "local")
        r = support.sweep(["run"] + args + ["--executor", "dask", "--scheduler", self.address,
                                            "--out", dask_out])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("4 points: 0 complete, 4 to run, dask executor", r.stderr)
        r = support.sweep(["run"] + args + ["--out", local_out])
        self.assertEqual(r.returncode, 0, r.stderr)
        dask_csv = support.read_csv(os.path.join(dask_out, "results.csv"))
        local_csv = support.read_csv(os.path.join(local_out, "results.csv"))
        self.assertEqual(len(dask_csv[1]), 4)
        self.assertGreater(len(dask_csv[0]), 100)  # every statistic
        self.assertEqual(support.without(*dask_csv), support.without(*local_csv))
        # The points really ran on the workers, not in the client.
        pids = set()
        for name in os.listdir(os.path.join(dask_out, "points")):
            with open(os.path.join(dask_out, "points", name, "done.json")) as f:
                pids.add(json.load(f)["pid"])
        self.assertTrue(pids <= self.worker_pids, (pids, self.worker_pids))
        # Resume works the same way: nothing left to run.
        again = support.sweep(["run"] + args + ["--executor", "dask", "--scheduler", self.address,
                                                "--out", dask_out])
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("4 complete, 0 to run", again.stderr)

    def test_unreachable_scheduler_is_bad_input(self):
        out = os.path.join(self.dir, "unreachable")
        r = support.sweep(["run"] + support.SMALL + ["--grid", "iommu.iotlb.entries=16",
                                                     "--executor", "dask", "--scheduler",
                                                     "tcp://127.0.0.1:1", "--connect-timeout",
                                                     "2", "--out", out])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("cannot connect to the Dask scheduler", r.stderr)


if __name__ == "__main__":
    unittest.main()
