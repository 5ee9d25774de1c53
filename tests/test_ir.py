"""The IR: hash-consing, construction-time folding, iterative traversals, substitution."""

from __future__ import annotations

import math

import numpy as np

from symgrad.diff import jvp, vjp
from symgrad.evaluate import evaluate
from symgrad.ir import Graph, Node, topological_order
from symgrad.ir import substitute as substitute_nodes
from symgrad.primitives import REGISTRY, const, const_p
from symgrad.primitives import elementwise as P
from symgrad.trace import symbol

x, y, z = symbol("x"), symbol("y"), symbol("z")

# ----- Hash-consing -----


def test_structurally_equal_nodes_are_the_same_object():
    assert P.sin(x) is P.sin(x)
    assert P.mul(P.sin(x), y) is P.mul(P.sin(x), y)
    assert symbol("x") is x
    assert const(2.5) is const(2.5)


def test_commutative_operations_are_canonical():
    assert x + y is y + x
    assert x * y is y * x
    assert P.maximum(x, y) is P.maximum(y, x)
    assert x - y is not y - x


def test_symbols_with_different_tags_are_different_variables():
    assert symbol("x", 1) is not symbol("x", 2)
    assert symbol("x", 1) is symbol("x", 1)


def test_constants_are_keyed_by_bits():
    assert const(0.0) is not const(-0.0)
    assert const(math.nan) is const(math.nan)


def test_node_ids_grow_with_creation_order():
    a = P.cos(P.exp(symbol("fresh_ids")))
    assert a.args[0].id < a.id
    assert all(arg.id < node.id for node in topological_order([a]) for arg in node.args)


# ----- Construction-time simplification -----


def test_constant_folding():
    assert P.add(const(2.0), const(3.0)) is const(5.0)
    assert P.sin(0.0) is const(0.0)
    assert P.exp(P.log(const(2.0))).op is const_p
    np.testing.assert_allclose(P.exp(P.log(const(2.0))).param, 2.0, rtol=1e-15)
    assert P.div(1.0, 0.0) is const(math.inf)  # folding follows NumPy, without warnings


def test_identities_are_applied_when_building():
    assert x + 0.0 is x
    assert 0.0 + x is x
    assert x * 1.0 is x
    assert x * -1.0 is P.neg(x)
    assert P.neg(P.neg(x)) is x
    assert x**1.0 is x
    assert x**0.0 is const(1.0)
    assert x - P.neg(y) is x + y
    assert P.where(1.0, x, y) is x
    assert P.where(0.0, x, y) is y
    assert P.where(z, x, x) is x
    assert P.maximum(x, x) is x


def test_zero_times_x_is_not_folded():
    # 0 * x is NaN for x = inf or NaN, so it is kept (IEEE semantics).
    assert P.mul(0.0, x) is not const(0.0)


def test_bind_checks_operand_count():
    try:
        REGISTRY["sin"].bind(x, y)
    except TypeError as e:
        assert "`sin` takes 1 operands, got 2" in str(e)
    else:
        raise AssertionError("bind accepted two operands for sin")


# ----- Traversals are iterative -----

DEPTH = 200_000  # far beyond Python's recursion limit
DIFF_DEPTH = 20_000  # still beyond it; differentiating costs more per node


def _sin_chain(name: str, depth: int) -> tuple[Node, Node]:
    start = node = symbol(name)
    for _ in range(depth):
        node = P.sin(node)
    return start, node


def _iterated_sin(value: float, depth: int) -> float:
    for _ in range(depth):
        value = math.sin(value)
    return value


def test_deep_chain_is_traversed_and_evaluated_without_recursion():
    start, node = _sin_chain("deep", DEPTH)
    order = topological_order([node])
    assert len(order) == DEPTH + 1 and order[0] is start and order[-1] is node
    np.testing.assert_allclose(evaluate([node], {start: 0.5})[0], _iterated_sin(0.5, DEPTH), rtol=1e-12)


def test_deep_chain_is_differentiated_and_substituted_without_recursion():
    start, node = _sin_chain("deep_diff", DIFF_DEPTH)
    # d/dx of the chain is the product of cos of every intermediate value.
    (derivative,) = vjp([node], [1.0], [start])
    (tangent,) = jvp([node], [start], [1.0])
    slope = evaluate([derivative, tangent], {start: 0.5})
    np.testing.assert_allclose(slope[0], slope[1], rtol=1e-12)
    expected, value = 1.0, 0.5
    for _ in range(DIFF_DEPTH):
        expected *= math.cos(value)
        value = math.sin(value)
    np.testing.assert_allclose(slope[0], expected, rtol=1e-10)
    assert substitute_nodes([node], {start: const(0.0)}) == [const(0.0)]  # sin(0) folds all the way up
    assert substitute_nodes([node], {start: start})[0] is node


# ----- Substitution -----


def test_substitute_replaces_and_refolds():
    assert substitute_nodes([P.sin(x) + y], {x: const(0.0)}) == [y]
    assert substitute_nodes([x * y], {x: z}) == [z * y]
    assert substitute_nodes([x * y, P.cos(x)], {x: const(0.0)}) == [P.mul(0.0, y), const(1.0)]


def test_substitute_keeps_untouched_nodes():
    e = P.exp(x) * y
    assert substitute_nodes([e], {}) == [e]
    assert substitute_nodes([e], {z: x})[0] is e


def test_substitute_shares_common_subexpressions():
    shared = P.sin(x)
    e = shared * shared + shared
    (image,) = substitute_nodes([e], {x: y})
    assert image is P.sin(y) * P.sin(y) + P.sin(y)


def test_graph_order_is_operands_before_users():
    e = P.exp(x * y) + P.sin(x * y)
    graph = Graph((x, y), (e,), ("x", "y"), ((), ()), ("out",), ((),))
    order = graph.order()
    position = {n: i for i, n in enumerate(order)}
    assert len(set(order)) == len(order)
    assert all(position[a] < position[n] for n in order for a in n.args)
    assert isinstance(order[0], Node)
