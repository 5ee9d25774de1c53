"""Custom derivative rules: `custom_vjp` and `custom_jvp`.

A call of a function with a custom rule becomes, for each output element j,
a node `rule_j(out_j, x_1, ..., x_n)` whose value is `out_j` and whose
partials are the Jacobian row j that the rule defines. The row is found by
tracing the rule itself (a VJP rule with one-hot cotangents, a JVP rule
with one-hot tangents), so it is an ordinary expression of the inputs and
higher-order derivatives through a custom rule just work. The nodes are
inlined away before a graph is compiled or printed.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from . import tree
from .api import _name, jit
from .ir import Node, substitute
from .primitives import const
from .primitives.registry import Identity, Primitive
from .trace import (
    TracedArray,
    _context,
    flat_nodes,
    fresh_tag,
    is_traced,
    shaped_like,
    symbol_array,
    traced_leaves,
    wrap,
)

_calls = itertools.count()


def _rule_primitive(name: str, variables: list[Node], row: list[Node]) -> Primitive:
    def partials(out: Node, *operands: Node) -> tuple:
        # The row was traced against `variables`; follow any substitution since.
        mapping = {old: new for old, new in zip(variables, operands) if old is not new}
        return (None, *substitute(row, mapping))

    return Primitive(name, 1 + len(variables), impl=lambda out, *xs: out, partials=partials,
                     sympy=lambda sp, out, *xs: out, llvm=Identity())


def _traced_inputs(args: tuple) -> tuple[tuple, list[Node]]:
    """The arguments with every float leaf as a traced array, and the flat input nodes."""
    leaves, treedef = tree.flatten(args)
    traced, nodes = [], []
    for leaf in leaves:
        if isinstance(leaf, (TracedArray, Node)) or np.asarray(leaf).dtype.kind == "f":
            leaf = leaf if isinstance(leaf, TracedArray) else wrap(leaf)
            nodes.extend(leaf.nodes.flat)
        traced.append(leaf)
    return tree.unflatten(treedef, traced), nodes


def _with_rule(name: str, outputs: Any, variables: list[Node], rows: list[list[Node]]) -> Any:
    traced, treedef = traced_leaves(outputs)
    call = next(_calls)
    ruled = [_rule_primitive(f"{name}#{call}:{j}", variables, rows[j]).bind(o, *variables)
             for j, o in enumerate(flat_nodes(traced))]
    return tree.unflatten(treedef, shaped_like(traced, ruled))


def _one_hot_images(expressions: list[Node], symbols: list[Node]) -> list[list[Node]]:
    """`expressions` with the symbols set to each unit vector in turn (one list per symbol)."""
    zero, one = const(0.0), const(1.0)
    return [substitute(expressions, {s: (one if s is t else zero) for s in symbols}) for t in symbols]


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
        if not is_traced(args) and not getattr(_context, "functions", None):
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
        g_leaves = [TracedArray(symbol_array(f"_g{k}", leaf.shape, tag)) for k, leaf in enumerate(out_leaves)]
        g_symbols = flat_nodes(g_leaves)
        cotangents = self.bwd(residuals, tree.unflatten(out_treedef, g_leaves))
        ct_nodes = self._cotangent_nodes(args, cotangents)
        rows = _one_hot_images(ct_nodes, g_symbols)
        return _with_rule(_name(self.fun), out, variables, rows)

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
                    nodes.extend([const(0.0)] * leaf.size)
                    continue
                try:
                    block = np.broadcast_to(wrap(c.nodes if isinstance(c, TracedArray) else c).nodes, leaf.shape)
                except ValueError:
                    raise ValueError(
                        f"the `bwd` rule of `{name}` returned a cotangent of shape {np.shape(c)} "
                        f"for argument {i} of shape {leaf.shape}"
                    ) from None
                nodes.extend(block.flat)
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
            symbols = symbol_array(f"_t{len(tangent_symbols)}", leaf.shape, tag)
            tangent_symbols.extend(symbols.flat)
            return TracedArray(symbols)

        leaves, treedef = tree.flatten(args)
        tangents = tree.unflatten(treedef, [tangent_of(leaf) for leaf in leaves])
        _, out_tangent = self.rule(args, tangents)
        t_nodes = flat_nodes(traced_leaves(out_tangent)[0])
        columns = _one_hot_images(t_nodes, tangent_symbols)
        rows = [[columns[i][j] for i in range(len(variables))] for j in range(len(t_nodes))]
        return _with_rule(_name(self.fun), out, variables, rows)
