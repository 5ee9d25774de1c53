"""Property tests over random shallow DAGs built from the registry's primitives.

A program is a few steps, each applying a domain-safe operation to earlier
values (inputs or results), so values are shared and the graph is a DAG.
Every operation is defined and smooth enough on the whole real line, so any
drawn point is in the domain. Properties: the compiled kernel agrees with the
reference interpreter; forward and reverse mode satisfy the adjoint identity
<u, J v> = <J^T u, v>; IR -> SymPy -> IR evaluates the same.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import symgrad as sg
from symgrad.evaluate import evaluate
from symgrad.printing import from_sympy, to_sympy
from symgrad.trace import symbol

# Each works on traced arrays and on IR nodes alike.
UNARY = {
    "sin": sg.sin, "cos": sg.cos, "tanh": sg.tanh, "sigmoid": sg.sigmoid, "arctan": sg.arctan,
    "arcsinh": sg.arcsinh, "erf": sg.erf, "neg": operator.neg,
    "exp_tanh": lambda a: sg.exp(sg.tanh(a)),
    "log1p_square": lambda a: sg.log1p(a * a),
    "sqrt_1_plus_square": lambda a: sg.sqrt(1.0 + a * a),
}
BINARY = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "div_1_plus_square": lambda a, b: a / (1.0 + b * b),
    "maximum": sg.maximum,
    "where": lambda a, b: sg.where(a > b, sg.sin(a), b * 0.5),
    "hypot_1": lambda a, b: sg.hypot(a, 1.0 + b * b),
}
OPERATIONS = {**UNARY, **BINARY}
VALUES = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)


@dataclass(frozen=True)
class Program:
    n_inputs: int
    steps: tuple[tuple[str, tuple[int, ...]], ...]
    point: tuple[float, ...]

    def run(self, inputs):
        """The last two values computed from `inputs`."""
        values = list(inputs)
        for name, operands in self.steps:
            values.append(OPERATIONS[name](*(values[k] for k in operands)))
        return values[-2:]


@st.composite
def programs(draw) -> Program:
    n_inputs = draw(st.integers(1, 3))
    steps = []
    for k in range(draw(st.integers(1, 6))):
        available = st.integers(0, n_inputs + k - 1)
        name = draw(st.sampled_from(sorted(OPERATIONS)))
        arity = 1 if name in UNARY else 2
        steps.append((name, tuple(draw(available) for _ in range(arity))))
    point = tuple(draw(VALUES) for _ in range(n_inputs))
    return Program(n_inputs, tuple(steps), point)


def _traced(program: Program):
    def f(*xs):
        return np.stack(program.run(xs))

    return f


def _symbols(program: Program, tag: int):
    return [symbol(f"x{i}", tag) for i in range(program.n_inputs)]


@given(programs())
def test_jit_matches_interpreter(program):
    f = _traced(program)
    kernel = sg.value_and_grad(lambda *xs: f(*xs).sum(), argnums=tuple(range(program.n_inputs))).compile(
        *program.point)
    graph = kernel.graph
    expected = evaluate(graph.outputs, dict(zip(graph.inputs, program.point, strict=True)))
    # compiled libm calls and NumPy may differ by a few ulps, compounded over a few steps
    np.testing.assert_allclose(kernel(*program.point), expected, rtol=1e-11, atol=1e-13)


@given(programs(), st.integers(0, 2**32 - 1))
def test_jvp_and_vjp_are_adjoint(program, seed):
    rng = np.random.default_rng(seed)
    f = _traced(program)
    v = tuple(float(t) for t in rng.standard_normal(program.n_inputs))
    u = rng.standard_normal(2)
    out, jv = sg.jvp(f, program.point, v)
    out_again, vjp_fn = sg.vjp(f, *program.point)
    jtu = vjp_fn(u)
    np.testing.assert_allclose(out, out_again, rtol=1e-14)
    lhs, rhs = float(u @ jv), float(np.dot(jtu, v))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-12)


@given(programs())
def test_sympy_round_trip_evaluates_the_same(program):
    variables = _symbols(program, tag=7)
    nodes = program.run(variables)
    by_name = {f"x{i}": s for i, s in enumerate(variables)}
    back = [from_sympy(e, by_name) for e in to_sympy(nodes)]
    values = dict(zip(variables, program.point, strict=True))
    np.testing.assert_allclose(evaluate(back, values), evaluate(nodes, values), rtol=1e-10, atol=1e-12)
