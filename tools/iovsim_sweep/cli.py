"""The iovsim-sweep command line: run, collect, plot, run-point (docs/sweeps.md).

Exit status: 0 success; 1 some point failed (the others still ran); 2 bad input, reported on one
line before anything runs.
"""
import argparse
import importlib
import os
import sys
from collections import OrderedDict

from . import binary
from . import collect
from . import executors
from . import grid
from . import points as pts
from . import slurm
from . import sweep as swp
from .errors import UsageError
from .progress import Progress

SYSTEM_PYTHON = "/usr/bin/python3"
REEXEC_ENV = "IOVSIM_SWEEP_REEXEC"
TOOLS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_FAILURES_LISTED = 10


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (a UsageError), not usage text plus a message."""

    def error(self, message):
        raise UsageError(message)


class AxisAction(argparse.Action):
    """--grid and --zip into one list, in command-line order: the order of the axes."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = list(getattr(namespace, self.dest) or [])
        items.append((option_string.lstrip("-"), values))
        setattr(namespace, self.dest, items)


def need_module(module, argv, what):
    """Imports module, or re-executes this command under the system Python, which has Debian's
    matplotlib and Dask while the python3 first on PATH (pyenv, a venv) may not."""
    try:
        importlib.import_module(module)
        return
    except ImportError as e:
        error = e
    other_python = os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON)
    if not os.environ.get(REEXEC_ENV) and os.path.exists(SYSTEM_PYTHON) and (
            other_python or sys.flags.no_site):
        env = dict(os.environ)
        env[REEXEC_ENV] = "1"
        env["PYTHONPATH"] = os.pathsep.join(
            [TOOLS_DIR] + [p for p in [env.get("PYTHONPATH")] if p])
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(SYSTEM_PYTHON, [SYSTEM_PYTHON, "-m", "iovsim_sweep"] + argv, env)
    raise UsageError("%s needs %s (%s): apt-get install python3-%s and run with %s"
                     % (what, module, error, module, SYSTEM_PYTHON))


def build_parser():
    parser = Parser(prog="iovsim-sweep", description="Parameter sweeps of iovsim.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="run every point of a grid (resumable)")
    run.add_argument("--config", action="append", default=[], metavar="FILE|PRESET",
                     help="base configuration (repeatable; later ones override)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="fixed",
                     help="parameter fixed for every point (repeatable)")
    run.add_argument("--grid", action=AxisAction, dest="axes", metavar="KEY=V1,V2,...",
                     help="swept key; values or ranges A..B:xF, A..B:+S (repeatable: product)")
    run.add_argument("--zip", action=AxisAction, dest="axes", metavar="KEY=V1,V2,...",
                     help="keys that advance together (all --zip keys form one axis)")
    run.add_argument("--repeat", type=int, metavar="N", help="runs per point, seeds S..S+N-1")
    run.add_argument("--seed-from", type=int, metavar="S", help="first seed (default 1)")
    run.add_argument("--stats", action="append", metavar="PATTERN",
                     help="statistics in results.csv (glob, repeatable; default all)")
    run.add_argument("--out", required=True, metavar="DIR", help="sweep directory")
    run.add_argument("--jobs", type=int, metavar="N",
                     help="points in parallel (local: default the number of cores; slurm: "
                          "array throttle)")
    run.add_argument("--executor", choices=["local", "dask", "slurm"], default="local")
    run.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                     default=os.environ.get("DASK_SCHEDULER_ADDRESS"),
                     help="Dask scheduler (default $DASK_SCHEDULER_ADDRESS)")
    run.add_argument("--connect-timeout", type=float, default=20, metavar="SECONDS",
                     help="how long to try reaching the Dask scheduler (default 20)")
    run.add_argument("--slurm-option", action="append", default=[], metavar="OPT",
                     help="extra #SBATCH line, e.g. --slurm-option=--partition=short")
    run.add_argument("--iovsim", metavar="PATH", help="the iovsim executable")
    run.add_argument("--timeout", type=float, metavar="SECONDS", help="per point")
    run.add_argument("--force", action="store_true", help="rerun complete points too")

    col = sub.add_parser("collect", help="rebuild DIR/results.csv from the point directories")
    col.add_argument("dir", metavar="DIR")
    col.add_argument("--stats", action="append", metavar="PATTERN")

    plot = sub.add_parser("plot", help="plot a statistic against a swept key")
    plot.add_argument("dir", metavar="DIR")
    plot.add_argument("--x", required=True, metavar="KEY")
    plot.add_argument("--y", required=True, metavar="STAT")
    plot.add_argument("--series", metavar="KEY")
    plot.add_argument("--where", action="append", default=[], metavar="KEY=V",
                      help="keep only rows with this value (repeatable)")
    plot.add_argument("--logx", action="store_true")
    plot.add_argument("--logy", action="store_true")
    plot.add_argument("--title")
    plot.add_argument("-o", "--output", required=True, metavar="FILE.png|.svg")

    one = sub.add_parser("run-point", help="run one point (what a Slurm array task does)")
    one.add_argument("dir", metavar="DIR")
    which = one.add_mutually_exclusive_group(required=True)
    which.add_argument("--index", type=int, help="line of DIR/slurm/points.txt (from 0)")
    which.add_argument("--point", metavar="HASH")
    one.add_argument("--iovsim", metavar="PATH")
    return parser


