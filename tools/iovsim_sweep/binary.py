"""Finding the iovsim executable, and asking it to check a sweep's parameters before any runs."""
import os
import shutil
import subprocess

from .errors import UsageError
from .grid import format_value

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Where `cmake --preset release` (the quick start) and `--preset ci` (the tests) put the command.
BUILD_CANDIDATES = [os.path.join(REPO, "build", p, "bin", "iovsim") for p in ("release", "ci")]


def _executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_iovsim(explicit=None, required=True):
    """--iovsim PATH, else $IOVSIM, else iovsim on PATH, else this repository's build tree.

    An explicit choice that is not executable is an error rather than a silent fallback: the
    user asked for that binary. Returns None only when required is False and nothing is found.
    """
    for source, path in (("--iovsim", explicit), ("IOVSIM", os.environ.get("IOVSIM"))):
        if path:
            if not _executable(path):
                raise UsageError("%s %s: not an executable file" % (source, path))
            return os.path.abspath(path)
    on_path = shutil.which("iovsim")
    if on_path:
        return os.path.abspath(on_path)
    for path in BUILD_CANDIDATES:
        if _executable(path):
            return path
    if required:
        raise UsageError("cannot find iovsim: give --iovsim PATH, set IOVSIM, put iovsim on PATH, "
                         "or build it (cmake --preset release && cmake --build --preset release)")
    return None


def validate(iovsim, configs, fixed, axes, seed):
    """Runs `iovsim params` with every swept value, so a typo fails before hundreds of points do.

    Call i sets each key to its i-th value (its last one once exhausted): max(len) calls check
    every value of every key. iovsim exits 2 naming the bad key and the nearest known one; that
    line becomes the UsageError. What only a run can check (e.g. entries not a multiple of ways)
    is left to the points, which then fail individually.
    """
    base = [iovsim, "params"]
    for config in configs:
        base += ["--config", config]
    for key, value in fixed.items():
        base += ["--set", "%s=%s" % (key, format_value(value))]
    if seed is not None:
        base += ["--set", "seed=%d" % seed]
    longest = max([len(axis.rows) for axis in axes] or [1])
    for i in range(longest):
        cmd = list(base)
        for axis in axes:
            row = axis.rows[min(i, len(axis.rows) - 1)]
            for key, value in zip(axis.keys, row):
                cmd += ["--set", "%s=%s" % (key, format_value(value))]
        try:
            proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise UsageError("cannot run %s params: %s" % (iovsim, e))
        if proc.returncode != 0:
            lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            message = lines[-1] if lines else "exit status %d" % proc.returncode
            if message.startswith("iovsim: "):
                message = message[len("iovsim: "):]
            raise UsageError("iovsim rejects the sweep's parameters: %s" % message)
