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
