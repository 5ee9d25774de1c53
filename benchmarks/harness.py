"""The benchmark harness: C compilation, correctness checks, timing, tables.

A task module (see `tasks/`) gives inputs, a NumPy reference, a C source
and one builder per peer. A builder takes the inputs and returns a
zero-argument callable that computes the task's result; calling the builder
and then the callable once is the *first call*. The harness checks that
first result against the reference, then times further calls.

Timing: one warm-up call, then each sample runs the callable enough times
to last about `Config.sample_s`; the time per call is the median of the
samples. Build time is `first call - median call` (trace, differentiate,
compile, and whatever else the first call does once).
"""

from __future__ import annotations

import ctypes
import datetime
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# OpenMP threads of the C kernels sleep between calls instead of spinning,
# so they do not steal a core from the peer measured next in the same process.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PEERS = ["c", "numpy", "symgrad", "jax", "torch", "casadi", "symengine"]
PEER_TITLES = {
    "c": "C -O3",
    "numpy": "NumPy",
    "symgrad": "symgrad",
    "jax": "JAX jit",
    "torch": "PyTorch",
    "casadi": "CasADi",
    "symengine": "SymEngine",
}
# The Python module each peer needs; a peer whose module is missing is "not installed".
PEER_MODULES = {"jax": "jax", "torch": "torch", "casadi": "casadi", "symengine": "symengine"}
C_FLAGS = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-std=c99"]


@dataclass(frozen=True)
class Config:
    quick: bool = False
    repeats: int = 7  # timing samples (the median is reported)
    sample_s: float = 0.05  # target length of one timing sample
    build_timeout: float = 120.0
    run_timeout: float = 600.0

    @staticmethod
    def make(quick: bool) -> Config:
        if quick:
            return Config(quick=True, repeats=5, sample_s=0.01, build_timeout=60.0, run_timeout=60.0)
        return Config()


class NotApplicable(Exception):
    """The peer has no implementation of this task (shown as "n/a", with the reason)."""


# ----- C -----


def have_gcc() -> bool:
    return shutil.which("gcc") is not None


def compile_c(source: str, defines: dict[str, Any] | None = None) -> ctypes.CDLL:
    """Compile `source` with gcc -O3 -march=native into a shared library and load it."""
    if not have_gcc():
        raise NotApplicable("gcc not found")
    flags = C_FLAGS + [f"-D{k}={v}" for k, v in (defines or {}).items()]
    digest = hashlib.sha1((source + " ".join(flags)).encode()).hexdigest()[:12]
    folder = tempfile.mkdtemp(prefix="symgrad-bench-")
    src, lib = os.path.join(folder, f"k{digest}.c"), os.path.join(folder, f"k{digest}.so")
    with open(src, "w") as f:
        f.write(source)
    done = subprocess.run(["gcc", *flags, src, "-o", lib, "-lm"], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"gcc failed:\n{done.stderr}")
    return ctypes.CDLL(lib)


def c_function(lib: ctypes.CDLL, name: str, restype: Any, *argtypes: Any) -> Callable:
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


def c_array_kernel(source: str, name: str, x: np.ndarray, out_shape: tuple[int, ...]) -> Callable[[], np.ndarray]:
    """A call of `void name(const double *x, double *out, long len(x))` into a fresh output array."""
    fn = c_function(compile_c(source), name, None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long)
    x_ptr = ptr(x)

    def run() -> np.ndarray:
        out = np.empty(out_shape)
        fn(x_ptr, ptr(out), len(x))
        return out

    return run


def ptr(array: np.ndarray) -> int:
    """The address of a C-contiguous float64 array, for a `c_void_p` argument."""
    if array.dtype != np.float64 or not array.flags.c_contiguous:
        raise ValueError(f"C kernels take C-contiguous float64 arrays, got {array.dtype} {array.shape}")
    return array.__array_interface__["data"][0]


# ----- Checking -----


