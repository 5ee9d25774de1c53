"""Formulas of array graphs, in array form: `dW = 2e-06*(X.T @ (X @ W - Y))`, and in LaTeX.

A graph lowered to loops is printed the way a NumPy user writes it: one
line per output and a numbered temporary `t0`, `t1`, ... for every array
used more than once; contractions as `@` with `.T` where a matrix is read
transposed (`X^\\top` in LaTeX), reductions as `.sum(axis=...)`, implicit
broadcasting left implicit, slices as slices. Elementwise operations are
written as `symgrad.textform` writes them for scalars.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from .ir import Graph, Node, count_users, topological_order
from .primitives import const_p
from .primitives.reduce import contraction_axes
from .textform import ATOM, COMPARE, POWER, PRODUCT, SUM, UNARY, number, render

_LONG_INDEX = 6


def lines(graph: Graph) -> list[str]:
    """`t_k = ...` for every array used more than once, then `name = ...` for every output."""
    return _assignments(graph, _text, "t{}")


def latex(graph: Graph) -> str:
    """The same, as an `aligned` LaTeX block."""
    rows = [f"{_latex_name(name)} &= {text}" for name, text in _assignments(graph, _latex, "t_{{{}}}", pairs=True)]
    return r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}"


def _assignments(graph: Graph, renderer, temporary: str, pairs: bool = False):
    outputs = list(graph.outputs)
    order = topological_order(outputs)
    users = count_users(order)
    text: dict[Node, tuple[str, int]] = {}
    result = []
    for node in order:
        operands = [text[a] for a in node.args]
        if node.op.name == "dot_general":
            # `X.T @ (c*r)` is shown as `c*(X.T @ r)`.
            factor = _scalar_factor(node, text)
            if factor is not None:
                c, operands = factor
                product = renderer(node, operands)
                scale = renderer(c, [])
                text[node] = _scaled(scale, product, renderer is _latex)
                _name_if_shared(node, users, text, result, temporary)
                continue
        rendered = renderer(node, operands)
        text[node] = rendered
        _name_if_shared(node, users, text, result, temporary)
    result.extend((name, text[o][0]) for name, o in zip(graph.output_names, outputs))
    return result if pairs else [f"{name} = {body}" for name, body in result]


def _name_if_shared(node: Node, users, text, result, temporary: str) -> None:
    if node.args and users[node] > 1 and node.op.name not in ("broadcast_in_dim", "reshape"):
        name = temporary.format(len(result))
        result.append((name, text[node][0]))
        text[node] = (name, ATOM)


def _scalar_factor(node: Node, text):
    """A constant factor of one operand of a contraction (not a temporary): (the constant, new operands)."""
    for k, operand in enumerate(node.args):
        if operand.op.name == "mul" and operand.args[0].op.name == "const" and operand.args[0].shape == () \
                and text[operand][1] != ATOM:
            operands = [text[a] for a in node.args]
            operands[k] = text[operand.args[1]]
            return operand.args[0], operands
    return None


def _scaled(scale: tuple[str, int], product: tuple[str, int], latex: bool) -> tuple[str, int]:
    inner = product[0] if product[1] > PRODUCT else (rf"\left({product[0]}\right)" if latex else f"({product[0]})")
    return (f"{scale[0]} {inner}" if latex else f"{scale[0]}*{inner}"), PRODUCT


def _atom(operand: tuple[str, int]) -> str:
    text, strength = operand
    return text if strength >= ATOM else f"({text})"


def _axis_text(axes: Sequence[int], ndim: int) -> str:
    if len(axes) == ndim:
        return ""
    return f"axis={axes[0]}" if len(axes) == 1 else f"axis={tuple(axes)}"


def _indices_text(array) -> str:
    values = array.reshape(-1).tolist()
    shown = ", ".join(map(str, values[:_LONG_INDEX])) + (", ..." if len(values) > _LONG_INDEX else "")
    return f"[{shown}]"


def _number(value: float) -> tuple[str, int]:
    # 0.006666666666666667 reads better as 1/150 (the same double).
    text = number(value)
    if "." in text or "e" in text:
        ratio = Fraction(value).limit_denominator(10**7)
        if ratio.denominator > 1 and float(ratio) == value:
            return f"{ratio.numerator}/{ratio.denominator}", PRODUCT
    return text, UNARY if text.startswith("-") else ATOM


def _text(node: Node, operands: list[tuple[str, int]]) -> tuple[str, int]:
    """The text of `node` and its binding strength (see `textform`)."""
    name = node.op.name
    if name == "const":
        return _number(node.param)
    if name == "array_const":
        return node.param.name, ATOM
    if name == "basis":
        return f"eye({node.shape[0]})" + ("" if node.ndim == 2 else f".reshape{node.shape}"), ATOM
    if not node.op.structural:
        return render(node, operands)
    x = operands[0] if operands else None
    if name in ("reduce_sum", "reduce_max", "reduce_min"):
        method = name.removeprefix("reduce_")
        return f"{_atom(x)}.{method}({_axis_text(node.param, node.args[0].ndim)})", ATOM
    if name == "transpose":
        if tuple(node.param) == tuple(reversed(range(node.ndim))):
            return f"{_atom(x)}.T", ATOM
        return f"{_atom(x)}.transpose{tuple(node.param)}", ATOM
    if name == "reshape":
        return f"{_atom(x)}.reshape{node.shape if len(node.shape) != 1 else f'({node.shape[0]})'}", ATOM
    if name == "broadcast_in_dim":
        shape, dims = node.param
        source = node.args[0]
        if source.ndim == 0:  # a number filling an array (`1 @ B` would not be NumPy)
            if source.op is const_p and source.param == 1.0:
                return f"ones({shape})", ATOM
            return f"full({shape}, {x[0]})", ATOM
        if dims == tuple(range(len(shape) - len(dims), len(shape))):
            return x  # NumPy broadcasts it
        index = ", ".join(":" if d in dims else "None" for d in range(len(shape)))
        return f"{_atom(x)}[{index}]", ATOM
    if name == "slice":
        parts = [_slice_text(a, b, c, n) for a, b, c, n in zip(*node.param, node.args[0].shape)]
        while parts and parts[-1] == ":":
            parts.pop()
        return f"{_atom(x)}[{', '.join(parts) or ':'}]", ATOM
    if name == "pad":
        lo, hi, interior = node.param
        widths = ", ".join(f"({a}, {b})" for a, b in zip(lo, hi))
        extra = f", interior={list(interior)}" if any(interior) else ""
        return f"pad({x[0]}, [{widths}]{extra})", ATOM
    if name == "concatenate":
        return f"concatenate([{', '.join(t for t, _ in operands)}], axis={node.param})", ATOM
    if name == "gather":
        indices, axis = node.param
        if indices.array.ndim == 0 and axis == 0:
            return f"{_atom(x)}[{int(indices.array)}]", ATOM
        return f"take({x[0]}, {_indices_text(indices.array)}, axis={axis})", ATOM
    if name == "scatter_add":
        indices, axis, size = node.param
        return f"scatter_add({x[0]}, {_indices_text(indices.array)}, axis={axis}, size={size})", ATOM
    if name == "pack":
        return f"array([{', '.join(t for t, _ in operands)}])" + (
            "" if node.ndim == 1 else f".reshape{node.shape}"), ATOM
    if name == "dot_general":
        return _dot_text(node, operands)
    return f"{name}({', '.join(t for t, _ in operands)})", ATOM


def _slice_text(start: int, stop: int, step: int, n: int) -> str:
    count = len(range(start, stop, step))
    if count == n and step == 1:
        return ":"
    first = str(start) if start else ""
    last = "" if start + count * step >= n else str(stop)
    return f"{first}:{last}" + (f":{step}" if step != 1 else "")


def _matmul_roles(node: Node):
    """How a contraction reads as `x @ y`: (x transposed, y transposed), or None if it doesn't."""
    xl, yl, ol = node.param
    axes = contraction_axes(node)
    batch, inner, rows, cols = axes.batch, axes.contracted, axes.rows, axes.columns
    b = "".join(batch)
    if len(inner) != 1 or len(rows) > 1 or len(cols) > 1 or ol != b + "".join(rows) + "".join(cols):
        return None
    (k,) = inner
    x_forms = {b + "".join(rows) + k: False, b + k + "".join(rows): bool(rows)}
    y_forms = {b + k + "".join(cols): False, b + "".join(cols) + k: bool(cols)}
    if xl not in x_forms or yl not in y_forms:
        return None
    return x_forms[xl], y_forms[yl], bool(batch)


