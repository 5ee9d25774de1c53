"""Reverse mode: the vector-Jacobian product as a graph transform.

Adjoints flow from the outputs to the variables in reverse topological order,
each node visited once, so a gradient costs a small constant times the
function in operations. Only nodes that depend on a variable get an adjoint:
structural zeros are never built.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir import Node, topological_order
from ..primitives import Indices, as_node, const, is_const, pack, scatter_add
from ..primitives.layout import scatter_add_p
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
    # The contributions to each adjoint, summed when the node is reached (all its users are done then).
    terms: dict[Node, list[Node]] = {}
    for out, ct in zip(outputs, cotangents):
        ct = as_node(ct)
        if out in depends and not is_const(ct, 0.0):
            terms.setdefault(out, []).append(fit(ct, out.shape))
    for node in reversed(order):
        ct = _sum(terms.pop(node, None))
        if ct is None or node in variables or not node.args:
            if ct is not None:
                terms[node] = [ct]
            continue
        if node.op.partials is not None:
            for arg, p in zip(node.args, partials_of(node)):
                if p is not None and arg in depends:
                    if isinstance(p, NoDerivative):
                        raise p.error(node)
                    terms.setdefault(arg, []).append(sum_to_shape(scale(ct, p), arg.shape))
        elif node.op.vjp is not None:
            for i, arg in enumerate(node.args):
                if arg in depends:
                    contribution = node.op.vjp(ct, node, i)
                    if contribution is not None:
                        terms.setdefault(arg, []).append(contribution)
        else:
            raise no_rule(node)
    adjoints = [_sum(terms.get(w)) for w in wrt]
    return [a if a is not None else fit(const(0.0), w.shape) for a, w in zip(adjoints, wrt)]


def _sum(contributions: list[Node] | None) -> Node | None:
    """The sum of the contributions to one adjoint, in order. Many single elements scattered into one
    array (the adjoint of an array read element by element) become one scatter of all of them."""
    if not contributions:
        return None
    singles = [t for t in contributions if t.op is scatter_add_p and t.param[0].array.ndim == 0
               and t.param[1] == 0 and t.args[0].shape == ()]
    if len(singles) > 1:
        size = singles[0].param[2]
        same = [t for t in singles if t.param[2] == size]
        merged = scatter_add(pack([t.args[0] for t in same], (len(same),)),
                             Indices(np.array([int(t.param[0].array) for t in same])), 0, size)
        chosen = set(same)
        contributions = [t for t in contributions if t not in chosen] + [merged]
    total = None
    for term in contributions:
        total = accumulate(total, term)
    return total
