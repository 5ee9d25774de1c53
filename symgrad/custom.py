"""Custom derivative rules: `custom_vjp` and `custom_jvp`.

A call of a function with a custom rule becomes, for each output leaf, a
node `rule(out, x_1, ..., x_n)` whose value is `out` and whose derivative
rules come from the user's rule, traced once with symbolic cotangents (a
VJP rule) or tangents (a JVP rule). A VJP rule is linear in its cotangent,
so the forward rule is its transpose (a VJP of the traced rule with respect
to the cotangent symbol), and the other way round for a JVP rule: both
modes, and derivatives of any order, work through either kind of rule. The
nodes are inlined away before a graph is compiled or printed.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from . import tree
from .api import jit
from .diff import vjp as vjp_nodes
from .ir import Node, substitute
from .primitives import broadcast_to, symbol, zeros
from .primitives.registry import Identity, Primitive
from .trace import TracedArray, as_array_node, fresh_tag, inside_trace, is_traced, traced_leaves, wrap
from .transformed import _name

_calls = itertools.count()


def _rule_node(name: str, out: Node, variables: list[Node], jvp, vjp) -> Node:
    """The node `out` carrying a derivative rule; `jvp(tangents, mapping)` and `vjp(ct, i, mapping)` give it,
    `mapping` being the substitution of the traced inputs by the node's operands (when they changed)."""

    def mapping_of(node: Node) -> dict[Node, Node]:
        return {old: new for old, new in zip(variables, node.args[1:]) if old is not new}

    prim = Primitive(
        name, 1 + len(variables),
        build=lambda param, *args: Node.make(prim, args, param, args[0].shape),
        impl=lambda node, value, *xs: value, sympy=lambda sp, value, *xs: value, llvm=Identity(),
        jvp=lambda node, tangents: jvp(tangents[1:], mapping_of(node)),
        vjp=lambda ct, node, i: None if i == 0 else vjp(ct, i - 1, mapping_of(node)),
        # Expanded into scalars, a scalar call keeps its rule; the elements of an array call are
        # their values (the scalar Jacobians of `symgrad.diff.jacobian` avoid those).
        scalarize=lambda node, value, *xs: (_boxed(prim.build(None, value[()], *(x[()] for x in xs)))
                                            if value.shape == () and all(x.shape == () for x in xs) else value),
        # Batched, the value carries on without its rule (derivatives of the batched function
        # then follow the function's own graph).
        batch=lambda node, args, batched: args[0],
    )
    return Node.make(prim, (out, *variables), None, out.shape)


def _boxed(node: Node) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = node
    return out


def _traced_inputs(args: tuple) -> tuple[tuple, list[Node]]:
    """The arguments with every float leaf as a traced array, and their nodes."""
    leaves, treedef = tree.flatten(args)
    traced, nodes = [], []
    for leaf in leaves:
        if isinstance(leaf, (TracedArray, Node)) or np.asarray(leaf).dtype.kind == "f":
            leaf = wrap(leaf)
            nodes.append(leaf.node)
        traced.append(leaf)
    return tree.unflatten(treedef, traced), nodes


def _zeros_for(symbols: list[Node]) -> dict[Node, Node]:
    return {s: zeros(s.shape) for s in symbols}


class _CustomRule:
    """What `custom_vjp` and `custom_jvp` share: wrapping, compiling concrete calls."""

    kind = ""

    def __init__(self, fun: Callable):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self._compiled = None
        self._inside_rule = threading.local()

    def __call__(self, *args: Any) -> Any:
        # Inside a trace even concrete arguments take the traced path (see `Transformed.__call__`).
        if not is_traced(args) and not inside_trace():
            if self._compiled is None:
                self._compiled = jit(self)
            return self._compiled(*args)
        if getattr(self._inside_rule, "depth", 0):
            # The rule calls the function itself (JAX's usual pattern): the plain function.
            return self.fun(*args)
        self._inside_rule.depth = 1
        try:
            return self._traced_call(args)
        finally:
            self._inside_rule.depth = 0

    def _missing_rule(self, method: str) -> TypeError:
        name = _name(self.fun)
        return TypeError(f"`{name}` is a `symgrad.{self.kind}` function without a rule; "
                         f"call `{name}.{method}(...)` before using it")


