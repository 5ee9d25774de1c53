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
from fractions import Fraction
from typing import Any

import sympy as sp
from sympy.printing.latex import LatexPrinter

from .ir import Graph, Node, count_users, topological_order
from .primitives import REGISTRY, as_node, const_p, symbol_p
from .primitives.registry import Primitive


def _number(value: float, display: bool = False) -> sp.Expr:
    """A float as SymPy: exact when it is a small ratio; for display, the shortest such."""
    if math.isnan(value):
        return sp.nan
    if math.isinf(value):
        return sp.oo if value > 0 else -sp.oo
    if value == int(value) and abs(value) < 2**53:
        return sp.Integer(int(value))
    p, q = value.as_integer_ratio()
    if q <= 1024:
        return sp.Rational(p, q)
    if display:
        # 0.1 and 1/3 are shown as 1/10 and 1/3: the same double, shorter to read.
        ratio = Fraction(value).limit_denominator(1000)
        if float(ratio) == value:
            return sp.Rational(ratio.numerator, ratio.denominator)
        return sp.Float(repr(value))
    return sp.Float(repr(value), 17)


def _symbol(node: Node) -> sp.Symbol:
    return sp.Symbol(node.param[0])


class _ToSympy:
    """Converts nodes to SymPy, keeping boolean nodes as SymPy booleans where they are conditions."""

    def __init__(self, leaves: dict[Node, sp.Basic] | None = None, display: bool = False):
        self.memo: dict[Node, sp.Basic] = dict(leaves or {})
        self.display = display

    def convert(self, outputs: Sequence[Node]) -> list[sp.Basic]:
        for node in topological_order(outputs, stop=self.memo):
            if node not in self.memo:
                self.memo[node] = self._one(node)
        return [self._numeric(o) for o in outputs]

    def _numeric(self, node: Node) -> sp.Basic:
        expr = self.memo[node]
        # A condition used as a number is 1 or 0; one printed as a temporary `t_k` already is.
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
            return _number(node.param, self.display)
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
        node = symbols.get(e.name)  # not `or`: a node has no truth value
        return node if node is not None else symbol(e.name)
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

# Graphs with more nodes than this are printed by `symgrad.textform`, without SymPy.
SYMPY_NODE_LIMIT = 3000
# Largest expression tree (in nodes) written out inline; beyond it only the
# assignment form is tried, so a DAG is never expanded into a huge tree.
INLINE_TREE_LIMIT = 600
# A display rewrite (factoring out common terms) replaces the expression as
# derived only if it saves this fraction of its length and at least three
# characters: `x**3*cos(x) + 3*x**2*sin(x)` reads better than
# `x**2*(x*cos(x) + 3*sin(x))`, one character shorter, but
# `(a + b - c)/3` is worth it against `a/3 + b/3 - c/3`.
MIN_SAVING = 0.05
# Display rewrites are tried on expressions of at most this many operations,
# and on at most this many expressions per formula (they cost SymPy time).
TIDY_OPS_LIMIT = 80
TIDY_COUNT_LIMIT = 200


