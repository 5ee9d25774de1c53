"""The transformations users call: `grad`, `value_and_grad`, `jit`, `jacobian`, `hessian`, `jvp`, `vjp`.

Each returns a `Transformed` callable (`symgrad.transformed`). A
transformation is a function from traced arguments to traced results (it
differentiates by calling the `symgrad.diff` passes); `Transformed`
connects it to the other stages. No math lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import tree
from .diff import jacobian as jacobian_nodes
from .diff import jvp as jvp_nodes
from .diff import vjp as vjp_nodes
from .function_cache import FunctionCache
from .ir import Node, substitute
from .primitives import as_node, symbol
from .trace import TracedArray, as_array_node, fresh_tag, is_traced, traced_leaves
from .transformed import Transformation, Transformed, _decorator, _is_float, _name


def _recorded(factory_name: str, transformed: Transformed, *args: Any, **kwargs: Any) -> Transformed:
    """Remember how `transformed` was made, so that it can be pickled."""
    transformed._recipe = (globals()[factory_name], args, kwargs)
    return transformed


# ----- Variables: the arguments a derivative is taken with respect to -----


@dataclass
class _Variables:
    """The leaves a derivative is taken with respect to: one symbol node per float leaf."""

    call_args: tuple
    nodes: list[Node]
    structures: list[tuple[Any, int]]
    mapping: dict[Node, Node]

    def unflatten(self, nodes: Sequence[Node]) -> list[Any]:
        """One tree per variable argument, with the nodes (one per leaf, in order) as its leaves."""
        trees, it = [], iter(nodes)
        for treedef, count in self.structures:
            trees.append(tree.unflatten(treedef, [TracedArray(next(it)) for _ in range(count)]))
        return trees


def _normalize_argnums(fun: Callable, argnums: int | Sequence[int], count: int) -> tuple[int, ...]:
    many = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if many else (argnums,)
    for a in nums:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"argnums must be an int or a tuple of ints, got {a!r}")
        if not -count <= a < count:
            raise ValueError(
                f"argnums {a} is out of range for `{_name(fun)}` called with {count} positional "
                f"argument{'s' if count != 1 else ''}"
            )
    return tuple(a % count for a in nums)


def _variables(fun: Callable, args: tuple, argnums: tuple[int, ...], fresh: bool) -> _Variables:
    call_args = list(args)
    nodes: list[Node] = []
    structures = []
    mapping: dict[Node, Node] = {}
    tag = None if fresh else fresh_tag()
    for i in argnums:
        leaves, treedef = tree.flatten(args[i])
        # Strings are static parts of a tree, not leaves; with respect to one there is no derivative.
        for leaf in [*leaves, *tree.static_values(treedef)]:
            if not isinstance(leaf, (TracedArray, Node)) and not _is_float(leaf):
                kind = leaf.dtype if isinstance(leaf, np.ndarray) else type(leaf).__name__
                raise TypeError(
                    f"cannot differentiate `{_name(fun)}` with respect to argument {i}: it holds "
                    f"a value of type {kind}. Only float arguments are differentiable; pass a "
                    f"float (e.g. 3.0) or leave argument {i} out of `argnums`."
                )
        new_leaves = []
        for position, leaf in enumerate(leaves):
            actual = as_array_node(leaf)
            if fresh:
                variable = actual
            else:
                # One name per leaf: equal names and tags would be one (hash-consed) symbol.
                variable = symbol(f"_d{i}_{position}", tag, actual.shape)
                mapping[variable] = actual
            nodes.append(variable)
            new_leaves.append(TracedArray(variable))
        call_args[i] = tree.unflatten(treedef, new_leaves)
        structures.append((treedef, len(leaves)))
    return _Variables(tuple(call_args), nodes, structures, mapping)


def _substituted(outputs: Any, mapping: dict[Node, Node]) -> Any:
    """A traced pytree with the variables' stand-in symbols replaced by the actual arguments."""
    if not mapping:
        return outputs
    leaves, treedef = tree.flatten(outputs)
    traced = [leaf.node for leaf in leaves if isinstance(leaf, TracedArray)]
    new = iter(substitute(traced, mapping))
    return tree.unflatten(treedef, [TracedArray(next(new)) if isinstance(leaf, TracedArray) else leaf
                                    for leaf in leaves])


