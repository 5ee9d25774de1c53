"""The benchmark harness: C compilation, correctness checks, timing.

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
import hashlib
import importlib
import math
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

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
    # Address-space limit of an isolated worker (GiB), so that a build that tries to
    # allocate more is recorded as "out of memory" instead of exhausting the machine.
    memory_limit_gib: float | None = None
    # Import the peer's library before the clock starts (its import time is recorded as
    # `import_s`), so that the first call is trace + compile + first run only.
    import_first: bool = False

    @staticmethod
    def make(quick: bool, **changes: Any) -> Config:
        if quick:
            changes = {"repeats": 5, "sample_s": 0.01, "build_timeout": 60.0, "run_timeout": 60.0, **changes}
        return Config(quick=quick, **changes)


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
    # OpenMP threads of the C kernels sleep between calls instead of spinning, so they do not
    # steal a core from the peer measured next in the same process. Set before the first
    # kernel loads libgomp, which reads it then; peers in their own processes keep their defaults.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
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
    setup = prepare(peer) if config.import_first else {}
    try:
        record = measure(lambda: builder(data), reference, task.RTOL, config, on_built)
    except NotApplicable as e:
        return {"status": "n/a", "reason": str(e)}
    except MemoryError as e:
        return {"status": "out of memory", "error": f"MemoryError: {e}"[:500], **setup}
    except Exception as e:  # a peer that fails is reported, not fatal
        return {"status": "error", "error": f"{type(e).__name__}: {e}"[:500]}
    if peer == "symgrad":
        record["path"] = task.SYMGRAD_PATH
    return {**record, **setup}


def limit_memory(gib: float) -> None:
    """Cap this process's address space, so that an allocation beyond it raises MemoryError."""
    limit = int(gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


# Signs, in a dead worker's stderr, that it ran out of memory (Python, NumPy, LLVM, C++).
OUT_OF_MEMORY_SIGNS = ("MemoryError", "Unable to allocate", "out of memory", "bad_alloc", "Cannot allocate memory")


# ----- Peers' imports (lazy: a task module imports nothing optional at import time) -----

# JAX (XLA) and PyTorch are pinned to the thread count they choose by default on this
# machine (one per core), so that an environment variable left set cannot change it.
THREADS = os.cpu_count() or 1


def import_jax() -> tuple[Any, Any]:
    """`jax` and `jax.numpy`, with float64 enabled (all tasks are float64)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" not in flags:  # read when XLA starts, so set before that
        extra = f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={THREADS}"
        os.environ["XLA_FLAGS"] = f"{flags} {extra}".strip()
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def import_torch() -> Any:
    import torch

    torch.set_num_threads(THREADS)
    return torch


def prepare(peer: str) -> dict:
    """Import what `peer` needs and set its threads, outside the clock; returns what to record."""
    start = time.perf_counter()
    info: dict[str, Any] = {}
    if peer == "jax":
        import_jax()
        info["threads"] = int(os.environ["XLA_FLAGS"].split("intra_op_parallelism_threads=")[1].split()[0])
    elif peer == "torch":
        info["threads"] = import_torch().get_num_threads()
    elif peer in ("symgrad", "casadi", "symengine"):
        importlib.import_module(peer)
    info["import_s"] = time.perf_counter() - start
    return info


def casadi_options() -> dict:
    """CasADi's C JIT through gcc with the same flags as the C column, where a compiler exists."""
    if not have_gcc():
        return {}
    return {
        "jit": True,
        "compiler": "shell",
        "jit_options": {"compiler": "gcc", "flags": ["-O3", "-march=native"], "verbose": False},
    }
