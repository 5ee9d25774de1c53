"""Batch kernels at every vector width: sizes around the lanes of a vector and the thread
split, and split bodies over long batches (whose scratch array once grew the stack every
iteration until SIGSEGV). Each width runs in a child process (`SYMGRAD_VECTOR_WIDTH`)."""

import json

import numpy as np
import pytest
from child import host_vector_widths, run_python

pytest.importorskip("llvmlite")

WIDTHS = [pytest.param(w, marks=pytest.mark.skipif(w not in host_vector_widths(),
                                                   reason=f"this CPU has no {w}-lane double vectors"))
          for w in (2, 4, 8)]


def _run_at_width(width: int, code: str) -> dict:
    done = run_python(code, env={"SYMGRAD_VECTOR_WIDTH": str(width)})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["width"] == width
    return report


SPLIT_BODY = """
import json
import numpy as np
import symgrad as sg
from symgrad.codegen.llvm import CHUNK_SIZE, VECTOR_WIDTH

def f(x):
    return sum(np.sin(x[k % 16] * (1 + k / 400)) for k in range(400))

kernel = sg.grad(f).compile(np.zeros(16))
assert kernel._cost > CHUNK_SIZE, kernel._cost  # the body is split into parts
# 200,000 points of 16 inputs and 16 outputs: a scratch array per iteration would need ~50 MB of stack.
X = np.random.default_rng(0).normal(size=(200_000, 16))
grads = sg.vmap(sg.grad(f))(X)[::97]
X = X[::97]
c = 1 + np.arange(400) / 400
expected = np.stack([(np.cos(X[:, [j]] * c[j::16]) * c[j::16]).sum(1) for j in range(16)], 1)
print(json.dumps({"width": VECTOR_WIDTH, "error": float(np.abs(grads - expected).max())}))
"""


@pytest.mark.parametrize("width", WIDTHS)
def test_split_body_kernels_run_long_batches_without_growing_the_stack(width):
    report = _run_at_width(width, SPLIT_BODY)
    assert report["error"] < 1e-9


def test_stack_arrays_of_split_bodies_are_reserved_in_the_entry_block():
    from llvmlite import ir

    import symgrad as sg
    from symgrad.codegen.llvm import CHUNK_SIZE, lower_batch, lower_point

    def f(x):
        return sum(np.sin(x[k % 16] * (1 + k / 400)) for k in range(400))

    graph = sg.grad(f).formula(np.zeros(16)).graph
    assert sum(1 for n in graph.order() if n.args) > CHUNK_SIZE
    for module in (lower_batch(graph, "g_batch"), lower_point(graph, "g", python_entry={"ndarray_type": 1,
                                                                                         "float64": 2})):
        allocas = 0
        for fn in module.functions:
            for k, block in enumerate(fn.blocks):
                for instruction in block.instructions:
                    if isinstance(instruction, ir.AllocaInstr):
                        allocas += 1
                        assert k == 0, f"an alloca in block {block.name} of {fn.name}"
        assert allocas >= 1


SIZES = """
import json
import numpy as np
import symgrad as sg
from symgrad import runtime
from symgrad.codegen.llvm import VECTOR_WIDTH

w = VECTOR_WIDTH
f = lambda a, b: (np.sin(a) * b[0]).sum() + (a ** 2).sum() * b[1]
df = sg.grad(f, argnums=(0, 1))
cost = df.compile(np.zeros(3), np.zeros(2))._cost
# The smallest batch split between threads; sizes around it and around the lanes of a vector.
split = max(-(-runtime.PARALLEL_MIN_WORK // cost), 2 * runtime._CORES)
sizes = {0, 1, 2, 3, w - 1, w, w + 1, 2 * w - 1, 2 * w, 2 * w + 1, 3 * w + 1, 64 * w - 1,
         split - w - 1, split - 1, split, split + 1, split + w - 1, split + w, split + w + 1, 2 * split + 3}
rng = np.random.default_rng(0)
failures = []
for n in sorted(sizes):
    A = rng.normal(size=(n, 3))
    B = rng.normal(size=(n, 4))[:, ::2]  # a strided view
    cases = {
        "mapped": (sg.vmap(df)(A, B), B),
        "shared": (sg.vmap(df, in_axes=(0, None))(A, B[0] if n else np.ones(2)), B[:1] if n else np.ones((1, 2))),
        "reversed": (sg.vmap(df)(A[::-1], B[::-1]), None),
    }
    for name, ((ga, gb), Bs) in cases.items():
        As = A[::-1] if name == "reversed" else A
        Bs = B[::-1] if name == "reversed" else Bs
        want_a = np.cos(As) * Bs[:, :1] + 2 * As * Bs[:, 1:]
        want_b = np.stack([np.sin(As).sum(1), (As ** 2).sum(1)], 1)
        if ga.shape != (n, 3) or gb.shape != (n, 2):
            failures.append((name, n, "shape", ga.shape, gb.shape))
        elif not (np.allclose(ga, want_a, rtol=1e-13, atol=1e-13) and np.allclose(gb, want_b, rtol=1e-13, atol=1e-13)):
            failures.append((name, n, "values"))
print(json.dumps({"width": w, "sizes": sorted(sizes), "split": int(split), "failures": failures[:20]}))
"""


@pytest.mark.parametrize("width", WIDTHS)
def test_batch_sizes_around_the_vector_width_and_the_thread_split_give_every_point(width):
    report = _run_at_width(width, SIZES)
    assert report["failures"] == []
    assert report["split"] in report["sizes"] and width + 1 in report["sizes"]