def _scalar_output(fun: Callable, value: Any) -> Node:
    if isinstance(value, TracedArray):
        if value.shape != ():
            raise TypeError(
                f"Gradient only defined for scalar-output functions. Output of `{_name(fun)}` had "
                f"shape {value.shape}. Reduce it to a scalar (e.g. `.sum()` or `.mean()`), or use "
                "`symgrad.jacobian` for the derivative of every output."
            )
        return value.node
    if isinstance(value, Node):
        return value
    if isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, bool):
        return as_node(float(value))
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf":
        return as_node(float(value))
    shape = getattr(value, "shape", None)
    described = f"shape {shape}" if shape is not None else f"type {type(value).__name__}"
    raise TypeError(
        f"Gradient only defined for scalar-output functions. Output of `{_name(fun)}` had "
        f"{described}. Return a scalar (e.g. `.sum()`), or use `symgrad.jacobian`."
        + (" With `has_aux=True`, return a pair `(value, aux)`." if isinstance(value, tuple) else "")
    )


def _split_aux(fun: Callable, out: Any, has_aux: bool) -> tuple[Any, Any]:
    if not has_aux:
        return out, None
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(
            f"`{_name(fun)}` was transformed with `has_aux=True`, so it must return a pair "
            f"`(value, aux)`; it returned {type(out).__name__}"
        )
    return out[0], out[1]


# ----- Gradients -----


def _gradient_transformation(fun: Callable, argnums, has_aux: bool, with_value: bool) -> Transformation:
    def transformation(args: tuple, fresh: bool) -> Any:
        nums = _normalize_argnums(fun, argnums, len(args))
        variables = _variables(fun, args, nums, fresh)
        value, aux = _split_aux(fun, fun(*variables.call_args), has_aux)
        value_node = _scalar_output(fun, value)
        grads = variables.unflatten(vjp_nodes([value_node], [1.0], variables.nodes))
        grad = tuple(grads) if isinstance(argnums, (tuple, list)) else grads[0]
        value = TracedArray(value_node)
        aux = tree.unflatten(*reversed(traced_leaves(aux)))
        value, aux, grad = _substituted((value, aux, grad), variables.mapping)
        if with_value:
            return ((value, aux), grad) if has_aux else (value, grad)
        return (grad, aux) if has_aux else grad

    return transformation


def _gradient_names(argnums, has_aux: bool, with_value: bool):
    def names(params: list[str]) -> Any:
        many = isinstance(argnums, (tuple, list))
        nums = tuple(argnums) if many else (argnums,)
        grads = tuple(f"d{params[a]}" if -len(params) <= a < len(params) else f"d{a}" for a in nums)
        grad = grads if many else grads[0]
        if with_value:
            return (("value", "aux"), grad) if has_aux else ("value", grad)
        return (grad, "aux") if has_aux else grad

    return names


@_decorator
def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Transformed:
    """The gradient of a scalar-valued function, compiled.

    Args:
        fun: a function returning a scalar (a float or a 0-d array).
        argnums: which positional argument(s) to differentiate with respect to.
        has_aux: `fun` returns `(value, aux)`; `aux` is returned as it is.

    Returns:
        A callable with `fun`'s arguments returning the gradient, shaped like
        `args[argnums]` (a tuple of gradients when `argnums` is a tuple), or
        `(gradient, aux)` with `has_aux`.

    Raises:
        TypeError: the output is not a scalar, or an argument in `argnums`
            is not a float.

    >>> import symgrad as sg
    >>> sg.grad(lambda x: 2 * x**2)(10.0)
    40.0
    """
    return _recorded("grad", Transformed(fun, _gradient_transformation(fun, argnums, has_aux, False), "grad",
                                         _gradient_names(argnums, has_aux, False)),
                     fun, argnums=argnums, has_aux=has_aux)


@_decorator
def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Transformed:
    """Like `grad`, returning `(value, gradient)` (`((value, aux), gradient)` with `has_aux`).

    >>> import symgrad as sg
    >>> sg.value_and_grad(lambda x: x**3)(2.0)
    (8.0, 12.0)
    """
    transformed = Transformed(fun, _gradient_transformation(fun, argnums, has_aux, True), "value_and_grad",
                              _gradient_names(argnums, has_aux, True))
    return _recorded("value_and_grad", transformed, fun, argnums=argnums, has_aux=has_aux)


@_decorator
def jit(fun: Callable) -> Transformed:
    """`fun` itself, traced once per input signature and compiled to native code.

    >>> import symgrad as sg
    >>> sg.jit(lambda x, y: x * y + 1)(2.0, 3.0)
    7.0
    """
    return _recorded("jit", Transformed(fun, lambda args, fresh: fun(*args), "jit"), fun)


