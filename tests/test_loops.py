"""The loop lowering against the reference interpreter: every array primitive, its derivatives, batching.

Each case of `tests/test_array_primitives.py` is compiled with `LoopKernel`
(value, JVP and VJP graphs together) and compared with NumPy's evaluation of
the same graph, and with the scalar lowering (the two must agree to 1e-12).
"""

import numpy as np
import pytest
from array_specs import CASES

from symgrad.diff import jvp, vjp
from symgrad.evaluate import evaluate
from symgrad.ir import Graph
from symgrad.loop_kernel import LoopKernel
from symgrad.primitives import symbol
from symgrad.runtime import Kernel
from symgrad.scalarize import scalarize_graph

pytest.importorskip("llvmlite")


def _graph(build, shapes, tag):
    inputs = [symbol(f"v{i}", tag, shape) for i, shape in enumerate(shapes)]
    tangents = [symbol(f"t{i}", tag, shape) for i, shape in enumerate(shapes)]
    out = build(*inputs)
    u = symbol("u", tag, out.shape)
    outputs = [out, *jvp([out], inputs, tangents), *vjp([out], [u], inputs)]
    all_inputs = [*inputs, *tangents, u]
    return Graph(tuple(all_inputs), tuple(outputs), tuple(s.param[0] for s in all_inputs),
                 tuple(s.shape for s in all_inputs), tuple(f"o{k}" for k in range(len(outputs))),
                 tuple(o.shape for o in outputs))


@pytest.mark.parametrize("name", sorted(CASES))
def test_loops_agree_with_the_interpreter_and_the_scalar_lowering(name):
    build, shapes = CASES[name]
    graph = _graph(build, shapes, 50_000 + sorted(CASES).index(name))
    rng = np.random.default_rng(3)
    args = [rng.uniform(-1.5, 1.5, size=s.shape) for s in graph.inputs]
    expected = evaluate(list(graph.outputs), dict(zip(graph.inputs, args)))
    got = LoopKernel(graph, name)(*args)
    scalar = Kernel(scalarize_graph(graph), name)(*args)
    for k, (g, s, e) in enumerate(zip(got, scalar, expected)):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12, err_msg=f"output {k}")
        np.testing.assert_allclose(g, s, rtol=1e-12, atol=1e-12, err_msg=f"output {k} (scalar lowering)")


def test_a_loop_kernel_pickles_with_its_constants():
    import pickle

    from symgrad.primitives import array_const, dot_general
    from symgrad.primitives import elementwise as E

    data = np.arange(12.0).reshape(3, 4)
    x = symbol("x", 60_001, (4, 2))
    out = E.tanh(dot_general(array_const(data, "D"), x, "ij,jk->ik"))
    graph = Graph((x,), (out,), ("x",), ((4, 2),), ("out",), ((3, 2),))
    kernel = LoopKernel(graph, "pickled")
    value = np.linspace(-1, 1, 8).reshape(4, 2)
    again = pickle.loads(pickle.dumps(kernel))
    np.testing.assert_array_equal(again(value)[0], kernel(value)[0])
    np.testing.assert_allclose(kernel(value)[0], np.tanh(data @ value), rtol=1e-14)


@pytest.mark.parametrize("shape", [(3, 70_001), (2, 100_003), (4097, 61), (100_001,)])
@pytest.mark.parametrize("kind", ["sum_outer", "sum_all", "max_outer", "min_inner", "elementwise"])
def test_long_loops_split_between_threads_give_the_same_results(shape, kind):
    from symgrad.primitives import elementwise as E
    from symgrad.primitives import reduce_max, reduce_min, reduce_sum

    x = symbol("x", 60_002, shape)
    body = E.sin(E.mul(x, 3.0))
    build = {"sum_outer": lambda: reduce_sum(body, (0,)), "sum_all": lambda: reduce_sum(body, range(len(shape))),
             "max_outer": lambda: reduce_max(body, (0,)), "min_inner": lambda: reduce_min(body, (len(shape) - 1,)),
             "elementwise": lambda: E.exp(body)}
    out = build[kind]()
    graph = Graph((x,), (out,), ("x",), (shape,), ("out",), (out.shape,))
    kernel = LoopKernel(graph, kind)
    assert any(getattr(step, "threads", 1) > 1 for step in kernel.plan.steps) or shape[0] < 2
    value = np.random.default_rng(5).normal(size=shape)
    expected = evaluate([out], {x: value})[0]
    np.testing.assert_allclose(kernel(value)[0], expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("lo, hi, interior", [((1, 5), (2, 3), (0, 0)), ((0, 2), (1, 0), (0, 2)),
                                              ((2, 0), (0, 7), (1, 0)), ((0, 0), (0, 1), (0, 0))])
@pytest.mark.parametrize("width", [None, 2])
def test_padded_arrays_are_read_through_windows(lo, hi, interior, width, monkeypatch):
    """A pad is not copied: its users read the array below where it holds elements, zero elsewhere
    (vector lanes masked at the edges, every vector width)."""
    import symgrad.codegen.loops as loops
    from symgrad.primitives import elementwise as E
    from symgrad.primitives import pad, reduce_sum

    if width is not None:
        monkeypatch.setattr(loops, "VECTOR_WIDTH", width)
    x = symbol("x", 60_003, (3, 37))
    padded = pad(E.sin(x), lo, hi, interior)
    outputs = (E.add(E.mul(padded, 2.0), 1.0), reduce_sum(padded, (1,)))
    graph = Graph((x,), outputs, ("x",), ((3, 37),), ("a", "b"), tuple(o.shape for o in outputs))
    kernel = LoopKernel(graph, "padded")
    assert all(buffer.shape != padded.shape for buffer in kernel.plan.temps)  # no padded copy
    value = np.random.default_rng(7).normal(size=(3, 37))
    for got, expected in zip(kernel(value), evaluate(list(outputs), {x: value})):
        np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-14)