class Formula:
    """What a compiled function computes, for people to read.

    `str()` gives one line per output, named after the function's parameters
    (`x`, `w[0, 1]`), in the shortest of two forms: each output written out
    in full, or numbered temporaries `t0`, `t1`, ... for shared work followed
    by the outputs in terms of them. `sympy()`, `latex()`, `c()`,
    `graphviz()` and `ops` give the same as SymPy, LaTeX, C source, a DOT
    picture and an operation count.
    """

    def __init__(self, graph: Graph, lowering: str = "scalar"):
        self.graph = graph
        # "scalar": the graph is expanded into scalars (formulas per element); "loops": array form.
        self.lowering = lowering

    @property
    def _arrays(self) -> bool:
        return self.lowering != "scalar"

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
        if self._arrays:
            raise TypeError(
                "this formula is in array form (its graph is lowered to loops: too large to expand into one "
                "expression per element); print it with `str()` or `latex()`, or take the formula of the "
                "same function on smaller arrays for SymPy expressions"
            )
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

    def _forms(self) -> list[tuple[list[tuple[Any, sp.Basic]], list[sp.Basic]]]:
        """Candidate displays `(temporaries, outputs)`: inline (if not too big) and assignment form."""
        outputs = list(self.graph.outputs)
        order = topological_order(outputs)
        forms = []
        if _tree_size(order, outputs) <= INLINE_TREE_LIMIT:
            forms.append(([], _ToSympy(display=True).convert(outputs)))
        forms.append(_display_assignments(order, outputs))
        if len(forms) == 2 and not forms[1][0]:
            forms.pop()  # nothing shared worth naming: the same as inline
        budget = TIDY_COUNT_LIMIT
        tidied = []
        for temps, exprs in forms:
            count = len(temps) + len(exprs)
            if count <= budget:
                budget -= count
                temps = [(t, _tidy(e)) for t, e in temps]
                exprs = [_tidy(e) for e in exprs]
            tidied.append((temps, exprs))
        return tidied

    def _is_scalar(self) -> bool:
        return len(self.graph.outputs) == 1 and self.graph.output_shapes == ((),)

    def __str__(self) -> str:
        if self._arrays:
            from .arrayform import lines

            return "\n".join(lines(self.graph))
        names = self._output_lines()
        if _more_nodes_than(self.graph.outputs, SYMPY_NODE_LIMIT):
            from .textform import assignment_lines

            return "\n".join(assignment_lines(self.graph, names))
        best = None
        for temps, exprs in self._forms():
            lines = [f"{t} = {e}" for t, e in temps]
            if not temps and self._is_scalar():
                lines.append(str(exprs[0]))
            else:
                lines.extend(f"{n} = {e}" for n, e in zip(names, exprs))
            text = "\n".join(lines)
            if best is None or len(text) < len(best):
                best = text
        return best

    def __repr__(self) -> str:
        return f"<Formula ops={self.ops}>\n{self}"

    def latex(self) -> str:
        """LaTeX source: one expression, or an `aligned` block of named lines."""
        if self._arrays:
            from .arrayform import latex

            return latex(self.graph)
        symbol_names = {_symbol(n): _latex_name(n.param[0]) for n in self.graph.inputs}
        forms = self._forms()
        temps, exprs = min(forms, key=lambda f: sum(len(str(e)) for _, e in f[0]) + sum(len(str(e)) for e in f[1]))
        render = lambda e: _latex(e, symbol_names=symbol_names)  # noqa: E731
        if not temps and self._is_scalar():
            return render(exprs[0])
        names = [_latex_name(n) for n in self._output_lines()]
        rows = [f"{_latex(t)} &= {render(e)}" for t, e in temps]
        rows += [f"{n} &= {render(e)}" for n, e in zip(names, exprs)]
        return r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}"

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(str(self))

    def c(self, name: str = "kernel") -> str:
        """Standalone C99 source computing this formula (see `symgrad.codegen.c`)."""
        if self._arrays:
            raise TypeError(
                "C export of formulas in array form (lowered to loops) is not supported yet; export the "
                "function on smaller arrays, where it is written out per element"
            )
        from .codegen.c import to_c

        return to_c(self.graph, name)

    def graphviz(self, derivative: Formula | None = None) -> str:
        """Graphviz DOT text of this formula's DAG (see `symgrad.graphviz`)."""
        from .graphviz import formula_dot

        return formula_dot(self, derivative)


def _more_nodes_than(outputs: Sequence[Node], limit: int) -> bool:
    """Whether the DAG of `outputs` has more than `limit` nodes (stops counting there)."""
    seen: set[Node] = set()
    stack = list(outputs)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            if len(seen) > limit:
                return True
            stack.extend(node.args)
    return False


