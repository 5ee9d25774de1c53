"""Formulas as text straight from the DAG, without SymPy: the printer for large graphs.

`Formula.__str__` hands SymPy small graphs, where SymPy's tidy printing is
worth its cost. A derivative graph of 10^5 nodes would take SymPy minutes,
so it is printed here instead, in linear time: every non-leaf node used more
than once, or whose text grew long, becomes a numbered temporary `t0`, `t1`,
... (one line each, in topological order); other nodes are written inline
into their user.

Operators are read from each primitive's `llvm` facet (an `Instruction`,
`Compare`, `Power` or `Select` has an infix or `where(...)` form); every
other primitive is written as a call of its name, `sin(x)`. No list of
primitive names lives here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .ir import Graph, Node, count_users, topological_order
from .primitives import const_p, symbol_p
from .primitives.registry import Compare, Instruction, Power, Select

# Binding strength of the forms below, loosest first (Python's order).
COMPARE, SUM, PRODUCT, UNARY, POWER, ATOM = range(6)

# An inline expression longer than this becomes a temporary too, which keeps
# lines readable and printing linear (a long chain of single-use sums would
# otherwise be copied into ever longer strings).
MAX_INLINE_CHARS = 120

# Spaced like SymPy's printer: `a*b + c/d`.
_BINARY = {"fadd": (" + ", SUM), "fsub": (" - ", SUM), "fmul": ("*", PRODUCT), "fdiv": ("/", PRODUCT)}


def number(value: float) -> str:
    """A float as short text: `4` for 4.0, `0.1` for 0.1, `inf`, `nan`."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def render(node: Node, operands: Sequence[tuple[str, int]]) -> tuple[str, int]:
    """The text of `node` and its binding strength, from its operands' texts and strengths."""
    op = node.op
    if op is const_p:
        text = number(node.param)
        return text, UNARY if text.startswith("-") else ATOM
    if op is symbol_p:
        return node.param[0], ATOM
    how = op.llvm
    if isinstance(how, Instruction) and how.opcode in _BINARY:
        symbol, strength = _BINARY[how.opcode]
        (a, pa), (b, pb) = operands
        # Left-associative: the right operand needs parentheses at equal strength.
        left = a if pa >= strength else f"({a})"
        right = b if pb > strength else f"({b})"
        return f"{left}{symbol}{right}", strength
    if isinstance(how, Instruction) and how.opcode == "fneg":
        (a, pa), = operands
        return ("-" + a if pa >= POWER else f"-({a})"), UNARY
    if isinstance(how, Power):
        (a, pa), (b, pb) = operands
        base = a if pa > POWER else f"({a})"
        exponent = b if pb >= POWER else f"({b})"
        return f"{base}**{exponent}", POWER
    if isinstance(how, Compare):
        (a, pa), (b, pb) = operands
        left = a if pa > COMPARE else f"({a})"
        right = b if pb > COMPARE else f"({b})"
        return f"{left} {how.op} {right}", COMPARE
    if isinstance(how, Select):
        return f"where({', '.join(t for t, _ in operands)})", ATOM
    return f"{op.name}({', '.join(t for t, _ in operands)})", ATOM


def assignment_lines(graph: Graph, output_names: Sequence[str]) -> list[str]:
    """`t_k = ...` for every shared (or long) node, then `name = ...` for every output."""
    outputs = list(graph.outputs)
    order = topological_order(outputs)
    users = count_users(order)
    text: dict[Node, tuple[str, int]] = {}
    lines = []
    for node in order:
        rendered = render(node, [text[a] for a in node.args])
        if node.args and (users[node] > 1 or len(rendered[0]) > MAX_INLINE_CHARS):
            name = f"t{len(lines)}"
            lines.append(f"{name} = {rendered[0]}")
            rendered = (name, ATOM)
        text[node] = rendered
    lines.extend(f"{name} = {text[o][0]}" for name, o in zip(output_names, outputs))
    return lines