def test_the_loop_kernels_native_entry_takes_exact_arrays_and_refuses_the_rest():
    from symgrad.primitives import elementwise as E
    from symgrad.primitives import reduce_sum

    x = symbol("x", 60_004, (5, 3))
    s = symbol("s", 60_004, ())
    outputs = (E.mul(E.sin(x), s), reduce_sum(x, (0, 1)))
    graph = Graph((x, s), outputs, ("x", "s"), ((5, 3), ()), ("a", "b"), ((5, 3), ()))
    kernel = LoopKernel(graph, "entry")
    native, template = kernel.python_function(), kernel.slot_template
    value = np.arange(15.0).reshape(5, 3)
    a, b = np.empty((5, 3)), np.empty(())
    assert native(value, 2.0, a, b, template) is None
    np.testing.assert_allclose(a, 2.0 * np.sin(value), rtol=1e-15)
    assert float(b) == value.sum()
    assert native(value.T.copy(), 2.0, a, b, template) is NotImplemented        # wrong shape
    assert native(value.astype(np.float32), 2.0, a, b, template) is NotImplemented
    assert native(np.asfortranarray(value), 2.0, a, b, template) is NotImplemented  # not C-contiguous
    assert native(value, 2, a, b, template) is NotImplemented                     # an int, not a float
    assert native(value, 2.0, a, template) is NotImplemented                      # an output missing
    assert native(value, 2.0, np.empty((3, 5)), b, template) is NotImplemented    # wrong output
    assert native(list(value), 2.0, a, b, template) is NotImplemented


LOOPS_AT_WIDTH = """
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
from array_specs import CASES
from symgrad.codegen.loops import VECTOR_WIDTH
from symgrad.diff import jvp, vjp
from symgrad.evaluate import evaluate
from symgrad.ir import Graph
from symgrad.loop_kernel import LoopKernel
from symgrad.primitives import symbol
from symgrad.primitives import elementwise as E, reduce_sum

worst = 0.0
for k, (name, (build, shapes)) in enumerate(sorted(CASES.items())):
    inputs = [symbol(f"v{{i}}", 70_000 + k, s) for i, s in enumerate(shapes)]
    out = build(*inputs)
    u = symbol("u", 70_000 + k, out.shape)
    outputs = [out, *vjp([out], [u], inputs)]
    graph = Graph(tuple([*inputs, u]), tuple(outputs), tuple(f"a{{i}}" for i in range(len(inputs) + 1)),
                  tuple([*shapes, out.shape]), tuple(f"o{{i}}" for i in range(len(outputs))),
                  tuple(o.shape for o in outputs))
    args = [np.random.default_rng(k).uniform(-1.5, 1.5, size=s.shape) for s in graph.inputs]
    expected = evaluate(list(graph.outputs), dict(zip(graph.inputs, args)))
    for got, want in zip(LoopKernel(graph, name)(*args), expected):
        worst = max(worst, float(np.max(np.abs(np.asarray(got) - want), initial=0.0)))
# A long axis, not a multiple of any width: vector bodies, then a tail.
x = symbol("x", 79_999, (1003,))
out = reduce_sum(E.sin(x), (0,))
graph = Graph((x,), (out, E.exp(x)), ("x",), ((1003,),), ("s", "e"), ((), (1003,)))
value = np.linspace(-2, 2, 1003)
got = LoopKernel(graph, "long")(value)
worst = max(worst, abs(got[0] - np.sin(value).sum()), float(np.abs(got[1] - np.exp(value)).max()))
from symgrad.primitives import pad
for interior in (0, 1):  # read through a window: masked vector loads at its edges
    padded = E.mul(pad(E.sin(x), (3,), (5,), (interior,)), 2.0)
    got = LoopKernel(Graph((x,), (padded,), ("x",), ((1003,),), ("p",), (padded.shape,)), "padded")(value)[0]
    want = evaluate([padded], {{x: value}})[0]
    worst = max(worst, float(np.abs(got - want).max()))
print(json.dumps({{"width": VECTOR_WIDTH, "error": worst}}))
"""


@pytest.mark.parametrize("width", [pytest.param(w, marks=pytest.mark.skipif(
    w not in __import__("child").host_vector_widths(), reason=f"this CPU has no {w}-lane double vectors"))
    for w in (2, 4, 8)])
def test_loop_lowering_agrees_with_the_interpreter_at_every_vector_width(width):
    import json
    import os

    from child import run_python

    done = run_python(LOOPS_AT_WIDTH.format(tests=os.path.dirname(__file__)),
                      env={"SYMGRAD_VECTOR_WIDTH": str(width)})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["width"] == width and report["error"] < 1e-10
