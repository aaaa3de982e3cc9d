"""Running one point: the function every executor calls, locally or on a Dask worker.

It runs iovsim in a private temporary directory and returns everything the run produced (exit
status, stderr, the files of --out, wall time) as plain data; the caller stores it in the point's
directory with points.record(). So the local and the Dask executors fill point directories the
same way, and a worker needs no shared file system: only iovsim.

This module imports nothing from the package and only the standard library: the Dask executor
ships it to workers by value (cloudpickle), so workers need not have iovsim_sweep installed.

A task is a dict:
    iovsim   path of the executable (on a worker that lacks it: $IOVSIM, then iovsim on PATH)
    configs  list of {"path": FILE} (read where the task runs), {"text": JSON, "name": NAME}
             (written to a temporary file first), or {"preset": NAME}
    args     the point's iovsim arguments after the configs (--set ..., --seed ...)
    timeout  seconds, or None
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time


def resolve_iovsim(path):
    """The executable to run here: the given path if it exists on this host, else a local one."""
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    env = os.environ.get("IOVSIM")
    if env and os.path.isfile(env) and os.access(env, os.X_OK):
        return env
    return shutil.which("iovsim")


def _config_args(configs, tmp):
    args = []
    for i, config in enumerate(configs):
        if "path" in config:
            args += ["--config", config["path"]]
        elif "preset" in config:
            args += ["--config", config["preset"]]
        else:
            path = os.path.join(tmp, "%d-%s" % (i, os.path.basename(config["name"])))
            with open(path, "w", encoding="utf-8") as f:
                f.write(config["text"])
            args += ["--config", path]
    return args


def _collect_files(out):
    files = {}
    if os.path.isdir(out):
        for name in sorted(os.listdir(out)):
            path = os.path.join(out, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    files[name] = f.read()
    return files


def execute(task):
    """Runs one point; never raises for a failing run (the outcome says what happened)."""
    host = socket.gethostname()
    exe = resolve_iovsim(task["iovsim"])
    if exe is None:
        return {"exit": None, "host": host, "stderr": "", "files": {}, "wall_s": 0.0,
                "command": None,
                "reason": "iovsim not found on %s (not at %s, no $IOVSIM, not on PATH): install "
                          "it on every worker or share the build path" % (host, task["iovsim"])}
    tmp = tempfile.mkdtemp(prefix="iovsim-point-", dir=task.get("tmpdir"))
    try:
        out = os.path.join(tmp, "out")
        cmd = [exe, "run"] + _config_args(task["configs"], tmp) + list(task["args"]) + [
            "--out", out, "--quiet"]
        shown = cmd[:-3]  # without the temporary --out: what reruns the point by hand
        reason, status, stderr = None, None, b""
        start = time.monotonic()
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, timeout=task.get("timeout"))
            status, stderr = proc.returncode, proc.stderr
        except subprocess.TimeoutExpired as e:
            reason = "timed out after %s s" % task.get("timeout")
            stderr = e.stderr or b""
        except OSError as e:
            reason = "cannot run %s: %s" % (exe, e)
        wall = time.monotonic() - start
        return {"exit": status, "reason": reason, "host": host, "pid": os.getpid(), "wall_s": wall,
                "stderr": stderr.decode("utf-8", "replace"), "files": _collect_files(out),
                "command": shown}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
