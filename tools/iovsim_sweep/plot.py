"""`iovsim-sweep plot`: one statistic against one swept key from DIR/results.csv, with matplotlib.

One line with markers per series (another swept key), the mean over repeats, and a shaded
min-max band where a point has more than one repeat. Axis labels carry units inferred from the
names (..._ns -> ns, ..._bytes -> bytes, ..._gbps -> Gb/s, hit counts -> count). Swept keys that
are neither x nor series must have a single value among the plotted rows (fix one with --where):
averaging over them silently would plot nonsense.
"""
import difflib
import math
import os

from . import collect
from . import sweep as swp
from .errors import UsageError
from .grid import canonical_value, format_value

FORMATS = (".png", ".svg", ".pdf")
_HIST = ("count", "mean", "min", "p50", "p90", "p99", "max")
_SUFFIX_UNITS = [("_ns", "ns"), ("_us", "µs"), ("_ms", "ms"), ("_s", "s"), ("_bytes", "bytes"),
                 ("_gbps", "Gb/s"), ("_mhz", "MHz"), ("_cycles", "cycles"), ("_pct", "%")]
_NAME_UNITS = {"entries": "entries", "ways": "ways", "page_size": "bytes", "vfs": "VFs",
               "lanes": "lanes", "hit_rate": "fraction", "occupancy": "fraction",
               "transfer_bytes": "bytes", "outstanding": "requests", "requests": "requests",
               "walk_slots": "walks"}
_COUNTS = ("hits", "misses", "walks", "transactions", "faults", "evictions", "fills",
           "delivered", "interrupts", "walk_mem_reads", "bypassed", "remapped")


def unit_of(name):
    """The unit a parameter or statistic is measured in, from its name; '' when unknown."""
    parts = name.split(".")
    if len(parts) > 1 and parts[-1] in _HIST:
        if parts[-1] == "count":
            return "count"
        parts = parts[:-1]
    last = parts[-1]
    if last in _NAME_UNITS:
        return _NAME_UNITS[last]
    for suffix, unit in _SUFFIX_UNITS:
        if last.endswith(suffix):
            return unit
    if last in _COUNTS or last.endswith(("_hits", "_misses")):
        return "count"
    return ""


def label(name):
    unit = unit_of(name)
    return "%s (%s)" % (name, unit) if unit else name


def human_bytes(value):
    """256K, 1M, 64M: how byte sizes are written on the command line."""
    for suffix, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if value >= scale and float(value) / scale == int(float(value) / scale):
            return "%d%s" % (int(value / scale), suffix)
    return format_value(canonical_value("%g" % value))


def _require_column(name, columns, what):
    if name not in columns:
        near = difflib.get_close_matches(name, columns, n=1)
        raise UsageError("%s %s: no such column in results.csv%s" % (
            what, name, "; did you mean %s?" % near[0] if near else ""))


def _numeric(values):
    try:
        return [float(v) for v in values]
    except ValueError:
        return None


def select(columns, rows, x, y, series, where, swept):
    """The ok rows matching --where, checked so that every plotted (series, x) is one quantity.

    swept: the sweep's swept keys (sweep.json), each of which must be x, the series, fixed by
    --where, or single-valued among the chosen rows.
    """
    for name, what in ((x, "--x"), (y, "--y"), (series, "--series")):
        if name:
            _require_column(name, columns, what)
    for key in where:
        _require_column(key, columns, "--where")
    chosen = [r for r in rows if r["status"] == "ok"
              and all(format_value(canonical_value(r[k])) == format_value(canonical_value(v))
                      for k, v in where.items())]
    if not chosen:
        raise UsageError("no completed point matches (%d rows in results.csv)" % len(rows))
    for key in swept:
        if key in (x, series) or key in where:
            continue
        values = sorted(set(r[key] for r in chosen))
        if len(values) > 1:
            raise UsageError("%s varies among the plotted points (%s): fix it with --where %s=V "
                             "or plot it with --series %s" % (key, ", ".join(values[:6]), key,
                                                              key))
    return chosen