# ----- Jacobians, Hessians, JVPs and VJPs -----


def _jacobian_transformation(fun: Callable, argnums, mode: str) -> Transformation:
    def transformation(args: tuple, fresh: bool) -> Any:
        nums = _normalize_argnums(fun, argnums, len(args))
        variables = _variables(fun, args, nums, fresh)
        outs, out_treedef = traced_leaves(fun(*variables.call_args))
        blocks = jacobian_nodes([o.node for o in outs], variables.nodes, mode)
        parts = []
        for row in blocks:
            # This output's blocks, one per variable leaf, back into the arguments' structures.
            per_arg = variables.unflatten(row)
            parts.append(tuple(per_arg) if isinstance(argnums, (tuple, list)) else per_arg[0])
        return _substituted(tree.unflatten(out_treedef, parts), variables.mapping)

    return transformation


def _jacobian_names(argnums):
    def names(params: list[str]) -> Any:
        many = isinstance(argnums, (tuple, list))
        nums = tuple(argnums) if many else (argnums,)
        parts = tuple(f"J_{params[a]}" if -len(params) <= a < len(params) else f"J{a}" for a in nums)
        return parts if many else parts[0]

    return names


@_decorator
def jacobian(fun: Callable, argnums: int | Sequence[int] = 0) -> Transformed:
    """The Jacobian of `fun`, compiled: shape `out.shape + arg.shape`.

    Forward mode is used when the argument has fewer elements than the
    output, reverse mode otherwise (`jacfwd`/`jacrev` force one).

    >>> import numpy as np, symgrad as sg
    >>> sg.jacobian(lambda x: x**2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    transformed = Transformed(fun, _jacobian_transformation(fun, argnums, "auto"), "jacobian", _jacobian_names(argnums))
    return _recorded("jacobian", transformed, fun, argnums=argnums)


@_decorator
def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0) -> Transformed:
    """`jacobian` computed in forward mode (one JVP per input element)."""
    transformed = Transformed(fun, _jacobian_transformation(fun, argnums, "fwd"), "jacfwd", _jacobian_names(argnums))
    return _recorded("jacfwd", transformed, fun, argnums=argnums)


@_decorator
def jacrev(fun: Callable, argnums: int | Sequence[int] = 0) -> Transformed:
    """`jacobian` computed in reverse mode (one VJP per output element)."""
    transformed = Transformed(fun, _jacobian_transformation(fun, argnums, "rev"), "jacrev", _jacobian_names(argnums))
    return _recorded("jacrev", transformed, fun, argnums=argnums)


@_decorator
def hessian(fun: Callable, argnums: int | Sequence[int] = 0) -> Transformed:
    """The Hessian of a scalar-valued `fun`, compiled: shape `arg.shape + arg.shape`.

    Computed forward-over-reverse: the forward-mode Jacobian of the gradient.

    >>> import symgrad as sg
    >>> sg.hessian(lambda x: x**3)(2.0)
    12.0
    """
    inner = grad(fun, argnums)
    outer = _jacobian_transformation(inner, argnums, "fwd")
    return _recorded("hessian", Transformed(fun, outer, "hessian", _jacobian_names(argnums)), fun, argnums=argnums)


def _jvp_transformation(fun: Callable) -> Transformation:
    def transformation(args: tuple, fresh: bool) -> Any:
        count = len(args) // 2
        primals, tangents = args[:count], args[count:]
        variables = _variables(fun, primals, tuple(range(count)), fresh)
        outs, out_treedef = traced_leaves(fun(*variables.call_args))
        tangent_nodes = [t.node for t in traced_leaves(tangents)[0]]
        if [t.shape for t in tangent_nodes] != [v.shape for v in variables.nodes]:
            raise ValueError(
                f"`jvp` of `{_name(fun)}`: tangents must match primals in structure and shape, "
                f"got shapes {[t.shape for t in tangent_nodes]} for primals of shapes "
                f"{[v.shape for v in variables.nodes]}"
            )
        out_tangents = jvp_nodes([o.node for o in outs], variables.nodes, tangent_nodes)
        tangent_leaves = [TracedArray(t) for t in out_tangents]
        result = (tree.unflatten(out_treedef, outs), tree.unflatten(out_treedef, tangent_leaves))
        return _substituted(result, variables.mapping)

    return transformation


def _check_pairs(kind: str, primals: Any, tangents: Any) -> tuple[tuple, tuple]:
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(f"`{kind}` takes `primals` and `tangents` as tuples (one entry per argument)")
    if len(primals) != len(tangents):
        raise ValueError(f"`{kind}`: {len(primals)} primals but {len(tangents)} tangents")
    for i, (p, t) in enumerate(zip(primals, tangents)):
        if is_traced(p):
            continue
        p_leaves, t_leaves = tree.flatten(p)[0], tree.flatten(t)[0]
        if len(p_leaves) != len(t_leaves):
            raise ValueError(f"`{kind}`: primal {i} has {len(p_leaves)} arrays but its tangent has "
                             f"{len(t_leaves)}; give a tangent of the primal's structure")
        p_shapes, t_shapes = [np.shape(x) for x in p_leaves], [np.shape(x) for x in t_leaves]
        if p_shapes != t_shapes:
            shapes = (p_shapes[0], t_shapes[0]) if len(p_shapes) == 1 else (p_shapes, t_shapes)
            raise ValueError(f"`{kind}`: primal {i} has shape {shapes[0]} but its tangent has shape {shapes[1]}")
    return tuple(primals), tuple(tangents)


# One transformed callable per user function, living as long as that function.
_jvp_cache = FunctionCache()
_vjp_cache = FunctionCache()
_jit_cache = FunctionCache()


def _jvp_transformed(fun: Callable) -> Transformed:
    return _jvp_cache.get(fun, lambda f: Transformed(
        f, _jvp_transformation(f), "jvp", lambda params: ("out", "tangent"),
        parameters=lambda names: [*names, *(f"t_{n}" for n in names)]))


def jvp(fun: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """`(fun(*primals), J @ tangents)`: the Jacobian-vector product in forward mode.

    >>> import symgrad as sg
    >>> sg.jvp(lambda x: x**3, (2.0,), (1.0,))
    (8.0, 12.0)
    """
    primals, tangents = _check_pairs("jvp", primals, tangents)
    return _jvp_transformed(fun)(*primals, *tangents)


def _vjp_transformation(fun: Callable) -> Transformation:
    def transformation(args: tuple, fresh: bool) -> Any:
        primals, cotangent = args[:-1], args[-1]
        variables = _variables(fun, primals, tuple(range(len(primals))), fresh)
        outs, _ = traced_leaves(fun(*variables.call_args))
        ct_leaves = traced_leaves(cotangent)[0]
        shapes = [leaf.shape for leaf in outs]
        given = [leaf.shape for leaf in ct_leaves]
        if given != shapes:
            raise ValueError(
                f"`vjp` of `{_name(fun)}`: the cotangent must have the output's structure and shape "
                f"{shapes[0] if len(shapes) == 1 else shapes}, got "
                f"{given[0] if len(given) == 1 else given}"
            )
        grads = vjp_nodes([o.node for o in outs], [c.node for c in ct_leaves], variables.nodes)
        grads = variables.unflatten(grads)
        return _substituted(tuple(grads), variables.mapping)

    return transformation


def vjp(fun: Callable, *primals: Any) -> tuple[Any, Callable[[Any], tuple]]:
    """`(fun(*primals), vjp_fn)`; `vjp_fn(cotangent)` is `cotangent @ J`, one entry per primal.

    The cotangent plays the part of `grad_outputs` in `torch.autograd.grad`.
    `vjp_fn` is compiled (once per signature) and can be called many times.

    >>> import numpy as np, symgrad as sg
    >>> out, vjp_fn = sg.vjp(lambda x: x**2, np.array([1.0, 2.0]))
    >>> vjp_fn(np.array([1.0, 10.0]))
    (array([ 2., 40.]),)
    """
    if is_traced(primals):
        out = fun(*primals)
    else:
        out = _jit_cache.get(fun, lambda f: Transformed(f, lambda args, fresh: f(*args), "jit"))(*primals)

    def vjp_fn(cotangent: Any) -> tuple:
        # Looked up by `fun`, which this closure keeps alive: the cache holds it only weakly.
        transformed = _vjp_cache.get(fun, lambda f: Transformed(
            f, _vjp_transformation(f), "vjp", lambda params: tuple(f"ct_{n}" for n in params),
            parameters=lambda names: [*names, "cotangent"]))
        return transformed(*primals, cotangent)

    return out, vjp_fn
