"""Reverse mode: the vector-Jacobian product as a graph transform.

Adjoints flow from the outputs to the variables in reverse topological order,
each node visited once, so a gradient costs a small constant times the
function in operations. Only nodes that depend on a variable get an adjoint:
structural zeros are never built.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Node, topological_order
from ..primitives import as_node, const, is_const
from .chain import accumulate, partials_of, scale


def vjp(outputs: Sequence[Node], cotangents: Sequence[Node | float], wrt: Sequence[Node]) -> list[Node]:
    """`sum_k cotangents[k] * d outputs[k] / d wrt[j]`, for each j.

    `wrt` are the variables (usually symbols); the graph is not differentiated
    through them.
    """
    order = topological_order(outputs)
    variables = set(wrt)
    depends: set[Node] = set()
    for node in order:
        if node in variables or any(a in depends for a in node.args):
            depends.add(node)
    adjoint: dict[Node, Node] = {}
    for out, ct in zip(outputs, cotangents):
        ct = as_node(ct)
        if out in depends and not is_const(ct, 0.0):
            adjoint[out] = accumulate(adjoint.get(out), ct)
    for node in reversed(order):
        ct = adjoint.get(node)
        if ct is None or node in variables or not node.args:
            continue
        for arg, p in zip(node.args, partials_of(node)):
            if p is not None and arg in depends:
                adjoint[arg] = accumulate(adjoint.get(arg), scale(ct, p))
    return [adjoint.get(w, const(0.0)) for w in wrt]
