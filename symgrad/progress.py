"""Feedback on kernel builds: a log line for slow ones, a progress line on a terminal for long ones.

The `symgrad` logger (standard `logging`; silent until the application
configures logging) gets one INFO line for every build that takes longer
than `LOG_MIN_SECONDS`: what was built, how many operations, and the time of
each stage (trace+differentiate, cache key, lower to LLVM IR, LLVM
optimise+codegen, cache load). A build expected to take longer than `PROGRESS_MIN_SECONDS`
(estimated from its size) draws a tqdm-style line on stderr while it runs,
when stderr is a terminal and `SYMGRAD_PROGRESS` is not `0`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from contextlib import contextmanager

logger = logging.getLogger("symgrad")
logger.addHandler(logging.NullHandler())

LOG_MIN_SECONDS = 1.0
PROGRESS_MIN_SECONDS = 3.0
# A build that was not expected to be long shows progress once it has taken this long.
PROGRESS_LATE_SECONDS = 5.0
_REDRAW_SECONDS = 0.25

# Build time per operation (lowering + LLVM at O3), measured with benchmarks/cold_warm.py:
# 2.4e-4 s (Lennard-Jones forces, 75k operations), 1.1e-4 s (Hessian of Rosenbrock-100, point);
# 8.5e-4 s (Rosenbrock gradient, batch: vectors of VECTOR_WIDTH lanes). Sums over data count
# only their outer operations: the estimate is refined from the IR's size once it is known.
SECONDS_PER_OPERATION = {"point": 2.5e-4, "batch": 8e-4}
# LLVM's time per byte of IR text: 0.5 to 3.4 us measured (3.4: the MLP's sums over data).
LLVM_SECONDS_PER_IR_BYTE = 3e-6

STAGES = {
    "trace": "trace+differentiate",
    "key": "cache key",
    "lower": "lower to LLVM IR",
    "llvm": "LLVM optimise+codegen",
    "load": "cache load",
}


class Build:
    """The stages of one kernel build, timed; logs itself when slow, shows progress when long.

    Args:
        what: the function's name, as users see it (`grad(energy)`).
        kind: the kernel's kind (`point`, `batch`).
        operations: its size in operations, for the estimate of its duration.
        traced: seconds spent tracing and differentiating before this build.
    """

    def __init__(self, what: str, kind: str, operations: int, traced: float = 0.0):
        self.what = what
        self.kind = kind
        self.operations = operations
        self.seconds: dict[str, float] = {"trace": traced} if traced else {}
        self.cache = "off"
        self.stage_name = "lower"
        self.expected = operations * SECONDS_PER_OPERATION.get(kind, SECONDS_PER_OPERATION["batch"])
        self._start = time.perf_counter()
        self._progress: _ProgressLine | None = None

    @contextmanager
    def stage(self, name: str):
        """Time the stage `name` (a key of `STAGES`)."""
        self.stage_name = name
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def compiling(self) -> None:
        """The cache had nothing: code will be compiled. Shows progress on a terminal."""
        if self._progress is None and _progress_wanted():
            self._progress = _ProgressLine(self)

    def lowered(self, ir_bytes: int) -> None:
        """The IR text is known: estimate LLVM's part of the build from its size."""
        done = sum(self.seconds.get(s, 0.0) for s in ("lower", "load"))
        self.expected = done + ir_bytes * LLVM_SECONDS_PER_IR_BYTE

    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def close(self, failed: bool = False) -> None:
        """The build is over: stop the progress display."""
        if self._progress is not None:
            self._progress.close(failed)
            self._progress = None

    def log(self) -> None:
        """Log the build's stages when it was slow (the record's `build` attribute is this object)."""
        total = self.elapsed() + self.seconds.get("trace", 0.0)
        if total >= LOG_MIN_SECONDS and logger.isEnabledFor(logging.INFO):
            logger.info("%s", self.summary(total), extra={"build": self})

    def summary(self, total: float) -> str:
        stages = ", ".join(f"{label} {self.seconds[name]:.2f} s" for name, label in STAGES.items()
                           if name in self.seconds)
        return (f"built {self.what} ({self.kind} kernel, {self.operations:,} operations) in {total:.2f} s: "
                f"{stages} (compile cache: {self.cache})")


def _progress_wanted() -> bool:
    if os.environ.get("SYMGRAD_PROGRESS", "1").strip() == "0":
        return False
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


class _ProgressLine:
    """A thread redrawing one line on stderr: stage, a bar of elapsed/expected time, seconds."""

    def __init__(self, build: Build):
        self.build = build
        self.drawn = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="symgrad-progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        build = self.build
        while not self._stop.wait(_REDRAW_SECONDS):
            elapsed = build.elapsed()
            if elapsed >= PROGRESS_LATE_SECONDS or (build.expected >= PROGRESS_MIN_SECONDS and elapsed >= 0.5):
                self._draw(*self.line(elapsed))

    def line(self, elapsed: float) -> tuple[str, str]:
        """The line as (what is built, where it is): the first is shortened to fit a narrow terminal."""
        build = self.build
        expected = max(build.expected, 1e-9)
        fraction = min(elapsed / expected, 0.99)
        width = 20
        eighths = int(fraction * width * 8)
        if _unicode():
            bar = ("█" * (eighths // 8) + ("▏▎▍▌▋▊▉"[eighths % 8 - 1] if eighths % 8 else "")).ljust(width)
        else:
            bar = ("#" * (eighths // 8)).ljust(width, "-")
        remaining = f"~{expected:.0f}s" if elapsed < expected else "longer than estimated"
        what = f"symgrad: compiling {build.what} [{build.kind}, {build.operations:,} ops]"
        return what, f" {_SHORT_STAGES[build.stage_name]} {fraction:4.0%}|{bar}| {elapsed:.1f}s/{remaining}"

    def _draw(self, what: str, where: str = "", end: str = "") -> None:
        try:
            columns = os.get_terminal_size(sys.stderr.fileno()).columns or 100  # 0: size unknown
        except (OSError, ValueError, AttributeError):
            columns = 100
        width = max(40, columns - 1)
        text = what[:max(10, width - len(where))] + where
        try:
            sys.stderr.write("\r" + text[:width].ljust(width) + end)
            sys.stderr.flush()
            self.drawn = True
        except (OSError, ValueError):
            self._stop.set()

    def close(self, failed: bool) -> None:
        self._stop.set()
        self._thread.join()
        if self.drawn:
            build = self.build
            outcome = "stopped compiling" if failed else "compiled"
            self._draw(f"symgrad: {outcome} {build.what} [{build.kind}, {build.operations:,} ops] "
                       f"in {build.elapsed():.1f}s", end="\n")


_SHORT_STAGES = {"trace": "tracing", "key": "hashing", "lower": "lowering", "llvm": "LLVM", "load": "loading"}


def _unicode() -> bool:
    return (getattr(sys.stderr, "encoding", None) or "").lower().replace("-", "") in ("utf8", "utf16")
