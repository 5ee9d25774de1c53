"""Forward mode: the Jacobian-vector product as a graph transform.

Tangents flow from the variables to the outputs in topological order; only
nodes that depend on a variable with a nonzero tangent get one.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Node, topological_order
from ..primitives import as_node, const, is_const
from ..primitives.registry import NoDerivative
from .chain import accumulate, fit, no_rule, partials_of, scale


def jvp(outputs: Sequence[Node], wrt: Sequence[Node], tangents: Sequence[Node | float],
        order: Sequence[Node] | None = None) -> list[Node]:
    """`sum_j d outputs[k] / d wrt[j] * tangents[j]`, for each k (a tangent has its variable's shape).

    `order` may give the nodes to visit, in topological order (those that
    depend on the variables suffice); by default, all nodes of the outputs.
    """
    tangent: dict[Node, Node] = {}
    for w, t in zip(wrt, tangents):
        t = as_node(t)
        if not is_const(t, 0.0):
            tangent[w] = accumulate(tangent.get(w), fit(t, w.shape))
    variables = set(tangent)
    for node in topological_order(outputs) if order is None else order:
        if node in variables or not any(a in tangent for a in node.args):
            continue
        if node.op.partials is not None:
            total = None
            for arg, p in zip(node.args, partials_of(node)):
                t = tangent.get(arg)
                if t is not None and p is not None:
                    if isinstance(p, NoDerivative):
                        raise p.error(node)
                    total = accumulate(total, scale(t, p))
            total = None if total is None else fit(total, node.shape)
        elif node.op.jvp is not None:
            total = node.op.jvp(node, [tangent.get(a) for a in node.args])
        else:
            raise no_rule(node)
        if total is not None:
            tangent[node] = total
    return [tangent[o] if o in tangent else fit(const(0.0), o.shape) for o in outputs]
