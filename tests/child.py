"""Running test code in a child process, so that a crash (SIGSEGV) fails one test
instead of killing pytest, and a hang ends at a timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest


def run_python(code: str, *, env: dict[str, str] | None = None, timeout: float = 300,
               cwd: str | os.PathLike | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run `code` with this interpreter; fail the test if the child dies of a signal or hangs."""
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})}, cwd=cwd, input=stdin)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"child process hung (killed after {timeout} s); its last output:\n{(e.stdout or '')[-2000:]}")
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        pytest.fail(f"child process died of {name}; its last output:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done


def host_vector_widths() -> list[int]:
    """The vector widths (doubles per vector) this CPU can run: 2, 4 with AVX2, 8 with AVX-512."""
    from llvmlite import binding

    features = binding.get_host_cpu_features()
    return [2] + [4] * bool(features.get("avx2")) + [8] * bool(features.get("avx512f"))
