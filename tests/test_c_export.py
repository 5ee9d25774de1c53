"""`Formula.c()`: standalone C99 that compiles with gcc and agrees with the JIT kernel."""

import ctypes
import math
import shutil
import subprocess

import numpy as np
import pytest

import symgrad as sg
from symgrad.codegen.c import to_c
from symgrad.diff import vjp
from symgrad.ir import Graph
from symgrad.primitives import REGISTRY
from symgrad.runtime import Kernel
from symgrad.trace import symbol

CC = shutil.which("gcc") or shutil.which("cc")
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler (gcc or cc) on PATH")


def build_library(source: str, directory) -> ctypes.CDLL:
    """Compile C source to a shared library, with warnings as errors."""
    path = directory / "formula.c"
    path.write_text(source)
    check = [CC, "-std=c99", "-Wall", "-Werror", "-c", str(path), "-o", str(directory / "formula.o")]
    result = subprocess.run(check, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + source[:3000]
    library = directory / "formula.so"
    subprocess.run([CC, "-std=c99", "-O2", "-fPIC", "-shared", str(path), "-o", str(library), "-lm"],
                   check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(library))


def call_c(function, graph: Graph, *inputs):
    """Call `function(in..., out...)` on float64 arrays; return the flat outputs."""
    arrays = [np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(-1)) for x in inputs]
    outputs = [np.full(math.prod(s), np.nan) for s in graph.output_shapes]
    pointer = ctypes.POINTER(ctypes.c_double)
    function.argtypes = [pointer] * (len(arrays) + len(outputs))
    function.restype = None
    function(*[a.ctypes.data_as(pointer) for a in arrays + outputs])
    return np.concatenate(outputs)


def flat(results) -> np.ndarray:
    return np.concatenate([np.asarray(r, dtype=np.float64).reshape(-1) for r in results])


@pytest.fixture(scope="module")
def every_primitive():
    """One graph applying every registered primitive, plus the gradient of each."""
    x, y, z = symbol("x"), symbol("y"), symbol("z")
    values, names = [], []
    for prim in REGISTRY.values():
        out = prim.bind(*[x, y, z][: prim.arity])
        outputs, labels = [out], [prim.name]
        if out.op.partials is not None and not out.op.boolean:
            for v in (x, y):
                try:
                    outputs.extend(vjp([out], [1.0], [v]))
                    labels.append(f"d{prim.name}_d{v.param[0]}")
                except sg.UnsupportedPrimitiveError:  # an order or shape parameter without a derivative
                    pass
        try:  # SciPy's special functions (and derivatives that call them) have no standalone C
            to_c(Graph((x, y, z), tuple(outputs), ("x", "y", "z"), ((), (), ()), tuple(labels),
                       tuple(() for _ in outputs)), "probe")
        except sg.UnsupportedPrimitiveError:
            continue
        values.extend(outputs)
        names.extend(labels)
    graph = Graph((x, y, z), tuple(values), ("x", "y", "z"), ((), (), ()),
                  tuple(names), tuple(() for _ in values))
    return graph


@needs_cc
def test_every_primitive_and_its_gradient_agrees_with_the_jit(every_primitive, tmp_path):
    graph = every_primitive
    library = build_library(to_c(graph, "every"), tmp_path)
    kernel = Kernel(graph, "every")
    points = [(0.3, 0.7, 1.0), (-0.4, 0.25, 0.0), (1.5, 1.5, -2.0), (0.0, -0.0, 3.0), (2.0, 1.0, math.nan)]
    for point in points:
        from_c = call_c(library.every, graph, *point)
        assert from_c.shape == (len(graph.outputs),)
        np.testing.assert_allclose(from_c, flat(kernel(*point)), rtol=1e-12, atol=1e-12, equal_nan=True,
                                   err_msg=f"at {point}")


@needs_cc
def test_linear_layer_gradient_one_function_per_output(tmp_path):
    def loss(w, b, x, y):
        return ((x @ w + b - y) ** 2).mean()

    rng = np.random.default_rng(0)
    args = (rng.normal(size=(5, 3)), rng.normal(size=3), np.ones((2, 5)), np.zeros((2, 3)))
    df = sg.grad(loss, argnums=(0, 1))
    formula = df.formula(*args)
    source = formula.c("linear")
    library = build_library(source, tmp_path)
    dw, db = df(*args)
    both = call_c(library.linear, formula.graph, *args)
    np.testing.assert_allclose(both, np.concatenate([dw.ravel(), db]), rtol=1e-12, atol=1e-12)

    only_dw = formula.graph.__class__(formula.graph.inputs, formula.graph.outputs[:15], output_shapes=((5, 3),))
    np.testing.assert_allclose(call_c(library.linear_dw, only_dw, *args), dw.ravel(), rtol=1e-12)
    only_db = formula.graph.__class__(formula.graph.inputs, formula.graph.outputs[15:], output_shapes=((3,),))
    np.testing.assert_allclose(call_c(library.linear_db, only_db, *args), db, rtol=1e-12)


def test_source_is_standalone_c99_in_assignment_form():
    source = sg.grad(lambda x: 2 * x**2).formula(1.0).c()
    includes = [line for line in source.splitlines() if line.startswith("#")]
    assert includes == ["#include <math.h>"]
    assert "void kernel_dx(const double *x, double *dx)" in source
    assert "dx[0] = 4.0*x[0];" in source

    def f(x):
        s = sg.sin(x)
        return s * s + s

    shared = sg.grad(f).formula(1.0).c()
    body = shared.split("void kernel(")[1]
    # sin(x) and cos(x) are shared: each is one statement, computed once.
    assert body.count("sin(x[0])") == 1
    assert body.count("const double t") >= 1


def test_names_that_are_not_c_identifiers_are_renamed():
    def f(double, t0):
        return double * t0

    source = sg.jit(f).formula(1.0, 2.0).c("my kernel")
    assert "void my_kernel(const double *double_, const double *t0_, double *out)" in source


@needs_cc
def test_large_graph_exports_in_linear_form(tmp_path):
    x = symbol("x")
    y = x
    for k in range(300):
        y = sg.sin(y) * 0.5 + y * (0.25 + k * 1e-4)
    (dy,) = vjp([y], [1.0], [x])
    graph = Graph((x,), (y, dy), ("x",), ((),), ("y", "dy"), ((), ()))
    source = to_c(graph)
    assert max(map(len, source.splitlines())) < 400
    assert source.count("const double t") > 300  # one statement per shared node
    library = build_library(source, tmp_path)
    np.testing.assert_allclose(call_c(library.kernel, graph, 0.3), flat(Kernel(graph)(0.3)), rtol=1e-12)