def make_sweep(args, iovsim):
    if args.repeat is not None and args.repeat < 1:
        raise UsageError("--repeat %d: must be at least 1" % args.repeat)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs %d: must be at least 1" % args.jobs)
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout: must be positive")
    seed_from = args.seed_from
    if args.repeat is not None and seed_from is None:
        seed_from = 1
    repeat = args.repeat or 1
    configs = swp.describe_configs(args.config)
    fixed = OrderedDict()  # a key given twice keeps its first place and its last value
    for spec in args.fixed:
        key, value = grid.parse_fixed(spec)
        fixed[key] = value
    axes = grid.build_axes(args.axes or [])
    ids = [c["id"] for c in configs]
    point_list = pts.make_points(grid.expand(axes), fixed, repeat, seed_from, ids)
    return swp.Sweep(configs, fixed, axes, repeat, seed_from, collect.split_patterns(args.stats),
                     iovsim, args.timeout, point_list)


_LOCKS = []  # open lock files: held until the process exits


def lock(out):
    """Refuses a second concurrent run in the same directory (they would rerun each other's
    points)."""
    try:
        import fcntl
    except ImportError:
        return
    handle = open(os.path.join(out, ".lock"), "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise UsageError("%s: another iovsim-sweep is running in this directory" % out)
    _LOCKS.append(handle)


def plan(out, sweep, force):
    """The points to run, and a one-line account of what is already there."""
    states = [pts.state(pts.point_dir(out, p)) for p in sweep.points]
    todo = [p for p, s in zip(sweep.points, states) if force or s != pts.COMPLETE]
    complete = sum(1 for s in states if s == pts.COMPLETE)
    detail = []
    for s in (pts.FAILED, pts.CORRUPTED, pts.INCOMPLETE):
        n = sum(1 for st in states if st == s)
        if n:
            detail.append("%d %s" % (n, s))
    if force:
        return todo, 0, "%d points, all to run (--force)" % len(todo)
    text = "%d points: %d complete, %d to run" % (len(sweep.points), complete, len(todo))
    if detail:
        text += " (rerunning %s)" % ", ".join(detail)
    return todo, complete, text


def cmd_run(args, argv):
    if args.executor == "dask":
        need_module("distributed", argv, "--executor dask")
    iovsim = binary.find_iovsim(args.iovsim, required=args.executor != "dask")
    sweep = make_sweep(args, iovsim or "iovsim")
    if iovsim:
        binary.validate(iovsim, sweep.config_args, sweep.fixed, sweep.axes, sweep.seed_from)
    else:
        say("no local iovsim to check the parameters with; the workers' iovsim will")
    out = args.out  # created only once the sweep is known to be valid
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise UsageError("--out %s: cannot create the directory: %s" % (out, e.strerror))
    lock(out)
    sweep.save(out)
    todo, skipped, text = plan(out, sweep, args.force)
    if args.executor == "slurm":
        return finish_slurm(out, sweep, todo, args)
    say("%s, %s executor" % (text, args.executor))
    progress = Progress(len(sweep.points), skipped)
    failed = []

    def on_result(point, outcome):
        ok = pts.record(out, point, outcome)
        if not ok:
            failed.append(point)
        progress.finished(ok, None if ok else "point %s failed: %s" % (
            point.hash, pts.failure_summary(pts.point_dir(out, point))))

    for point in todo:
        pts.reset(out, point)
    if args.executor == "local":
        items = [(p, sweep.task(p)) for p in todo]
        executors.run_local(items, args.jobs or os.cpu_count() or 1, progress, on_result)
    else:
        items = [(p, sweep.task(p, ship_configs=True)) for p in todo]
        executors.run_dask(items, args.scheduler, progress, on_result, args.connect_timeout)
    progress.close()
    report(out, None)
    for point in failed[:MAX_FAILURES_LISTED]:
        say("  failed: %s" % pts.point_dir(out, point))
    if len(failed) > MAX_FAILURES_LISTED:
        say("  ... and %d more" % (len(failed) - MAX_FAILURES_LISTED))
    return 1 if failed else 0


def finish_slurm(out, sweep, todo, args):
    script = slurm.write_job(out, todo, args.jobs, args.slurm_option)
    report(out, None)
    if script is None:
        say("every point is complete: nothing to submit")
    else:
        say("%d points to run: sbatch %s, then iovsim-sweep collect %s" % (len(todo), script, out))
    return 0


def report(out, patterns):
    path, counts, nstats = collect.build(out, patterns)
    say("%s: %d rows (%d ok, %d failed, %d missing), %d statistics" % (
        path, sum(counts.values()), counts["ok"], counts["failed"], counts["missing"], nstats))
    if counts["ok"] and nstats == 0:
        say("warning: no statistic matches the --stats patterns")
    return counts


def say(text):
    sys.stderr.write("iovsim-sweep: %s\n" % text)
    sys.stderr.flush()


def cmd_collect(args):
    counts = report(args.dir, args.stats)
    return 1 if counts["failed"] else 0


def cmd_plot(args, argv):
    need_module("matplotlib", argv, "plot")
    from . import plot
    where = dict(grid.parse_fixed(w) for w in args.where)
    where = dict((k, grid.format_value(v)) for k, v in where.items())
    lines = plot.plot(args.dir, args.x, args.y, args.output, series=args.series, where=where,
                      logx=args.logx, logy=args.logy, title=args.title)
    say("%s: %d line%s" % (args.output, lines, "" if lines == 1 else "s"))
    return 0


def cmd_run_point(args):
    ok = slurm.run_point(args.dir, index=args.index, hash_=args.point, iovsim=args.iovsim)
    return 0 if ok else 1


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "run":
            return cmd_run(args, argv)
        if args.command == "collect":
            return cmd_collect(args)
        if args.command == "plot":
            return cmd_plot(args, argv)
        return cmd_run_point(args)
    except UsageError as e:
        say(str(e))
        return 2
    except KeyboardInterrupt:
        say("interrupted; rerun the same command to resume")
        return 130