def group(rows, x, y, series):
    """{series value: [(x, [y over repeats]), ...]} in x order; series in first-seen order."""
    out = {}
    for r in rows:
        if r[y] == "":
            continue
        xs = out.setdefault(r[series] if series else "", {})
        xs.setdefault(r[x], []).append(float(r[y]))
    for key, xs in out.items():
        order = list(xs)
        nums = _numeric(order)
        if nums is not None:
            order = [v for _, v in sorted(zip(nums, order))]
        out[key] = [(v, xs[v]) for v in order]
    return out


def _import_pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only: no display needed (batch jobs, CI)
    matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable, editable
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    return plt, Patch


def plot(out_dir, x, y, output, series=None, where=None, logx=False, logy=False, title=None):
    """Draws the figure into output (.png, .svg or .pdf); returns the number of lines drawn."""
    ext = os.path.splitext(output)[1].lower()
    if ext not in FORMATS:
        raise UsageError("-o %s: the file name must end in %s" % (output, ", ".join(FORMATS)))
    path = os.path.join(out_dir, collect.FILE)
    if not os.path.isfile(path):
        raise UsageError("%s: no results (run or collect the sweep first)" % path)
    columns, rows = collect.read(path)
    if os.path.isfile(os.path.join(out_dir, swp.FILE)):
        swept = swp.load(out_dir).swept_keys
    else:  # a results.csv on its own: the swept keys are the columns before the meta columns
        swept = columns[:columns.index("seed")] if "seed" in columns else []
    rows = select(columns, rows, x, y, series, where or {}, swept)
    groups = group(rows, x, y, series)
    if not any(groups.values()):
        raise UsageError("--y %s: no values among the plotted points" % y)
    plt, Patch = _import_pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    xs_all = [v for g in groups.values() for v, _ in g]
    numeric_x = _numeric(xs_all) is not None
    categories = list(dict.fromkeys(xs_all)) if not numeric_x else None
    band = False
    repeats = 1
    ordered = groups.keys()
    if series and _numeric(list(ordered)) is not None:
        ordered = sorted(ordered, key=float)
    for key in ordered:
        pts = groups[key]
        xs = [float(v) if numeric_x else categories.index(v) for v, _ in pts]
        means = [sum(ys) / len(ys) for _, ys in pts]
        lows = [min(ys) for _, ys in pts]
        highs = [max(ys) for _, ys in pts]
        repeats = max([repeats] + [len(ys) for _, ys in pts])
        name = "%s = %s" % (series, _tick(key, series)) if series else y
        line, = ax.plot(xs, means, marker="o", label=name)
        if any(len(ys) > 1 for _, ys in pts):
            ax.fill_between(xs, lows, highs, color=line.get_color(), alpha=0.2, linewidth=0)
            band = True
    _axes(ax, x, y, xs_all, numeric_x, categories, logx, logy)
    handles, labels = ax.get_legend_handles_labels()
    if band:
        handles.append(Patch(color="0.5", alpha=0.3))
        labels.append("min–max over %d repeats" % repeats)
    ax.legend(handles, labels, fontsize="small")
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(title or "%s vs %s" % (y, x))
    fig.tight_layout()
    fig.savefig(output, dpi=120)
    plt.close(fig)
    return len(groups)


def _tick(value, key):
    if unit_of(key) == "bytes":
        number = _numeric([value])
        if number is not None:
            return human_bytes(number[0])
    return value


def _axes(ax, x, y, xs_all, numeric_x, categories, logx, logy):
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    if not numeric_x:
        ax.set_xticks(range(len(categories)))
        ax.set_xticklabels(categories)
        return
    values = sorted(set(float(v) for v in xs_all))
    if logx:
        if values[0] <= 0:
            raise UsageError("--logx: %s takes values <= 0" % x)
        powers_of_two = all(math.log2(v).is_integer() for v in values)
        ax.set_xscale("log", base=2 if powers_of_two else 10)
    if logy:
        ax.set_yscale("log")
    if len(values) <= 16:
        ax.set_xticks(values)
        ax.set_xticklabels([_tick(format_value(canonical_value("%.12g" % v)), x)
                            for v in values])
        if logx:
            ax.minorticks_off()  # the data's own ticks are enough; minor ones would clutter
