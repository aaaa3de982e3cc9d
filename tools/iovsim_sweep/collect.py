"""results.csv: one row per point of sweep.json, in grid order, built from the point directories.

Every executor ends with this same step, so a sweep run locally, on Dask or through Slurm gives
the same file; only wall_s (measured time) differs between two runs of one sweep.

Columns: the swept keys (grid order), seed, repeat, point (its directory name), status (ok,
failed, missing), wall_s (the iovsim process's wall time), then the statistics, sorted by name
(all of them, or those matching the --stats patterns). A failed or missing point has empty
statistics.
"""
import csv
import fnmatch
import io
import os

from . import points as pts
from . import sweep as swp
from .grid import format_value

FILE = "results.csv"
META = ["seed", "repeat", "point", "status", "wall_s"]


def split_patterns(patterns):
    """--stats may be repeated and each may hold comma-separated glob patterns."""
    if not patterns:
        return None
    out = []
    for p in patterns:
        out += [x.strip() for x in p.split(",") if x.strip()]
    return out or None


def _wanted(name, patterns):
    return patterns is None or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _cell(value):
    return "" if value is None else format_value(value)


def _row(out, point, patterns):
    """The point's cells (meta and statistics) and its status."""
    pdir = pts.point_dir(out, point)
    state = pts.state(pdir)
    row = {"seed": point.seed, "repeat": point.repeat, "point": point.hash, "wall_s": None}
    row.update(point.swept)
    stats = {}
    if state == pts.COMPLETE:
        doc = pts.read_stats(pdir)
        marker = pts.read_json(os.path.join(pdir, "done.json")) or {}
        row["status"] = "ok"
        row["wall_s"] = marker.get("wall_s")
        if point.seed is None:
            row["seed"] = doc.get("run", {}).get("seed")
        stats = dict((k, v) for k, v in doc["stats"].items() if _wanted(k, patterns))
    elif state == pts.FAILED:
        marker = pts.read_json(os.path.join(pdir, "failed.json")) or {}
        row["status"] = "failed"
        row["wall_s"] = marker.get("wall_s")
    else:
        row["status"] = "missing"
    if isinstance(row["wall_s"], float):
        row["wall_s"] = "%.3f" % row["wall_s"]
    return row, stats


def build(out, patterns=None):
    """Writes DIR/results.csv; returns (path, counts by status, number of statistic columns).

    patterns: --stats globs; None means what the sweep was run with (sweep.json).
    """
    sweep = swp.load(out)
    patterns = split_patterns(patterns) if patterns else sweep.stats
    rows, names = [], set()
    counts = {"ok": 0, "failed": 0, "missing": 0}
    for point in sweep.points:
        row, stats = _row(out, point, patterns)
        counts[row["status"]] += 1
        names.update(stats)
        rows.append((row, stats))
    keys = sweep.swept_keys
    meta = [m for m in META if m not in keys]
    stat_names = sorted(n for n in names if n not in keys and n not in meta)
    columns = keys + meta + stat_names
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for row, stats in rows:
        cells = [_cell(row.get(c)) for c in keys + meta]
        cells += [_cell(stats.get(n)) for n in stat_names]
        writer.writerow(cells)
    path = os.path.join(out, FILE)
    pts.write_atomic(path, text.getvalue())
    return path, counts, len(stat_names)


def read(path):
    """results.csv as (columns, rows as dicts of text)."""
    with open(path, "r", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)
