"""Points: one iovsim run each, named by a stable hash, with a directory that says how it ended.

DIR/points/<hash>/ holds point.json (what the point is), the files iovsim wrote with --out
(config.json, stats.json, stats.csv), stderr.txt, and exactly one marker:
    done.json    iovsim exited 0 and stats.json parsed (written last, atomically)
    failed.json  iovsim exited non-zero, timed out, could not start, or wrote no usable stats.json
A directory with neither was interrupted. Resume reruns everything but a complete point: one with
done.json whose stats.json still parses (a marker beside a damaged stats.json is "corrupted").
"""
import hashlib
import json
import os
import shutil
from collections import OrderedDict

from .errors import UsageError
from .grid import format_value

HASH_CHARS = 12
COMPLETE, CORRUPTED, FAILED, INCOMPLETE, NEW = (
    "complete", "corrupted", "failed", "incomplete", "new")


def canonical_json(obj):
    """One text per value: sorted keys, no spaces, ASCII; what the point hash is taken over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def config_identity(config):
    """What a --config contributes to a point's identity: its contents, not its path.

    Editing a base configuration therefore makes new points instead of silently reusing results
    computed from the old contents; a preset name (not a file) stands for itself.
    """
    if os.path.isfile(config):
        with open(config, "rb") as f:
            return "sha1:" + hashlib.sha1(f.read()).hexdigest()
    return "preset:" + config


def point_hash(config_ids, assignments, seed):
    """sha1 of the canonical JSON of everything that decides the run, shortened to 12 hex digits.

    assignments: every --set the point passes (fixed and swept); order does not matter.
    """
    identity = {"configs": list(config_ids), "set": dict(assignments), "seed": seed}
    return hashlib.sha1(canonical_json(identity).encode("ascii")).hexdigest()[:HASH_CHARS]


class Point(object):
    """One run: the swept values, its seed and repeat index, and the hash naming its directory."""

    def __init__(self, swept, seed, repeat, fixed, config_ids):
        self.swept = OrderedDict(swept)
        self.seed = seed
        self.repeat = repeat
        self.fixed = OrderedDict(fixed)
        merged = OrderedDict(self.fixed)
        merged.update(self.swept)
        self.assignments = merged
        self.hash = point_hash(config_ids, merged, seed)

    def iovsim_args(self):
        """The point's part of the iovsim command line (after the --config options)."""
        args = []
        for key, value in self.assignments.items():
            args += ["--set", "%s=%s" % (key, format_value(value))]
        if self.seed is not None:
            args += ["--seed", str(self.seed)]
        return args

    def to_json(self):
        return OrderedDict([("hash", self.hash), ("swept", self.swept), ("seed", self.seed),
                            ("repeat", self.repeat), ("fixed", self.fixed)])

    @classmethod
    def from_json(cls, obj, config_ids):
        point = cls(obj["swept"], obj["seed"], obj["repeat"], obj["fixed"], config_ids)
        if point.hash != obj["hash"]:
            raise UsageError("sweep.json: point %s does not hash to its name (edited by hand?)"
                             % obj["hash"])
        return point


def make_points(assignments, fixed, repeat, seed_from, config_ids):
    """Every point in grid order; repeats vary fastest, repeat r running with seed seed_from + r.

    Without --repeat/--seed-from no seed is passed, so the base configuration's seed applies.
    """
    overlap = [k for k in fixed if assignments and k in assignments[0]]
    if overlap:
        raise UsageError("%s is both swept and fixed with --set" % overlap[0])
    if "seed" in fixed and seed_from is not None:
        raise UsageError("--set seed and --repeat/--seed-from both choose the seed")
    if assignments and "seed" in assignments[0] and seed_from is not None:
        raise UsageError("seed is swept with --grid; drop --repeat/--seed-from or the seed grid")
    points = []
    for swept in assignments:
        for r in range(repeat):
            seed = None if seed_from is None else seed_from + r
            points.append(Point(swept, seed, r, fixed, config_ids))
    return points


def point_dir(out, point_or_hash):
    name = point_or_hash if isinstance(point_or_hash, str) else point_or_hash.hash
    return os.path.join(out, "points", name)


def read_json(path):
    """The parsed file, or None when it is missing or not valid JSON."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_stats(pdir):
    """stats.json as a dict with a 'stats' object, or None when missing or damaged."""
    doc = read_json(os.path.join(pdir, "stats.json"))
    if isinstance(doc, dict) and isinstance(doc.get("stats"), dict):
        return doc
    return None


def state(pdir):
    if os.path.exists(os.path.join(pdir, "done.json")):
        return COMPLETE if read_stats(pdir) is not None else CORRUPTED
    if os.path.exists(os.path.join(pdir, "failed.json")):
        return FAILED
    return INCOMPLETE if os.path.isdir(pdir) else NEW


def write_atomic(path, data):
    """Writes via a temporary file and rename, so a reader sees the old file or the new one."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))
    os.replace(tmp, path)


def reset(out, point):
    """Empties the point's directory before a (re)run, leaving only point.json."""
    pdir = point_dir(out, point)
    if os.path.isdir(pdir):
        shutil.rmtree(pdir)
    os.makedirs(pdir)
    write_atomic(os.path.join(pdir, "point.json"), json.dumps(point.to_json(), indent=2) + "\n")
    return pdir


def record(out, point, outcome):
    """Stores what a run produced (remote.execute's outcome) and marks the point done or failed.

    Returns True when the point is complete. The marker is the last file written.
    """
    pdir = point_dir(out, point)
    os.makedirs(pdir, exist_ok=True)
    for name, data in sorted(outcome.get("files", {}).items()):
        write_atomic(os.path.join(pdir, os.path.basename(name)), data)
    write_atomic(os.path.join(pdir, "stderr.txt"), outcome.get("stderr", ""))
    status = OrderedDict([("exit", outcome.get("exit")), ("wall_s", outcome.get("wall_s")),
                          ("host", outcome.get("host")), ("pid", outcome.get("pid")),
                          ("command", outcome.get("command"))])
    reason = outcome.get("reason")
    if outcome.get("exit") == 0 and reason is None and read_stats(pdir) is None:
        reason = "iovsim exited 0 but wrote no readable stats.json"
    if outcome.get("exit") != 0 or reason is not None:
        status["reason"] = reason or "iovsim exited with status %s" % outcome.get("exit")
        write_atomic(os.path.join(pdir, "failed.json"), json.dumps(status, indent=2) + "\n")
        return False
    write_atomic(os.path.join(pdir, "done.json"), json.dumps(status, indent=2) + "\n")
    return True


def failure_summary(pdir):
    """One line saying why a failed point failed: the reason and iovsim's last stderr line."""
    info = read_json(os.path.join(pdir, "failed.json")) or {}
    reason = info.get("reason", "failed")
    try:
        with open(os.path.join(pdir, "stderr.txt"), "r", encoding="utf-8",
                  errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        lines = []
    return reason + (": " + lines[-1] if lines else "")
