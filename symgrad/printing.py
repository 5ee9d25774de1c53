"""Printing: graphs as SymPy expressions, readable text and LaTeX (and back from SymPy).

The only module that imports SymPy. SymPy renders formulas and serves as
an independent oracle in the tests; it never sits in the path of tracing,
differentiation or compilation.

Text and LaTeX come in assignment form when the graph shares work: every
non-trivial node used more than once becomes a numbered temporary `t0`,
`t1`, ..., each converted to SymPy on its own, so printing stays linear in
the size of the DAG instead of expanding it into a tree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sympy as sp

from .ir import Graph, Node, count_users, topological_order
from .primitives import REGISTRY, as_node, const_p, symbol_p
from .primitives.registry import Primitive

# Longest tree form (in characters) printed without temporaries.
INLINE_LIMIT = 400


def _number(value: float) -> sp.Expr:
    if math.isnan(value):
        return sp.nan
    if math.isinf(value):
        return sp.oo if value > 0 else -sp.oo
    if value == int(value) and abs(value) < 2**53:
        return sp.Integer(int(value))
    p, q = value.as_integer_ratio()
    if q <= 1024:
        return sp.Rational(p, q)
    return sp.Float(repr(value), 17)


def _symbol(node: Node) -> sp.Symbol:
    return sp.Symbol(node.param[0])


class _ToSympy:
    """Converts nodes to SymPy, keeping boolean nodes as SymPy booleans where they are conditions."""

    def __init__(self, leaves: dict[Node, sp.Basic] | None = None):
        self.memo: dict[Node, sp.Basic] = dict(leaves or {})

    def convert(self, outputs: Sequence[Node]) -> list[sp.Basic]:
        for node in topological_order(outputs):
            if node not in self.memo:
                self.memo[node] = self._one(node)
        return [self._numeric(o) for o in outputs]

    def _numeric(self, node: Node) -> sp.Basic:
        expr = self.memo[node]
        if node.op.boolean and not expr.is_Symbol:
            return sp.Piecewise((1, expr), (0, True))
        return expr

    def _condition(self, node: Node) -> sp.Basic:
        expr = self.memo[node]
        if node.op.boolean:
            return expr
        return sp.Ne(expr, 0)

    def _one(self, node: Node) -> sp.Basic:
        op: Primitive = node.op
        if op is const_p:
            return _number(node.param)
        if op is symbol_p:
            return _symbol(node)
        wants_condition = op.boolean and op.name.startswith("logical")
        args = []
        for i, a in enumerate(node.args):
            condition = wants_condition or (op.name == "where" and i == 0)
            args.append(self._condition(a) if condition else self._numeric(a))
        if callable(op.sympy):
            return op.sympy(sp, *args)
        return getattr(sp, op.sympy)(*args)


def to_sympy(nodes: Sequence[Node]) -> list[sp.Basic]:
    """SymPy expressions of nodes (symbols become `sympy.Symbol`s of the same name)."""
    return _ToSympy().convert(list(nodes))


# ----- From SymPy -----

_FROM_SYMPY_FUNCTIONS = {
    "sin": "sin", "cos": "cos", "tan": "tan", "asin": "arcsin", "acos": "arccos", "atan": "arctan",
    "atan2": "arctan2", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "asinh": "arcsinh",
    "acosh": "arccosh", "atanh": "arctanh", "exp": "exp", "log": "log", "Abs": "abs",
    "sign": "sign", "floor": "floor", "ceiling": "ceil", "erf": "erf",
}


def from_sympy(expr: Any, symbols: dict[str, Node] | None = None) -> Node:
    """The symgrad expression of a SymPy expression.

    Symbols are matched by name to `symbols` when given, else become symgrad
    symbols of the same name.
    """
    from . import primitives as P
    from .trace import symbol

    symbols = symbols or {}
    expr = sp.sympify(expr)
    memo: dict[sp.Basic, Node] = {}
    stack = [expr]
    while stack:
        e = stack[-1]
        if e in memo:
            stack.pop()
            continue
        pending = [a for a in _operands(e) if a not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        memo[e] = _from_one(e, [memo[a] for a in _operands(e)], symbols, P, symbol)
    return memo[expr]


def _operands(e: sp.Basic) -> list[sp.Basic]:
    if isinstance(e, sp.Piecewise):
        return [x for pair in e.args for x in pair]
    if e.is_Atom:
        return []
    return list(e.args)


def _from_one(e: sp.Basic, args: list[Node], symbols, P, symbol) -> Node:
    if e.is_Symbol:
        return symbols.get(e.name) or symbol(e.name)
    if e is sp.true:
        return as_node(1.0)
    if e is sp.false:
        return as_node(0.0)
    if e.is_Number or e.is_NumberSymbol:
        return as_node(float(e))
    if isinstance(e, sp.Add):
        out = args[0]
        for a in args[1:]:
            out = P.add(out, a)
        return out
    if isinstance(e, sp.Mul):
        out = args[0]
        for a in args[1:]:
            out = P.mul(out, a)
        return out
    if isinstance(e, sp.Pow):
        return P.power(*args)
    if isinstance(e, sp.Piecewise):
        result = as_node(float("nan"))
        for value, condition in reversed(list(zip(args[0::2], args[1::2]))):
            result = P.where(condition, value, result)
        return result
    relations = {sp.StrictGreaterThan: "greater", sp.GreaterThan: "greater_equal",
                 sp.StrictLessThan: "less", sp.LessThan: "less_equal",
                 sp.Equality: "equal", sp.Unequality: "not_equal",
                 sp.And: "logical_and", sp.Or: "logical_or", sp.Not: "logical_not"}
    for kind, name in relations.items():
        if isinstance(e, kind):
            out = REGISTRY[name].bind(*args[:2]) if name != "logical_not" else REGISTRY[name].bind(args[0])
            for a in args[2:]:
                out = REGISTRY[name].bind(out, a)
            return out
    if isinstance(e, (sp.Max, sp.Min)):
        prim = REGISTRY["maximum" if isinstance(e, sp.Max) else "minimum"]
        out = args[0]
        for a in args[1:]:
            out = prim.bind(out, a)
        return out
    name = _FROM_SYMPY_FUNCTIONS.get(type(e).__name__)
    if name is None:
        raise NotImplementedError(f"cannot convert SymPy `{type(e).__name__}` to symgrad: {e}")
    if name == "log" and len(args) == 2:
        return P.div(P.log(args[0]), P.log(args[1]))
    return REGISTRY[name].bind(*args)


# ----- Formula -----


class Formula:
    """What a compiled function computes, for people to read.

    `str()` gives one line per output, named after the function's parameters
    (`x`, `w[0, 1]`); `sympy()`, `latex()` and `ops` give the same as SymPy,
    LaTeX and an operation count.
    """

    def __init__(self, graph: Graph):
        self.graph = graph

    @property
    def ops(self) -> int:
        """Arithmetic operations after simplification and common-subexpression elimination."""
        return sum(1 for n in topological_order(self.graph.outputs) if n.args)

    def _output_lines(self) -> list[str]:
        names = []
        for name, shape in zip(self.graph.output_names, self.graph.output_shapes):
            if shape == ():
                names.append(name)
            else:
                names.extend(f"{name}[{', '.join(map(str, i))}]" for i in _indices(shape))
        return names

    def assignments(self) -> tuple[list[tuple[sp.Symbol, sp.Basic]], list[sp.Basic]]:
        """Temporaries `(t_k, expression)` in order, and the outputs in terms of them."""
        outputs = list(self.graph.outputs)
        order = topological_order(outputs)
        users = count_users(order)
        for o in outputs:
            users[o] += 1
        shared = [n for n in order if n.args and users[n] > 1 and n not in set(outputs)]
        converter = _ToSympy()
        temps = []
        for k, node in enumerate(shared):
            expr = converter.convert([node])[0]
            t = sp.Symbol(f"t{k}")
            temps.append((t, expr))
            converter.memo[node] = t
        return temps, converter.convert(outputs)

    def sympy(self) -> Any:
        """The result as SymPy: an expression, a Matrix/Array for an array, a tuple for several."""
        exprs = iter(to_sympy(self.graph.outputs))
        results = []
        for shape in self.graph.output_shapes:
            if shape == ():
                results.append(next(exprs))
                continue
            size = math.prod(shape)
            items = [next(exprs) for _ in range(size)]
            results.append(sp.Matrix(*shape, items) if len(shape) == 2 else sp.Array(items, shape))
        return results[0] if len(results) == 1 else tuple(results)

    def __str__(self) -> str:
        names = self._output_lines()
        inline = to_sympy(self.graph.outputs)
        lines = [str(e) for e in inline]
        if sum(map(len, lines)) > INLINE_LIMIT:
            temps, outputs = self.assignments()
            shared = [f"{t} = {e}" for t, e in temps] + [
                f"{n} = {e}" for n, e in zip(names, map(str, outputs))
            ]
            if sum(map(len, shared)) < sum(map(len, lines)):
                return "\n".join(shared)
        if len(lines) == 1 and len(self.graph.output_shapes) == 1 and self.graph.output_shapes[0] == ():
            return lines[0]
        return "\n".join(f"{n} = {line}" for n, line in zip(names, lines))

    def __repr__(self) -> str:
        return f"<Formula ops={self.ops}>\n{self}"

    def latex(self) -> str:
        """LaTeX source: one expression, or an `aligned` block of named lines."""
        symbol_names = {_symbol(n): _latex_name(n.param[0]) for n in self.graph.inputs}
        exprs = to_sympy(self.graph.outputs)
        rendered = [sp.latex(e, symbol_names=symbol_names) for e in exprs]
        if len(rendered) == 1 and self.graph.output_shapes == ((),):
            return rendered[0]
        names = [_latex_name(n) for n in self._output_lines()]
        body = r" \\ ".join(f"{n} &= {r}" for n, r in zip(names, rendered))
        return r"\begin{aligned}" + body + r"\end{aligned}"

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(str(self))


def _indices(shape: tuple[int, ...]):
    import numpy as np

    return np.ndindex(*shape)


def _latex_name(name: str) -> str:
    if "[" not in name:
        return name
    base, _, rest = name.partition("[")
    return f"{base}_{{{rest.rstrip(']').replace(' ', '').replace('][', ',')}}}"
