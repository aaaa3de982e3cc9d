"""Grid expansion: the values each swept key takes, and the parameter assignments they make.

Values are canonicalised (4K -> 4096, 0x10 -> 16, 2.50 -> 2.5) so that one point written two ways
gets one hash, and so that numbers plot as numbers. Anything that is not a number (true, lru) is
kept as typed: iovsim, not this module, decides what a parameter accepts.

Syntax (docs/sweeps.md):
    --grid KEY=V1,V2,...       one axis of the cartesian product
    --zip  KEY=V1,V2,...       all --zip keys advance together, as one axis
    V may be a range: START..END:xFACTOR (geometric) or START..END:+STEP (arithmetic), END
    included when it is hit; START and END take iovsim's integer suffixes (256K, 64M).
"""
import itertools
import re
from collections import OrderedDict

from .errors import UsageError

MAX_VALUES = 100000  # per key: a typo like 1..1G:+1 should fail fast, not fill the disk

_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_INT_RE = re.compile(r"^([+-]?)(0[xX][0-9a-fA-F]+|[0-9]+)([KMGT]?)$")
_FLOAT_RE = re.compile(r"^[+-]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]+)?$")
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def parse_number(text):
    """int for iovsim's integer syntax (4096, 0x1000, 4K, 2M), float for decimals, else None."""
    text = text.strip()
    m = _INT_RE.match(text)
    if m:
        sign, digits, suffix = m.groups()
        value = int(digits, 16) if digits[:2].lower() == "0x" else int(digits)
        value *= _SUFFIXES[suffix]
        return -value if sign == "-" else value
    if _FLOAT_RE.match(text):
        return float(text)
    return None


def canonical_value(text):
    """The value as it is hashed, passed to iovsim and written to results.csv."""
    number = parse_number(text)
    return number if number is not None else text.strip()


def format_value(value):
    """Text for iovsim's --set and for CSV cells: the same for every executor and Python."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _tidy(value):
    """Rounds away binary noise from float steps (0.1 + 0.2) and keeps whole numbers exact."""
    if isinstance(value, float):
        value = float("%.12g" % value)
    return value


def expand_range(text, where):
    """The values of START..END:xFACTOR or START..END:+STEP, in increasing order."""
    start_text, _, rest = text.partition("..")
    end_text, colon, step_text = rest.partition(":")
    if not colon or not step_text or step_text[0] not in "x+":
        raise UsageError("%s: range '%s' needs a step: START..END:xFACTOR or START..END:+STEP"
                         % (where, text))
    start, end = parse_number(start_text), parse_number(end_text)
    step = parse_number(step_text[1:])
    for name, value, raw in (("start", start, start_text), ("end", end, end_text),
                             ("step", step, step_text[1:])):
        if value is None:
            raise UsageError("%s: range '%s': %s '%s' is not a number" % (where, text, name, raw))
    if start > end:
        raise UsageError("%s: range '%s': start is greater than end" % (where, text))
    if step_text[0] == "x":
        if step <= 1:
            raise UsageError("%s: range '%s': the factor must be greater than 1" % (where, text))
        if start <= 0:
            raise UsageError("%s: range '%s': a geometric range must start above 0" % (where, text))
        return _limited(_geometric(start, end, step), text, where)
    if step <= 0:
        raise UsageError("%s: range '%s': the step must be greater than 0" % (where, text))
    return _limited(_arithmetic(start, end, step), text, where)


def _geometric(start, end, factor):
    i = 0
    while True:
        value = _tidy(start * factor ** i)
        if value > end * (1 + 1e-12):
            return
        yield value
        i += 1


def _arithmetic(start, end, step):
    i = 0
    while True:
        value = _tidy(start + i * step)
        if value > end + abs(step) * 1e-9:
            return
        yield value
        i += 1


def _limited(values, text, where):
    out = []
    for value in values:
        out.append(value)
        if len(out) > MAX_VALUES:
            raise UsageError("%s: range '%s' has more than %d values" % (where, text, MAX_VALUES))
    return out


def parse_values(text, where):
    """The comma-separated values (each a literal or a range) of one key, duplicates refused."""
    values = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise UsageError("%s: empty value in '%s'" % (where, text))
        if ".." in item and parse_number(item.partition("..")[0]) is not None:
            # A range starts with a number; "../traces/a.csv" is a path, kept as typed.
            values.extend(expand_range(item, where))
        else:
            values.append(canonical_value(item))
    seen = set()
    for value in values:
        marker = (type(value) is str, value)
        if marker in seen:
            raise UsageError("%s: value %s appears twice" % (where, format_value(value)))
        seen.add(marker)
    return values


def parse_assignment(spec, option):
    """KEY=V1,V2,... -> (KEY, [values])."""
    key, eq, values = spec.partition("=")
    key = key.strip()
    where = "%s %s" % (option, spec)
    if not eq or not key or not values.strip():
        raise UsageError("%s: expected KEY=V1,V2,..." % where)
    if not _KEY_RE.match(key):
        raise UsageError("%s: '%s' is not a parameter name" % (where, key))
    return key, parse_values(values, "%s %s" % (option, key))


def parse_fixed(spec):
    """--set KEY=VALUE (one value, passed to every point) -> (KEY, value)."""
    key, eq, value = spec.partition("=")
    key = key.strip()
    if not eq or not key or not value.strip():
        raise UsageError("--set %s: expected KEY=VALUE" % spec)
    if not _KEY_RE.match(key):
        raise UsageError("--set %s: '%s' is not a parameter name" % (spec, key))
    return key, canonical_value(value)


class Axis(object):
    """One dimension of the product: a --grid key, or every --zip key advancing together."""

    def __init__(self, keys, rows):
        self.keys = list(keys)
        self.rows = [tuple(r) for r in rows]

    def __repr__(self):
        return "Axis(%r, %r)" % (self.keys, self.rows)


def build_axes(entries):
    """Axes from the (kind, spec) pairs in command-line order; kind is 'grid' or 'zip'.

    The --zip group takes the place of its first --zip among the axes, so the user controls
    which axis varies fastest (the last one) just by the order of the options.
    """
    axes, zip_keys, zip_values, zip_at = [], [], [], None
    seen = set()
    for kind, spec in entries:
        key, values = parse_assignment(spec, "--" + kind)
        if key in seen:
            raise UsageError("--%s %s: %s is swept twice" % (kind, spec, key))
        seen.add(key)
        if kind == "grid":
            axes.append(Axis([key], [(v,) for v in values]))
        else:
            if zip_at is None:
                zip_at = len(axes)
                axes.append(None)
            zip_keys.append(key)
            zip_values.append(values)
    if zip_at is not None:
        lengths = set(len(v) for v in zip_values)
        if len(lengths) > 1:
            detail = ", ".join("%s has %d" % (k, len(v)) for k, v in zip(zip_keys, zip_values))
            raise UsageError("--zip keys advance together and need as many values each (%s)"
                             % detail)
        axes[zip_at] = Axis(zip_keys, list(zip(*zip_values)))
    return axes


def swept_keys(axes):
    return [k for axis in axes for k in axis.keys]


def expand(axes):
    """Every assignment of the product in grid order: the first axis varies slowest."""
    keys = swept_keys(axes)
    out = []
    for combo in itertools.product(*[axis.rows for axis in axes]):
        values = [v for row in combo for v in row]
        out.append(OrderedDict(zip(keys, values)))
    return out