def _tree_size(order: Sequence[Node], outputs: Sequence[Node]) -> int:
    """Nodes in the outputs written out as trees, counted without expanding (capped)."""
    cap = INLINE_TREE_LIMIT + 1
    size: dict[Node, int] = {}
    for node in order:
        size[node] = min(cap, 1 + sum(size[a] for a in node.args))
    return min(cap, sum(size[o] for o in outputs))


def _display_assignments(order: Sequence[Node], outputs: Sequence[Node]):
    """Temporaries for shared nodes doing two operations or more, in one pass over the DAG."""
    users = count_users(order)
    converter = _ToSympy(display=True)
    inline_ops: dict[Node, int] = {}
    temps = []
    for node in order:
        converter.memo[node] = converter._one(node)
        inline_ops[node] = (1 + sum(inline_ops[a] for a in node.args)) if node.args else 0
        if users[node] > 1 and inline_ops[node] >= 2 and not node.op.boolean:
            t = sp.Symbol(f"t{len(temps)}")
            temps.append((t, converter.memo[node]))
            converter.memo[node] = t
            inline_ops[node] = 0
    return temps, [converter._numeric(o) for o in outputs]


def _tidy(expr: sp.Basic) -> sp.Basic:
    """The shorter of `expr` and its common factors pulled out (see `MIN_SAVING`)."""
    if not isinstance(expr, sp.Expr) or sp.count_ops(expr) > TIDY_OPS_LIMIT:
        return expr
    try:
        factored = sp.factor_terms(expr)
    except Exception:  # SymPy may refuse exotic expressions; the original is fine
        return expr
    before, after = len(str(expr)), len(str(factored))
    if after <= (1 - MIN_SAVING) * before and after <= before - 3:
        return factored
    return expr


def _latex(expr: sp.Basic, **settings) -> str:
    return _LatexPrinter(settings).doprint(expr)


class _LatexPrinter(LatexPrinter):
    """SymPy's LaTeX, with the special functions in their usual notation: ψ, ψ⁽ⁿ⁾, log Γ, erf⁻¹."""

    def _print_polygamma(self, expr, exp=None):
        n, x = expr.args
        order = "" if n == 0 else rf"^{{\left({self._print(n)}\right)}}"
        return self._do_exponent(rf"\psi{order}\left({self._print(x)}\right)", exp)

    def _print_loggamma(self, expr, exp=None):
        return self._do_exponent(rf"\log \Gamma\left({self._print(expr.args[0])}\right)", exp)

    def _print_erfinv(self, expr, exp=None):
        text = rf"\operatorname{{erf}}^{{-1}}\left({self._print(expr.args[0])}\right)"
        return text if exp is None else rf"\left({text}\right)^{{{exp}}}"


def _indices(shape: tuple[int, ...]):
    import numpy as np

    return np.ndindex(*shape)


def _latex_name(name: str) -> str:
    """A parameter path as a LaTeX symbol with one subscript: `J_x[0, 1]` is `J_{x,0,1}`.

    Each `_` part and each index becomes one entry of a single subscript
    (`J_x_{0,1}`, a double subscript, is an error in LaTeX, MathJax and
    matplotlib); characters LaTeX gives a meaning to (quotes of dict keys,
    braces, `%`, `#`, ...) are left out.
    """
    base, _, rest = name.partition("[")
    parts = [_latex_safe(p) for p in base.split("_")]
    parts = [p for p in parts if p]
    indices = [_latex_safe(i) for i in rest.rstrip("]").replace("][", ",").split(",")] if rest else []
    head, subscripts = (parts[0], parts[1:]) if parts else ("?", [])
    subscripts += [i for i in indices if i]
    return f"{head}_{{{','.join(subscripts)}}}" if subscripts else head


def _latex_safe(text: str) -> str:
    return "".join(c for c in text if c.isascii() and (c.isalnum() or c in ".-"))
