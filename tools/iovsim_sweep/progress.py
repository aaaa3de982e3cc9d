"""Progress on stderr: points done, failed and running, and an ETA.

On a terminal one line is redrawn in place; otherwise (a log file, CI) a line is printed at most
every few seconds, so long sweeps leave a readable log. Failures always get their own line.
"""
import sys
import threading
import time


def format_duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return "%ds" % seconds
    if seconds < 3600:
        return "%dm%02ds" % (seconds // 60, seconds % 60)
    return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)


class Progress(object):
    """Counts for one sweep; thread-safe, since the local executor reports from its threads."""

    LOG_INTERVAL_S = 5.0

    def __init__(self, total, skipped, stream=None, clock=time.monotonic):
        self.total = total
        self.skipped = skipped
        self.done = 0
        self.failed = 0
        self.running = 0
        self.running_cap = None  # Dask: at most this many can really be running
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.clock = clock
        self.start = clock()
        self.last_log = None
        self.lock = threading.Lock()

    def line(self):
        finished = self.skipped + self.done + self.failed
        running = self.running if self.running_cap is None else min(self.running,
                                                                     self.running_cap)
        parts = ["%d/%d done" % (self.skipped + self.done, self.total)]
        if self.skipped:
            parts[0] += " (%d already)" % self.skipped
        parts.append("%d failed" % self.failed)
        parts.append("%d running" % running)
        ran = self.done + self.failed
        remaining = self.total - finished
        if remaining == 0:
            parts.append("elapsed %s" % format_duration(self.clock() - self.start))
        elif ran:
            eta = (self.clock() - self.start) / ran * remaining
            parts.append("ETA %s" % format_duration(eta))
        else:
            parts.append("ETA --")
        return "iovsim-sweep: " + ", ".join(parts)

    def _show(self, force=False):
        now = self.clock()
        if self.tty:
            self.stream.write("\r\033[K" + self.line())
        elif force or self.last_log is None or now - self.last_log >= self.LOG_INTERVAL_S:
            self.stream.write(self.line() + "\n")
            self.last_log = now
        self.stream.flush()

    def started(self):
        with self.lock:
            self.running += 1
            self._show()

    def stopped(self):
        """A point's process ended (counted apart from finished(): the executor's thread knows
        first, and a new point may start before the result is recorded)."""
        with self.lock:
            self.running -= 1

    def finished(self, ok, message=None):
        with self.lock:
            if ok:
                self.done += 1
            else:
                self.failed += 1
                if self.tty:
                    self.stream.write("\r\033[K")
                self.stream.write("iovsim-sweep: %s\n" % message)
            self._show()

    def close(self):
        with self.lock:
            if self.tty:
                self.stream.write("\r\033[K" + self.line() + "\n")
            else:
                self._show(force=True)
            self.stream.flush()
