"""The array suite: array programs written as a NumPy user writes them (issue 8).

    python benchmarks/run.py --suite arrays            # -> benchmarks/results/arrays.{json,md}
    python benchmarks/run.py --suite arrays --quick    # small sizes, < 1 min

Task modules have the interface of the main suite's (see `tasks/__init__.py`)
plus `TARGETS`: what issue 8's "Done when" asks of symgrad at full size
(`first_call_s`: seconds; `per_call_vs_jax`: symgrad's time per call over
JAX's). The peers are NumPy (the hand-derived reference), symgrad, JAX and
PyTorch; each runs in a fresh process with a memory limit, its library
imported before the clock starts, so "first call" is trace + differentiate +
compile + one run.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import hessian_dense, linreg_matmul, lj_broadcast, mlp_softmax, tanh_matmul

PEERS = ["numpy", "symgrad", "jax", "torch"]
CONFIG = {"memory_limit_gib": 8.0, "import_first": True}


class AtSize:
    """A task module at one of its sizes: `size` and `inputs` bound to it, all else the module's."""

    def __init__(self, module: ModuleType, full: int, quick: int, targets: dict | None = None):
        self.module, self.full, self.quick = module, full, quick
        self.TARGETS = targets or {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)

    def size(self, quick: bool) -> dict:
        return self.module.size_at(self.quick if quick else self.full)

    def inputs(self, quick: bool) -> Any:
        return self.module.inputs_at(self.quick if quick else self.full)


TASKS = {
    "tanh_matmul_10": AtSize(tanh_matmul, 10, 4),
    "tanh_matmul_100": AtSize(tanh_matmul, 100, 6),
    "tanh_matmul_300": AtSize(tanh_matmul, 300, 8),
    "tanh_matmul_1000": AtSize(tanh_matmul, 1000, 10, {"first_call_s": 1.0, "per_call_vs_jax": 1.2}),
    "mlp_softmax": mlp_softmax,
    "linreg_matmul": linreg_matmul,
    "lj_broadcast": lj_broadcast,
    "hessian_dense": hessian_dense,
}

# "Build time flat in array size": symgrad's build (first call − median call) of the
# first task within this factor of the second's.
BUILD_FLAT = ("tanh_matmul_1000", "tanh_matmul_10", 1.5)
