"""Every benchmark task's correctness check, in quick mode, for symgrad, C and NumPy (no timing).

The benchmark suites themselves (`python benchmarks/run.py [--suite arrays]`) are not part of
the tests; this only makes sure that each task's symgrad path, hand-written C and NumPy agree
with the reference. The array suite's quick sizes (n ≤ 10 matrices, an 8-6-3 MLP, 8 particles)
are small enough for today's scalar path, so every array case is checked here; its full sizes
are what needs the array IR of issue 8.
"""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import harness  # noqa: E402
from benchmarks.tasks import TASKS, arrays  # noqa: E402


@pytest.mark.parametrize("peer", ["symgrad", "c", "numpy"])
@pytest.mark.parametrize("name", list(TASKS))
def test_task_agrees_with_reference(name, peer):
    if peer == "c" and not harness.have_gcc():
        pytest.skip("gcc not found")
    task = TASKS[name]
    data = task.inputs(quick=True)
    result = getattr(task, peer)(data)()
    error = harness.max_rel_error(result, task.reference(data))
    assert error <= task.RTOL, f"{name}/{peer}: max error {error:.3g} × max |reference| > {task.RTOL}"


@pytest.mark.parametrize("peer", ["symgrad", "numpy"])
@pytest.mark.parametrize("name", list(arrays.TASKS))
def test_array_task_agrees_with_reference(name, peer):
    task = arrays.TASKS[name]
    data = task.inputs(quick=True)
    result = getattr(task, peer)(data)()
    error = harness.max_rel_error(result, task.reference(data))
    assert error <= task.RTOL, f"{name}/{peer}: max error {error:.3g} × max |reference| > {task.RTOL}"


def _record(first_call_s, time_s, correct=True):
    return {"status": "ok", "correct": correct, "max_rel_error": 0.0 if correct else 1.0,
            "first_call_s": first_call_s, "time_s": time_s, "build_s": first_call_s - time_s}


def _array_report(symgrad_1000, symgrad_10):
    jax = _record(0.4, 0.010)
    tasks = {
        name: {"title": arrays.TASKS[name].TITLE, "size": {"n": n}, "peers": {"symgrad": sg, "jax": jax}}
        for name, n, sg in [("tanh_matmul_1000", 1000, symgrad_1000), ("tanh_matmul_10", 10, symgrad_10)]
    }
    machine = {"cpu": "cpu", "cores": 2, "avx512": False, "load_average_at_start": (0.0, 0.0, 0.0),
               "date": "today", "versions": {}}
    config = {"build_timeout": 120.0, "run_timeout": 600.0, "memory_limit_gib": 8.0}
    return {"quick": False, "isolated": True, "config": config, "machine": machine, "tasks": tasks}


def test_array_report_judges_issue_8_targets():
    from benchmarks import arrays_report

    timeout = {"status": "timeout", "phase": "build", "limit_s": 120.0}
    lines = arrays_report.markdown(_array_report(timeout, _record(0.3, 1e-5))).splitlines()
    assert "| tanh(A @ B).sum(), ∇A (n=1,000) | first call ≤ 1.0 s | timeout (build > 120 s) | no |" in lines
    assert "| tanh(A @ B).sum(), ∇A (n=1,000) | per call ≤ 1.2× JAX | timeout (build > 120 s) | no |" in lines

    met = arrays_report.markdown(_array_report(_record(0.41, 0.011), _record(0.3, 1e-5))).splitlines()
    assert "| tanh(A @ B).sum(), ∇A (n=1,000) | first call ≤ 1.0 s | 410 ms | yes |" in met
    assert "| tanh(A @ B).sum(), ∇A (n=1,000) | per call ≤ 1.2× JAX | 1.1× | yes |" in met
    assert any(line.endswith("| build within 1.5× | 1.33× (399 ms / 300 ms) | yes |") for line in met)

    wrong = arrays_report.markdown(_array_report(_record(0.41, 0.011, correct=False), _record(0.3, 1e-5)))
    assert "| tanh(A @ B).sum(), ∇A (n=1,000) | per call ≤ 1.2× JAX | ✗ 1.1× | no |" in wrong.splitlines()