class custom_vjp(_CustomRule):  # noqa: N801  (JAX's name)
    """A function whose reverse-mode derivative is given by hand (`defvjp(fwd, bwd)`).

    `fwd(*args)` returns `(output, residuals)`; `bwd(residuals, g)` returns
    one cotangent per argument (None for a non-float one). Both are traced,
    so higher-order derivatives through the rule work.
    """

    kind = "custom_vjp"

    def __init__(self, fun: Callable):
        super().__init__(fun)
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        self.fwd, self.bwd = fwd, bwd

    def _traced_call(self, args: tuple) -> Any:
        if self.fwd is None or self.bwd is None:
            raise self._missing_rule("defvjp")
        args, variables = _traced_inputs(args)
        out, residuals = self.fwd(*args)
        out_leaves, out_treedef = traced_leaves(out)
        tag = fresh_tag()
        g = [symbol(f"_g{k}", tag, leaf.shape) for k, leaf in enumerate(out_leaves)]
        cotangents = self.bwd(residuals, tree.unflatten(out_treedef, [TracedArray(s) for s in g]))
        ct_nodes = self._cotangent_nodes(args, cotangents)
        call = next(_calls)
        ruled = []
        for k, leaf in enumerate(out_leaves):
            others = _zeros_for([s for s in g if s is not g[k]])

            def vjp(ct, i, mapping, k=k, others=others):
                return substitute([ct_nodes[i]], {**others, g[k]: ct, **mapping})[0]

            def jvp(tangents, mapping, k=k, others=others):
                # The rule is linear in g: the forward map is its transpose.
                if all(t is None for t in tangents):
                    return None
                (forward,) = vjp_nodes(ct_nodes, [0.0 if t is None else t for t in tangents], [g[k]])
                return substitute([forward], {**others, g[k]: zeros(g[k].shape), **mapping})[0]

            ruled.append(TracedArray(_rule_node(f"{_name(self.fun)}#{call}:{k}", leaf.node, variables, jvp, vjp)))
        return tree.unflatten(out_treedef, ruled)

    def _cotangent_nodes(self, args: tuple, cotangents: Any) -> list[Node]:
        name = _name(self.fun)
        if not isinstance(cotangents, (tuple, list)) or len(cotangents) != len(args):
            got = type(cotangents).__name__
            if isinstance(cotangents, (tuple, list)):
                got += f" of length {len(cotangents)}"
            raise TypeError(f"the `bwd` rule of `{name}` must return a tuple with one cotangent "
                            f"per argument ({len(args)}), got {got}")
        nodes: list[Node] = []
        for i, (arg, ct) in enumerate(zip(args, cotangents)):
            arg_leaves = tree.flatten(arg)[0]
            ct_leaves = [None] * len(arg_leaves) if ct is None else tree.flatten(ct)[0]
            if len(ct_leaves) != len(arg_leaves):
                raise ValueError(f"the `bwd` rule of `{name}` returned a cotangent for argument {i} "
                                 "whose structure differs from the argument's")
            for leaf, c in zip(arg_leaves, ct_leaves):
                if not isinstance(leaf, TracedArray):
                    continue
                if c is None:
                    nodes.append(zeros(leaf.shape))
                    continue
                try:
                    nodes.append(broadcast_to(as_array_node(c), leaf.shape))
                except ValueError:
                    raise ValueError(
                        f"the `bwd` rule of `{name}` returned a cotangent of shape {np.shape(c)} "
                        f"for argument {i} of shape {leaf.shape}"
                    ) from None
        return nodes


class custom_jvp(_CustomRule):  # noqa: N801  (JAX's name)
    """A function whose forward-mode derivative is given by hand (`defjvp(rule)`).

    `rule(primals, tangents)` returns `(output, output_tangent)`; it is
    traced, so higher-order derivatives through the rule work. Reverse mode
    uses the same rule.
    """

    kind = "custom_jvp"

    def __init__(self, fun: Callable):
        super().__init__(fun)
        self.rule: Callable | None = None

    def defjvp(self, rule: Callable) -> Callable:
        self.rule = rule
        return rule

    def _traced_call(self, args: tuple) -> Any:
        if self.rule is None:
            raise self._missing_rule("defjvp")
        args, variables = _traced_inputs(args)
        out = self.fun(*args)
        tag = fresh_tag()
        tangent_symbols: list[Node] = []

        def tangent_of(leaf: Any) -> Any:
            if not isinstance(leaf, TracedArray):
                return None
            t = symbol(f"_t{len(tangent_symbols)}", tag, leaf.shape)
            tangent_symbols.append(t)
            return TracedArray(t)

        leaves, treedef = tree.flatten(args)
        tangents = tree.unflatten(treedef, [tangent_of(leaf) for leaf in leaves])
        _, out_tangent = self.rule(args, tangents)
        out_leaves, out_treedef = traced_leaves(out)
        t_nodes = [t.node for t in traced_leaves(out_tangent)[0]]
        if [t.shape for t in t_nodes] != [o.shape for o in out_leaves]:
            raise ValueError(f"the JVP rule of `{_name(self.fun)}` returned tangents of shapes "
                             f"{[t.shape for t in t_nodes]} for outputs of shapes {[o.shape for o in out_leaves]}")
        call = next(_calls)
        ruled = []
        for k, leaf in enumerate(out_leaves):

            def jvp(tangents, mapping, k=k):
                if all(t is None for t in tangents):
                    return None
                given = {s: zeros(s.shape) if t is None else t for s, t in zip(tangent_symbols, tangents)}
                return substitute([t_nodes[k]], {**given, **mapping})[0]

            def vjp(ct, i, mapping, k=k):
                # The rule is linear in the tangents: the reverse map is its transpose.
                (back,) = vjp_nodes([t_nodes[k]], [ct], [tangent_symbols[i]])
                return substitute([back], {**_zeros_for(tangent_symbols), **mapping})[0]

            ruled.append(TracedArray(_rule_node(f"{_name(self.fun)}#{call}:{k}", leaf.node, variables, jvp, vjp)))
        return tree.unflatten(out_treedef, ruled)
