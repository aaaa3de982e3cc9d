"""Shared by the sweep tests: where things are, scratch directories, running iovsim-sweep.

The tests run the real iovsim ($IOVSIM, set by CTest to the built binary; else the repository's
build tree) on tiny workloads, never a mock: the point is that the sweep drives the simulator.
"""
import csv
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOOLS = os.path.join(REPO, "tools")
SWEEP = os.path.join(TOOLS, "iovsim-sweep")
EXAMPLES = os.path.join(TOOLS, "examples")
sys.path.insert(0, TOOLS)

from iovsim_sweep import binary  # noqa: E402

SCRATCH = os.environ.get("IOVSIM_SWEEP_TMP") or os.path.join(REPO, "build", "sweep-tests")
# iommu on, 2000 requests: a point takes a few tens of milliseconds.
SMALL = ["--set", "iommu.enabled=true", "--set", "workload.requests=2000"]


def iovsim():
    return binary.find_iovsim(os.environ.get("IOVSIM"))


def scratch(test):
    """A fresh directory for one test (or a name), kept afterwards for inspection."""
    name = test if isinstance(test, str) else test.id()
    path = os.path.join(SCRATCH, name.replace("__main__.", ""))
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def env(**extra):
    e = dict(os.environ)
    e["IOVSIM"] = iovsim()
    e.update(extra)
    return e


def sweep(args, python=None, timeout=120, **extra_env):
    """Runs tools/iovsim-sweep with args; returns the CompletedProcess (text output)."""
    cmd = [python or sys.executable, SWEEP] + list(args)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout, env=env(**extra_env))


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def without(header, rows, dropped=("wall_s",)):
    """The table without the measured-time columns: what must match between executors."""
    keep = [i for i, c in enumerate(header) if c not in dropped]
    return [header[i] for i in keep], [[r[i] for i in keep] for r in rows]


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()
