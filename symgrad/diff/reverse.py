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
from ..primitives.registry import NoDerivative
from .chain import accumulate, fit, no_rule, partials_of, scale, sum_to_shape


def vjp(outputs: Sequence[Node], cotangents: Sequence[Node | float], wrt: Sequence[Node]) -> list[Node]:
    """`sum_k cotangents[k] * d outputs[k] / d wrt[j]`, for each j.

    `wrt` are the variables (usually symbols); the graph is not differentiated
    through them. A cotangent has its output's shape (a number is broadcast).
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
            adjoint[out] = accumulate(adjoint.get(out), fit(ct, out.shape))
    for node in reversed(order):
        ct = adjoint.get(node)
        if ct is None or node in variables or not node.args:
            continue
        if node.op.partials is not None:
            for arg, p in zip(node.args, partials_of(node)):
                if p is not None and arg in depends:
                    if isinstance(p, NoDerivative):
                        raise p.error(node)
                    adjoint[arg] = accumulate(adjoint.get(arg), sum_to_shape(scale(ct, p), arg.shape))
        elif node.op.vjp is not None:
            for i, arg in enumerate(node.args):
                if arg in depends:
                    contribution = node.op.vjp(ct, node, i)
                    if contribution is not None:
                        adjoint[arg] = accumulate(adjoint.get(arg), contribution)
        else:
            raise no_rule(node)
    return [adjoint[w] if w in adjoint else fit(const(0.0), w.shape) for w in wrt]