def _dot_text(node: Node, operands) -> tuple[str, int]:
    (x, px), (y, py) = operands
    roles = _matmul_roles(node)
    xl, yl, ol = node.param
    if roles is None:
        if not (set(xl) & set(yl) - set(ol)) and len(xl) == len(yl) == 1:
            return f"outer({x}, {y})", ATOM
        return f"einsum('{xl},{yl}->{ol}', {x}, {y})", ATOM
    x_t, y_t, batched = roles
    transposed = ".mT" if batched else ".T"
    left = f"{_atom((x, px))}{transposed}" if x_t else (x if px >= PRODUCT else f"({x})")
    right = f"{_atom((y, py))}{transposed}" if y_t else (y if py > PRODUCT else f"({y})")
    return f"{left} @ {right}", PRODUCT


# ----- LaTeX -----

_LATEX_FUNCTIONS = {
    "sin": r"\sin", "cos": r"\cos", "tan": r"\tan", "sinh": r"\sinh", "cosh": r"\cosh", "tanh": r"\tanh",
    "exp": r"\exp", "log": r"\log", "arcsin": r"\arcsin", "arccos": r"\arccos", "arctan": r"\arctan",
}


def _latex_name(name: str) -> str:
    base, bracket, rest = name.partition("[")
    base = base.replace("_", r"\_")
    return base + (f"_{{{rest.rstrip(']')}}}" if bracket else "")


