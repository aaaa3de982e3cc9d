"""A sweep as it is recorded in DIR/sweep.json: base configurations, fixed and swept parameters,
the points in grid order, and how to turn a point into a task for remote.execute().

sweep.json is what `collect` and the Slurm array tasks read, so they need nothing from the command
line that created the sweep. Rerunning `run` with another grid into the same DIR rewrites it;
point directories that the new grid shares with the old are reused.
"""
import json
import os
from collections import OrderedDict

from .errors import UsageError
from .grid import Axis
from .points import Point, config_identity, write_atomic

FILE = "sweep.json"
FORMAT = 1


class Sweep(object):
    def __init__(self, configs, fixed, axes, repeat, seed_from, stats, iovsim, timeout, points):
        self.configs = configs  # [{"arg": as given, "path": absolute file or None, "id": ...}]
        self.fixed = OrderedDict(fixed)
        self.axes = axes
        self.repeat = repeat
        self.seed_from = seed_from
        self.stats = stats  # --stats patterns, or None for every statistic
        self.iovsim = iovsim
        self.timeout = timeout
        self.points = points

    @property
    def swept_keys(self):
        return [k for axis in self.axes for k in axis.keys]

    @property
    def config_ids(self):
        return [c["id"] for c in self.configs]

    @property
    def config_args(self):
        """What iovsim is given as --config: absolute paths, so any working directory will do."""
        return [c["path"] or c["arg"] for c in self.configs]

    def task(self, point, ship_configs=False, tmpdir=None):
        """remote.execute()'s input for a point.

        ship_configs: send the base configurations' contents (Dask workers may not see the
        client's files) instead of their paths (local runs, Slurm on a shared file system).
        """
        configs = []
        for c in self.configs:
            if c["path"] is None:
                configs.append({"preset": c["arg"]})
            elif ship_configs:
                with open(c["path"], "r", encoding="utf-8") as f:
                    configs.append({"text": f.read(), "name": os.path.basename(c["path"])})
            else:
                configs.append({"path": c["path"]})
        return {"iovsim": self.iovsim, "configs": configs, "args": point.iovsim_args(),
                "timeout": self.timeout, "tmpdir": tmpdir}

    def to_json(self):
        return OrderedDict([
            ("format", FORMAT), ("configs", self.configs), ("fixed", self.fixed),
            ("axes", [OrderedDict([("keys", a.keys), ("rows", a.rows)]) for a in self.axes]),
            ("repeat", self.repeat), ("seed_from", self.seed_from), ("stats", self.stats),
            ("iovsim", self.iovsim), ("timeout", self.timeout),
            ("points", [p.to_json() for p in self.points])])

    def save(self, out):
        write_atomic(os.path.join(out, FILE), json.dumps(self.to_json(), indent=1) + "\n")


def describe_configs(args):
    """--config arguments as recorded: a file by absolute path and content hash, else a preset."""
    configs = []
    for arg in args:
        path = os.path.abspath(arg) if os.path.isfile(arg) else None
        if path is None and (os.sep in arg or arg.endswith(".json")):
            raise UsageError("--config %s: no such file" % arg)
        configs.append({"arg": arg, "path": path, "id": config_identity(arg)})
    return configs


def load(out):
    path = os.path.join(out, FILE)
    try:
        with open(path, "r", encoding="utf-8") as f:
            doc = json.load(f, object_pairs_hook=OrderedDict)
    except OSError:
        raise UsageError("%s: no sweep here (run `iovsim-sweep run ... --out %s` first)"
                         % (path, out))
    except ValueError as e:
        raise UsageError("%s: not valid JSON: %s" % (path, e))
    if doc.get("format") != FORMAT:
        raise UsageError("%s: unknown format %r" % (path, doc.get("format")))
    configs = doc["configs"]
    ids = [c["id"] for c in configs]
    axes = [Axis(a["keys"], a["rows"]) for a in doc["axes"]]
    points = [Point.from_json(p, ids) for p in doc["points"]]
    return Sweep(configs, doc["fixed"], axes, doc["repeat"], doc["seed_from"], doc["stats"],
                 doc["iovsim"], doc["timeout"], points)