def flat(result: Any) -> np.ndarray:
    """A result (array, float, or tuple/list of these) as one float64 vector."""
    if isinstance(result, (tuple, list)):
        return np.concatenate([flat(r) for r in result]) if result else np.zeros(0)
    return np.ravel(np.asarray(result, dtype=np.float64))


def max_rel_error(got: Any, reference: Any) -> float:
    got, reference = flat(got), flat(reference)
    if got.shape != reference.shape:
        return math.inf
    scale = max(1.0, float(np.max(np.abs(reference))) if reference.size else 1.0)
    return float(np.max(np.abs(got - reference))) / scale if got.size else 0.0


# ----- Timing -----


def measure(
    make: Callable[[], Callable[[], Any]],
    reference: Any,
    rtol: float,
    config: Config,
    on_built: Callable[[dict], None] | None = None,
) -> dict:
    """Build a peer, check its first result, then time it. Returns a JSON-able record."""
    start = time.perf_counter()
    run = make()
    first = run()
    first_call = time.perf_counter() - start
    error = max_rel_error(first, reference)
    record = {
        "status": "ok",
        "correct": bool(error <= rtol),
        "max_rel_error": error,
        "first_call_s": first_call,
    }
    if on_built:
        on_built(record)
    run()  # warm-up
    t0 = time.perf_counter()
    run()
    once = time.perf_counter() - t0
    inner = max(1, math.ceil(config.sample_s / max(once, 1e-9)))
    samples = []
    for _ in range(config.repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            run()
        samples.append((time.perf_counter() - t0) / inner)
    record["time_s"] = float(np.median(samples))
    record["samples_s"] = samples
    record["calls_per_sample"] = inner
    record["build_s"] = max(0.0, first_call - record["time_s"])
    return record


def installed(peer: str) -> bool:
    module = PEER_MODULES.get(peer)
    if module is None:
        return peer != "c" or have_gcc()
    import importlib.util

    return importlib.util.find_spec(module) is not None


def run_peer(task: Any, peer: str, config: Config, on_built: Callable[[dict], None] | None = None) -> dict:
    """Measure one peer on one task in this process."""
    if not installed(peer):
        return {"status": "not installed"}
    builder = getattr(task, peer, None)
    if builder is None:
        return {"status": "n/a", "reason": f"no {PEER_TITLES[peer]} implementation of this task"}
    data = task.inputs(config.quick)
    reference = task.reference(data)
    try:
        record = measure(lambda: builder(data), reference, task.RTOL, config, on_built)
    except NotApplicable as e:
        return {"status": "n/a", "reason": str(e)}
    except Exception as e:  # a peer that fails is reported, not fatal
        return {"status": "error", "error": f"{type(e).__name__}: {e}"[:500]}
    if peer == "symgrad":
        record["path"] = task.SYMGRAD_PATH
    return record


# ----- Machine and report -----


def machine_info() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
            f.seek(0)
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        flags = ""
    versions = {}
    for name in ["numpy", "llvmlite", "jax", "jaxlib", "torch", "casadi", "symengine", "symgrad"]:
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            versions[name] = None
    gcc = (
        subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
        if have_gcc()
        else []
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "avx512": "avx512f" in flags,
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "gcc": gcc[0] if gcc else None,
        "c_flags": " ".join(C_FLAGS),
        "versions": versions,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def format_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def _ratio_cell(record: dict, c_time: float | None) -> str:
    status = record.get("status")
    if status == "not installed":
        return "—"
    if status == "n/a":
        return "n/a"
    if status == "timeout":
        return f"timeout ({record.get('phase', 'build')} > {record.get('limit_s', 0):.0f} s)"
    if status != "ok":
        return "error"
    mark = "" if record["correct"] else "✗ "
    if c_time:
        return f"{mark}{record['time_s'] / c_time:.3g}×"
    return f"{mark}{format_time(record['time_s'])}"


def _size(size: dict) -> str:
    return ", ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in size.items())


def markdown(report: dict) -> str:
    peers = [p for p in PEERS if p != "c"]
    head = ["task", "C -O3 (time)"] + [f"{PEER_TITLES[p]} (×C)" for p in peers] + ["symgrad build"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    build_lines = [
        "| task | " + " | ".join(PEER_TITLES[p] for p in PEERS) + " |",
        "|---|" + "---|" * len(PEERS),
    ]
    for task in report["tasks"].values():
        c = task["peers"].get("c", {})
        c_time = c["time_s"] if c.get("status") == "ok" and c["correct"] else None
        c_cell = (
            (("✗ " if not c["correct"] else "") + format_time(c["time_s"]))
            if c.get("status") == "ok"
            else _ratio_cell(c, None)
        )
        sg = task["peers"].get("symgrad", {})
        sg_build = format_time(sg["build_s"]) if sg.get("status") == "ok" else _ratio_cell(sg, None)
        cells = [f"{task['title']} ({_size(task['size'])})", c_cell] + [
            _ratio_cell(task["peers"].get(p, {}), c_time) for p in peers
        ]
        lines.append("| " + " | ".join(cells + [sg_build]) + " |")
        builds = [
            format_time(r["build_s"]) if r.get("status") == "ok" else _ratio_cell(r, None)
            for r in (task["peers"].get(p, {}) for p in PEERS)
        ]
        build_lines.append(f"| {task['title']} | " + " | ".join(builds) + " |")
    m = report["machine"]
    notes = [
        f"Machine: {m['cpu']}, {m['cores']} cores{' (AVX-512)' if m['avx512'] else ''}; "
        f"{m['gcc']}; mode: {'quick' if report['quick'] else 'full'}; {m['date']}.",
        "",
        "Run time: median per call (≥5 samples after a warm-up), as a ratio to the C column (lower is "
        "better). ✗: the first result disagreed with the reference; —: not installed; n/a: no "
        "implementation of that task for that peer; timeout/error: see the JSON.",
        "",
        "Build: first call − median call (symgrad: trace + differentiate + compile; C: gcc).",
    ]
    paths = [
        f"- {t['title']}: `{t['peers']['symgrad']['path']}`"
        for t in report["tasks"].values()
        if "path" in t["peers"].get("symgrad", {})
    ]
    problems = []
    for t in report["tasks"].values():
        for p, r in t["peers"].items():
            if r.get("status") in ("error", "timeout", "n/a") or (
                r.get("status") == "ok" and not r["correct"]
            ):
                why = r.get("error") or r.get("reason") or ""
                if r.get("status") == "ok":
                    why = (
                        f"disagrees with the reference (max error {r['max_rel_error']:.2g} × max |reference|)"
                    )
                if r.get("status") == "timeout":
                    why = f"{r['phase']} did not finish within {r['limit_s']:.0f} s"
                problems.append(f"- {t['title']} / {PEER_TITLES[p]}: {r['status']} {why}".rstrip())
    return (
        "\n".join(
            [
                "# symgrad benchmarks",
                "",
                *lines,
                "",
                "## Build time (first call − median call)",
                "",
                *build_lines,
                "",
                *notes,
                "",
                "## symgrad paths",
                "",
                *paths,
            ]
            + (["", "## Not measured, failed or disagreed", "", *problems] if problems else [])
        )
        + "\n"
    )


def save(report: dict, json_path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(report, f, indent=1, default=float)
    md_path = os.path.splitext(json_path)[0] + ".md"
    with open(md_path, "w") as f:
        f.write(markdown(report))
    return md_path


# ----- Peers' imports (lazy: a task module imports nothing optional at import time) -----


def import_jax() -> tuple[Any, Any]:
    """`jax` and `jax.numpy`, with float64 enabled (all tasks are float64)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def casadi_options() -> dict:
    """CasADi's C JIT through gcc with the same flags as the C column, where a compiler exists."""
    if not have_gcc():
        return {}
    return {
        "jit": True,
        "compiler": "shell",
        "jit_options": {"compiler": "gcc", "flags": ["-O3", "-march=native"], "verbose": False},
    }
