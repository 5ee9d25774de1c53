"""The symbolic layer: symbols, expressions, `diff`, `compile` — no Python function needed.

    >>> import symgrad as sg
    >>> x, y = sg.symbols("x y")
    >>> sg.diff(sg.sin(x) * y, x)
    y*cos(x)

Expressions are IR nodes (arrays of them are NumPy object arrays), so they
share everything with traced functions: the same simplification, the same
derivative passes, the same compiler.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .diff import jacobian
from .ir import Graph, Node, topological_order
from .primitives import as_node, symbol, symbol_p
from .scalarize import node_array, symbol_elements

# Expressions with more nodes than this print as a summary in `repr`.
REPR_LIMIT = 300


def symbols(names: str, shape: int | tuple[int, ...] | None = None) -> Any:
    """Symbols named by a space- or comma-separated string.

    Args:
        names: `"x"`, `"x y z"` or `"x, y"`.
        shape: when given, each name becomes an object array of symbols of
            that shape, named `w[0, 1]`.

    Returns:
        One symbol (or array) for one name, a tuple for several.

    >>> import symgrad as sg
    >>> sg.symbols("w", shape=(2,))
    array([w[0], w[1]], dtype=object)
    """
    parts = [p for p in names.replace(",", " ").split() if p]
    if not parts:
        raise ValueError("`symbols` needs at least one name, e.g. symbols('x y')")
    if shape is None:
        made = [symbol(p) for p in parts]
    else:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        made = [symbol_elements(p, shape, 0) for p in parts]
    return made[0] if len(made) == 1 else tuple(made)


def _nodes(x: Any) -> np.ndarray:
    array = np.asarray(x, dtype=object)
    return np.asarray(np.frompyfunc(as_node, 1, 1)(array), dtype=object).reshape(array.shape)


def _variables(wrt: Any) -> np.ndarray:
    array = np.asarray(wrt, dtype=object)
    for v in array.flat:
        if not (isinstance(v, Node) and v.op is symbol_p):
            raise TypeError(f"`diff` differentiates with respect to symbols, got {v!r}; "
                            "make variables with `symgrad.symbols`")
    return array


def _first_derivative(expr: np.ndarray, wrt: np.ndarray) -> np.ndarray:
    rows = jacobian(list(expr.flat), list(wrt.flat))
    return node_array((x for row in rows for x in row), expr.shape + wrt.shape)


def diff(expr: Any, wrt: Any, order: int = 1) -> Any:
    """The derivative of an expression (or array of them) with respect to symbols.

    Args:
        expr: an expression, a number, or an array of expressions.
        wrt: a symbol or an array of symbols.
        order: how many times to differentiate.

    Returns:
        An expression for scalar `expr` and `wrt`; otherwise an array of
        shape `expr.shape + wrt.shape` (repeated `order` times): the
        gradient, the Jacobian, the Hessian, ...

    >>> import symgrad as sg
    >>> x = sg.symbols("x")
    >>> sg.diff(x**4, x, 2)
    12*x**2
    """
    if not isinstance(order, (int, np.integer)) or order < 0:
        raise ValueError(f"`diff` order must be a non-negative int, got {order!r}")
    result = _nodes(expr)
    variables = _variables(wrt)
    for _ in range(order):
        result = _first_derivative(result, variables)
    return result[()] if result.shape == () else result


def free_symbols(expr: Any) -> list[Node]:
    """The symbols an expression (or array) depends on, in order of creation."""
    found = [n for n in topological_order(list(_nodes(expr).flat)) if n.op is symbol_p]
    return sorted(found, key=lambda n: n.id)


def graph_of(inputs: Sequence[Any], outputs: Any) -> Graph:
    """A graph with the given input symbols (or arrays) and output expressions (or arrays)."""
    ins = [_variables(i) for i in inputs]
    outs = [_nodes(o) for o in outputs]
    names = [_input_name(a) for a in ins]
    return Graph(
        inputs=tuple(n for a in ins for n in a.flat),
        outputs=tuple(n for a in outs for n in a.flat),
        input_names=tuple(names),
        input_shapes=tuple(a.shape for a in ins),
        output_names=tuple(f"out{k}" if len(outs) > 1 else "out" for k in range(len(outs))),
        output_shapes=tuple(a.shape for a in outs),
    )


def _input_name(array: np.ndarray) -> str:
    if array.shape == ():
        return array[()].param[0]
    first = next(iter(array.flat), None)
    return first.param[0].split("[")[0] if first is not None else "arg"


class CompiledExpressions:
    """The callable `compile` returns: inputs in order, one result per output."""

    def __init__(self, graph: Graph, single: bool):
        from .runtime import Kernel

        self.graph = graph
        self.kernel = Kernel(graph, "compiled")
        self._single = single

    def __call__(self, *args: Any) -> Any:
        results = self.kernel(*args)
        return results[0] if self._single else tuple(results)

    def formula(self):
        from .printing import Formula

        return Formula(self.graph)

    def __reduce__(self):
        from .serialize import graph_from_bytes, graph_to_bytes

        return (_rebuild, (graph_to_bytes(self.graph), self._single, graph_from_bytes))


def _rebuild(data: bytes, single: bool, graph_from_bytes) -> CompiledExpressions:
    return CompiledExpressions(graph_from_bytes(data), single)


def compile(inputs: Sequence[Any], outputs: Any) -> CompiledExpressions:  # noqa: A001  (the API's name)
    """Compile expressions to a native function of the given input symbols.

    Args:
        inputs: symbols or arrays of symbols, in call order.
        outputs: one expression (or array), or a list of them.

    Returns:
        A callable taking one float or array per input and returning one
        result per output (a tuple for a list of outputs).

    >>> import symgrad as sg
    >>> x, y = sg.symbols("x y")
    >>> k = sg.compile([x, y], [x * y, x + y])
    >>> k(2.0, 3.0)
    (6.0, 5.0)
    """
    if isinstance(inputs, (Node, np.ndarray)):
        inputs = [inputs]
    single = not isinstance(outputs, (list, tuple))
    graph = graph_of(list(inputs), [outputs] if single else list(outputs))
    missing = set(n for n in topological_order(graph.outputs) if n.op is symbol_p) - set(graph.inputs)
    if missing:
        names = ", ".join(sorted(n.param[0] for n in missing))
        raise ValueError(f"the outputs depend on symbols that are not inputs: {names}")
    return CompiledExpressions(graph, single)


def formula(expr: Any):
    """The `Formula` of an expression or array of expressions (inputs: its free symbols)."""
    from .printing import Formula

    return Formula(graph_of([s for s in free_symbols(expr)], [expr]))


def _expression_repr(node: Node) -> str:
    order = topological_order([node])
    if len(order) > REPR_LIMIT:
        return f"<symgrad expression of {len(order)} nodes>"
    if any(n.shape or n.op.sympy is None for n in order):
        # An array expression: its operation and shape (array formulas print with `Formula`).
        return f"<symgrad {node.op.name} of shape {node.shape}, {len(order)} nodes>"
    from .printing import to_sympy

    return str(to_sympy([node])[0])


def _to_sympy(node: Node):
    from .printing import to_sympy

    return to_sympy([node])[0]


Node.__repr__ = _expression_repr  # type: ignore[method-assign]
Node.__str__ = _expression_repr  # type: ignore[method-assign]
Node.sympy = _to_sympy  # type: ignore[attr-defined]
