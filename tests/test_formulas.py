"""What `str(formula)` and `formula.latex()` show people: short, faithful, and fast on big graphs."""

import math
import re
import time

import numpy as np
import pytest

import symgrad as sg
from symgrad.diff import vjp
from symgrad.evaluate import evaluate
from symgrad.ir import Graph, topological_order
from symgrad.primitives import elementwise as P
from symgrad.printing import Formula
from symgrad.textform import assignment_lines
from symgrad.trace import symbol


@pytest.mark.parametrize("f, args, expected", [
    (lambda x: 2 * x**2, (1.0,), "4*x"),
    (lambda x: sg.sin(x) * x**3, (1.0,), "x**3*cos(x) + 3*x**2*sin(x)"),
    (lambda x: (2 * x**2).sum(), (np.array([10.0, 20.0]),), "dx[0] = 4*x[0]\ndx[1] = 4*x[1]"),
    (lambda x: x**2 + 20, (10.0,), "2*x"),
    (lambda x: 0.1 * x**2, (1.0,), "x/5"),
])
def test_tutorial_gradients_print_as_written_by_hand(f, args, expected):
    assert str(sg.grad(f).formula(*args)) == expected


def test_several_arguments_print_one_line_each():
    formula = sg.grad(lambda x1, x2: x1 + 2 * x2, argnums=(0, 1)).formula(1.0, 2.0)
    assert str(formula) == "dx1 = 1\ndx2 = 2"


def test_common_factors_are_pulled_out_when_that_is_clearly_shorter():
    def loss(w, b, x, y):
        return ((x @ w + b - y) ** 2).mean()

    text = str(sg.grad(loss, argnums=1).formula(np.ones((2, 2)), np.ones(2), np.ones((1, 2)), np.ones((1, 2))))
    assert text == (
        "db[0] = b[0] + w[0, 0]*x[0, 0] + w[1, 0]*x[0, 1] - y[0, 0]\n"
        "db[1] = b[1] + w[0, 1]*x[0, 0] + w[1, 1]*x[0, 1] - y[0, 1]"
    )
    args = (np.ones((5, 3)), np.ones(3), np.ones((2, 5)), np.zeros((2, 3)))
    lines = str(sg.grad(loss, argnums=(0, 1)).formula(*args)).splitlines()
    assert lines[0] == (
        "t0 = (b[0] + w[0, 0]*x[0, 0] + w[1, 0]*x[0, 1] + w[2, 0]*x[0, 2] + w[3, 0]*x[0, 3]"
        " + w[4, 0]*x[0, 4] - y[0, 0])/3"
    )
    assert lines[-1] == "db[2] = t4 + t5"


def test_temporaries_appear_when_they_make_the_text_shorter():
    def f(x, y):
        s = sg.exp(x * y + sg.sin(x))
        return s * s + s

    text = str(sg.grad(f, argnums=(0, 1)).formula(1.0, 2.0))
    lines = text.splitlines()
    assert lines[0].startswith("t0 = ")
    assert lines[-2].startswith("dx = ") and lines[-1].startswith("dy = ")
    assert text.count("exp(") == 1  # computed once, referred to by name


def test_latex_is_inline_when_small_and_aligned_with_temporaries_when_shared():
    assert sg.grad(lambda x: sg.sin(x) * x**3).formula(1.0).latex() == (
        r"x^{3} \cos{\left(x \right)} + 3 x^{2} \sin{\left(x \right)}"
    )
    def f(x, y):
        s = sg.exp(x * y + sg.sin(x))
        return s * s + s

    latex = sg.grad(f, argnums=(0, 1)).formula(1.0, 2.0).latex()
    assert latex.startswith(r"\begin{aligned}t_{0} &= ") and latex.endswith(r"\end{aligned}")
    assert sg.grad(f).formula(1.0, 2.0)._repr_latex_().startswith("$\\displaystyle ")


def _latex_rows(latex: str) -> list[str]:
    body = latex.removeprefix(r"\begin{aligned}").removesuffix(r"\end{aligned}")
    return [row.replace("&", "") for row in body.split(r" \\ ")]