def _latex(node: Node, operands: list[tuple[str, int]]) -> tuple[str, int]:
    """LaTeX of `node`: matrix products as juxtaposition with `^\\top`, elementwise products as `\\odot`."""
    name = node.op.name
    if name == "const":
        text, strength = _number(node.param)
        if "/" in text:
            p, q = text.split("/")
            return rf"\frac{{{p}}}{{{q}}}", ATOM
        return text, strength
    if name in ("symbol", "array_const"):
        return _latex_name(node.param[0] if name == "symbol" else node.param.name), ATOM
    wrap = lambda o, s: o[0] if o[1] >= s else rf"\left({o[0]}\right)"  # noqa: E731
    if name in ("add", "sub"):
        a, b = operands
        return f"{wrap(a, SUM)} {'+' if name == 'add' else '-'} {wrap(b, SUM + 1)}", SUM
    if name == "mul":
        a, b = operands
        operator = " " if any(arg.shape == () for arg in node.args) else r" \odot "
        return wrap(a, PRODUCT) + operator + wrap(b, PRODUCT + 1), PRODUCT
    if name == "div":
        return rf"\frac{{{operands[0][0]}}}{{{operands[1][0]}}}", ATOM
    if name == "neg":
        return f"-{wrap(operands[0], POWER)}", UNARY
    if name == "pow":
        return f"{wrap(operands[0], ATOM)}^{{{operands[1][0]}}}", POWER
    if name in _LATEX_FUNCTIONS:
        return rf"{_LATEX_FUNCTIONS[name]}\left({operands[0][0]}\right)", ATOM
    if name == "dot_general":
        roles = _matmul_roles(node)
        if roles is not None:
            x_t, y_t, _ = roles
            left = wrap(operands[0], ATOM) + (r"^\top" if x_t else "")
            right = wrap(operands[1], ATOM) + (r"^\top" if y_t else "")
            return f"{left} {right}", PRODUCT
    if name == "transpose" and tuple(node.param) == tuple(reversed(range(node.ndim))):
        return f"{wrap(operands[0], ATOM)}^\\top", ATOM
    if name == "reduce_sum":
        axes = _axis_text(node.param, node.args[0].ndim).replace("axis=", "")
        subscript = f"_{{{axes}}}" if axes else ""
        return rf"\operatorname{{sum}}{subscript}\left({operands[0][0]}\right)", ATOM
    if name == "broadcast_in_dim" and node.args[0].ndim == 0:  # a number filling an array: c 1
        source = node.args[0]
        if source.op is const_p and source.param == 1.0:
            return r"\mathbf{1}", ATOM
        return rf"{wrap(operands[0], PRODUCT)} \mathbf{{1}}", PRODUCT
    if name == "broadcast_in_dim" and node.param[1] == tuple(range(node.ndim - node.args[0].ndim, node.ndim)):
        return operands[0]
    if name in ("greater", "less", "greater_equal", "less_equal", "equal", "not_equal"):
        symbol = {"greater": ">", "less": "<", "greater_equal": r"\geq", "less_equal": r"\leq", "equal": "=",
                  "not_equal": r"\neq"}[name]
        return f"{wrap(operands[0], COMPARE + 1)} {symbol} {wrap(operands[1], COMPARE + 1)}", COMPARE
    arguments = ", ".join(t for t, _ in operands)
    escaped = name.replace("_", r"\_")
    return rf"\operatorname{{{escaped}}}\left({arguments}\right)", ATOM
