"""The Slurm flow: a job array whose task i runs point i of a points file, on a shared file system.

    iovsim-sweep run ... --executor slurm --out DIR   writes DIR/slurm/points.txt, sweep.sbatch
    sbatch DIR/slurm/sweep.sbatch                      each array task: iovsim-sweep run-point
    iovsim-sweep collect DIR                           results.csv from the point directories

Array tasks run `iovsim-sweep run-point`, which stores its point exactly as the local executor
does, so `collect` cannot tell how a point was run.
"""
import os
import shlex

from . import points as pts
from . import remote
from . import sweep as swp
from .errors import UsageError

# The array tasks run the same tools/iovsim-sweep as the user: the shared file system has it.
SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "iovsim-sweep")


def _quote(word):
    return shlex.quote(word)


def write_job(out, todo, jobs, options):
    """Writes the points file and the sbatch script for the points still to run; returns the
    script's path (None when nothing is left to run)."""
    sdir = os.path.join(out, "slurm")
    os.makedirs(os.path.join(sdir, "logs"), exist_ok=True)
    points_file = os.path.join(sdir, "points.txt")
    pts.write_atomic(points_file, "".join(p.hash + "\n" for p in todo))
    if not todo:
        return None
    array = "0-%d" % (len(todo) - 1)
    if jobs:
        array += "%%%d" % jobs
    lines = ["#!/bin/bash",
             "# iovsim-sweep: one array task per point of points.txt (line = task id).",
             "#SBATCH --job-name=iovsim-sweep",
             "#SBATCH --array=%s" % array,
             "#SBATCH --cpus-per-task=1",
             "#SBATCH --output=%s" % os.path.join(os.path.abspath(sdir), "logs", "%A_%a.out")]
    lines += ["#SBATCH %s" % o for o in options]
    lines += ["set -euo pipefail",
              "exec %s run-point %s --index \"${SLURM_ARRAY_TASK_ID:?not in a Slurm array}\""
              % (_quote(SCRIPT), _quote(os.path.abspath(out)))]
    script = os.path.join(sdir, "sweep.sbatch")
    pts.write_atomic(script, "\n".join(lines) + "\n")
    os.chmod(script, 0o755)
    return script


def point_for(out, index=None, hash_=None):
    """The sweep and the point an array task is to run (by line of points.txt, or by hash)."""
    sweep = swp.load(out)
    if hash_ is None:
        try:
            with open(os.path.join(out, "slurm", "points.txt"), "r", encoding="utf-8") as f:
                hashes = [line.strip() for line in f if line.strip()]
        except OSError as e:
            raise UsageError("cannot read the points file: %s" % e)
        if index is None or not 0 <= index < len(hashes):
            raise UsageError("--index %s: the points file has %d points" % (index, len(hashes)))
        hash_ = hashes[index]
    for point in sweep.points:
        if point.hash == hash_:
            return sweep, point
    raise UsageError("point %s is not in %s" % (hash_, os.path.join(out, swp.FILE)))


def run_point(out, index=None, hash_=None, iovsim=None):
    """Runs one point in this process and records it; True when it completed."""
    sweep, point = point_for(out, index, hash_)
    if iovsim:
        sweep.iovsim = iovsim
    pts.reset(out, point)
    outcome = remote.execute(sweep.task(point))
    return pts.record(out, point, outcome)