def test_latex_names_of_array_outputs_have_a_single_subscript():
    latex = sg.jacobian(lambda x: np.sin(x) * x[0]).formula(np.ones(2)).latex()
    rows = _latex_rows(latex)
    assert [row.split(" = ")[0] for row in rows] == ["J_{x,0,0}", "J_{x,0,1}", "J_{x,1,0}", "J_{x,1,1}"]
    assert "x_{0}" in latex
    # and names from dict keys or several underscores: one subscript, no quote or brace of the key
    latex = sg.grad(lambda p: (p["w_in"] ** 2).sum()).formula({"w_in": np.ones(2)}).latex()
    assert [row.split(" = ")[0] for row in _latex_rows(latex)] == ["dp_{win,0}", "dp_{win,1}"]
    for row in rows + _latex_rows(latex):
        assert not re.search(r"_(\{[^{}]*\}|\w)_", row), row


def test_latex_rows_of_array_outputs_parse_in_matplotlib_mathtext():
    mathtext = pytest.importorskip("matplotlib.mathtext")
    parser = mathtext.MathTextParser("path")
    for latex in (sg.jacobian(lambda x: np.sin(x) * x[0]).formula(np.ones(2)).latex(),
                  sg.hessian(lambda x: (x ** 3).sum()).formula(np.ones((2, 2))).latex(),
                  sg.grad(lambda p: (p["w_in"] ** 2).sum()).formula({"w_in": np.ones(2)}).latex()):
        for row in _latex_rows(latex):
            parser.parse(f"${row}$")


def test_a_deep_dag_is_never_expanded_into_a_tree():
    def f(x):
        for _ in range(60):  # as a tree this would have 2**60 leaves
            x = x * x + 1.0
        return x

    start = time.perf_counter()
    text = str(sg.jit(f).formula(0.5))
    assert time.perf_counter() - start < 5.0
    assert len(text.splitlines()) == 60


def chain(length: int):
    """A long chain of shared nodes and its gradient: a derivative graph of about 12*length nodes."""
    x, a = symbol("x"), symbol("a")
    y = x
    for k in range(length):
        y = P.add(P.mul(P.sin(y), a), P.mul(y, 0.5 + k * 1e-6))
    grads = vjp([y], [1.0], [x, a])
    return Graph((x, a), tuple(grads), ("x", "a"), ((), ()), ("dx", "da"), ((), ()))


def test_a_derivative_graph_of_100000_nodes_prints_in_under_5_seconds():
    graph = chain(8500)
    nodes = len(topological_order(graph.outputs))
    assert nodes > 100_000
    start = time.perf_counter()
    text = str(Formula(graph))
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"{nodes} nodes printed in {elapsed:.1f} s"
    lines = text.splitlines()
    assert lines[0] == "t0 = sin(x)"
    assert lines[-2].startswith("dx = ") and lines[-1].startswith("da = ")
    assert max(map(len, lines)) < 400  # assignment form, no line the size of the graph


def test_the_direct_printer_is_faithful_to_precedence():
    x, y = symbol("x"), symbol("y")
    exprs = [
        P.sub(x, P.sub(y, 1.0)), P.div(x, P.mul(y, 2.0)), P.power(P.neg(x), 2.0),
        P.power(x, P.power(y, 2.0)), P.neg(P.add(x, y)), P.mul(-3.0, P.power(x, -1.5)),
        P.div(P.sub(x, y), P.add(x, y)), P.where(P.greater(x, y), P.exp(x), P.log(y)),
    ]
    graph = Graph((x, y), tuple(exprs), ("x", "y"), ((), ()), tuple(f"e{i}" for i in range(len(exprs))),
                  tuple(() for _ in exprs))
    namespace = {"x": 1.7, "y": 0.6, "exp": math.exp, "log": math.log,
                 "where": lambda c, a, b: a if c else b}
    exec("\n".join(assignment_lines(graph, graph.output_names)), namespace)
    expected = evaluate(exprs, {x: 1.7, y: 0.6})
    for i, value in enumerate(expected):
        assert namespace[f"e{i}"] == pytest.approx(float(value), rel=1e-15), assignment_lines(graph, graph.output_names)


def test_printing_a_formula_compiles_no_native_code():
    df = sg.grad(lambda x: (x**2).sum())
    kernel = df.compile(np.ones(3))
    str(df.formula(np.ones(3)))
    assert kernel._point_fn is None and not kernel._batch_fns
