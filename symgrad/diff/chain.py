"""The two operations of the chain rule, shared by forward and reverse mode.

`scale(d, p)` is one link (a derivative times a local partial) and
`accumulate(a, b)` sums the contributions of several paths. Both keep a
`where` that zeroes one branch on the outside: in `where(x > 0, sqrt(x), 0)`
at x = -1 the partial of the untaken branch is NaN, and `0 * NaN` would leak
it into the result; `where(c, d * p, 0)` selects it away instead.
"""

from __future__ import annotations

from ..ir import Node
from ..primitives import add, as_node, broadcast_to, is_const, mul, reduce_sum, reshape, where, where_p
from ..primitives.registry import NoDerivative


def scale(d: Node, p: Node) -> Node:
    """`d * p`, with a one-sided `where` in either factor pushed outward."""
    for masked, other in ((d, p), (p, d)):
        if masked.op is where_p:
            c, a, b = masked.args
            if is_const(b, 0.0):
                return where(c, scale(a, other), 0.0)
            if is_const(a, 0.0):
                return where(c, 0.0, scale(b, other))
    return mul(d, p)


def accumulate(total: Node | None, term: Node) -> Node:
    """`total + term`, merging `where`s on the same condition into one."""
    if total is None:
        return term
    if total.op is where_p and term.op is where_p and total.args[0] is term.args[0]:
        c = total.args[0]
        return where(c, add(total.args[1], term.args[1]), add(total.args[2], term.args[2]))
    return add(total, term)


def sum_to_shape(x: Node, shape: tuple[int, ...]) -> Node:
    """`x` summed over the axes broadcasting added to an operand of `shape` (the transpose of broadcasting)."""
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = [*range(lead), *(lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)]
    return reshape(reduce_sum(x, axes), shape)


def fit(x: Node, shape: tuple[int, ...]) -> Node:
    """A tangent `x` broadcast to the shape of its node (a partial may be a scalar)."""
    return x if x.shape == shape else broadcast_to(x, shape)


def no_rule(node: Node):
    from ..errors import UnsupportedPrimitiveError

    return UnsupportedPrimitiveError(f"no derivative rule for primitive `{node.op.name}`")


def partials_of(node: Node) -> tuple[Node | None, ...]:
    """The local partials of an elementwise node, with structural zeros as None (and a `NoDerivative` kept:
    the caller raises its error if a tangent reaches it)."""
    if node.op.partials is None:
        raise no_rule(node)
    out = []
    for p in node.op.partials(*node.args):
        if p is not None and not isinstance(p, NoDerivative):
            p = as_node(p)
            if is_const(p, 0.0):
                p = None
        out.append(p)
    return tuple(out)
