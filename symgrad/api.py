"""The transformations users call: `grad`, `value_and_grad`, `jit`, `jacobian`, ...

Each returns a `Transformed` callable. A transformation is a function from
traced arguments to traced results (it differentiates by calling the
`symgrad.diff` passes); `Transformed` connects it to the other stages: on a
call with concrete arguments it traces once per input signature, compiles
with `symgrad.runtime`, and reuses the kernel; on a call with traced
arguments (inside another transformation) it returns traced results, which
is what makes `grad(grad(f))` work. No math lives here.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import tree
from .diff import jacobian as jacobian_nodes
from .diff import jvp as jvp_nodes
from .diff import vjp as vjp_nodes
from .function_cache import FunctionCache
from .ir import Graph, Node, substitute
from .primitives import as_node, symbol
from .trace import TracedArray, as_array_node, fresh_tag, inside_trace, is_traced, traced_leaves, tracing

# A transformation: (args, fresh) -> traced outputs. `fresh` says that the
# arguments are symbols made for this very trace, so the transformation may
# differentiate with respect to them directly instead of to new symbols.
Transformation = Callable[[tuple, bool], Any]


# ----- The compiled callable -----


@dataclass
class _Compiled:
    """The kernel for one input signature and how to map arguments and results.

    `graph` is what the kernel computes (the scalar graph of a small
    function, the array graph of a large one), `lowering` which of the two
    it is (`"scalar"` or `"loops"`).
    """

    graph: Graph
    kernel: Any
    float_leaves: list[int]
    out_treedef: Any
    out_is_node: list[bool]
    out_static: list[Any]
    lowering: str = "scalar"

    def run(self, leaves: list[Any]) -> list[Any]:
        return self.kernel(*[leaves[i] for i in self.float_leaves])


class Transformed:
    """A function transformed by symgrad and compiled per input signature.

    Call it like the original function. `formula(*example_args)` shows what
    it computes, `compile(*example_args)` gives the `Kernel` behind it.
    """

    def __init__(self, fun: Callable, transformation: Transformation, kind: str,
                 output_names: Callable[[list[str]], Any] | None = None,
                 parameters: Callable[[list[str]], list[str]] | None = None):
        if not callable(fun):
            raise TypeError(f"`symgrad.{kind}` expects a callable, got {type(fun).__name__}: {fun!r:.60}")
        self.fun = fun
        self.kind = kind
        self._transformation = transformation
        self._output_names = output_names
        self._parameters = parameters
        self._cache: dict[Any, _Compiled] = {}
        # (factory, args, kwargs) that made this callable, set by the public transformations.
        self._recipe: tuple | None = None
        self._lock = threading.Lock()
        # Native entry for calls with Python floats only (see Kernel.python_function).
        self._fast: Callable | None = None
        # Positional argument counts the signature accepts (checked once each).
        self._counts_bound: set[int] = set()
        self.__name__ = f"{kind}({_name(fun)})" if kind != "jit" else _name(fun)
        self.__qualname__ = self.__name__
        self.__doc__ = getattr(fun, "__doc__", None)
        self.__wrapped__ = fun
        try:
            self._signature = inspect.signature(fun)
        except (TypeError, ValueError):
            self._signature = None
        if parameters is not None:
            # The transformed function takes other arguments than `fun` (jvp, vjp).
            self._fun_names = self._names_from_signature()
            self._signature = None

    def __repr__(self) -> str:
        return f"<symgrad {self.__name__}>"

    def __reduce__(self):
        # Pickled as the call that made it when that pickles (a module-level function); unpickling
        # recompiles on first use. Otherwise (a lambda, a closure) as the graphs compiled so far:
        # a compiled derivative is a static graph and needs no Python function to run.
        from .serialize import freeze_signatures, pickles, thaw_transformed

        recipe = self._recipe
        if recipe is not None and pickles(recipe):
            factory, args, kwargs = recipe
            return (_remake, (factory, args, kwargs))
        if not self._cache:
            raise TypeError(
                f"`{self.__name__}` cannot be pickled: its function cannot be pickled by reference (define "
                "it at module level), and it has no compiled signature to save instead (call it once first)"
            )
        return (thaw_transformed, (self.__name__, self.kind, freeze_signatures(self._cache)))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        fast = self._fast
        if fast is not None and not kwargs:
            result = fast(*args)
            if result is not NotImplemented:
                return result
        args = self._bind(args, kwargs)
        # Inside another trace, `fun` may close over its traced values even when `args` are
        # concrete, so it runs symbolically there (as `vmap` does); the kernel could not see them.
        if is_traced(args) or inside_trace():
            return self._transformation(args, False)
        leaves, treedef = tree.flatten(args)
        compiled = self._compiled(args, leaves, treedef)
        if self._fast is None:
            # Made on the first call, not when built: `formula()` must not compile native code.
            self._fast = _native_entry(args, compiled)
        results = iter(compiled.run(leaves))
        out_leaves = [next(results) if is_node else static
                      for is_node, static in zip(compiled.out_is_node, compiled.out_static)]
        return tree.unflatten(compiled.out_treedef, out_leaves)

    def formula(self, *example_args: Any, **kwargs: Any):
        """The `Formula` of this function for the signature of `example_args`."""
        from .printing import Formula

        compiled = self._compiled_for(example_args, kwargs)
        return Formula(compiled.graph, compiled.lowering)

    def compile(self, *example_args: Any, **kwargs: Any):
        """The compiled `Kernel` for the signature of `example_args` (flat inputs and outputs)."""
        return self._compiled_for(example_args, kwargs).kernel

    def clear_cache(self) -> None:
        self._cache.clear()

    # -- internals --
    def _compiled_for(self, args: tuple, kwargs: dict) -> _Compiled:
        args = self._bind(args, kwargs)
        leaves, treedef = tree.flatten(args)
        return self._compiled(args, leaves, treedef)

    def _bind(self, args: tuple, kwargs: dict) -> tuple:
        if not kwargs and len(args) in self._counts_bound:
            return args
        if self._signature is None:
            if kwargs:
                raise TypeError(f"`{self.__name__}` takes positional arguments only")
            return args
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"`{_name(self.fun)}`: {e}") from None
        if bound.kwargs:
            raise TypeError(
                f"`{_name(self.fun)}`: keyword-only arguments ({', '.join(bound.kwargs)}) are not "
                "supported by symgrad transformations; make them positional or close over them"
            )
        if not kwargs:
            self._counts_bound.add(len(args))
        return bound.args

    def _compiled(self, args: tuple, leaves: list[Any], treedef: Any) -> _Compiled:
        key = (tree.structure_key(treedef), tuple(_leaf_key(self, i, x) for i, x in enumerate(leaves)))
        compiled = self._cache.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._cache.get(key)
                if compiled is None:
                    compiled = self._cache[key] = self._build(args)
        return compiled

    def _build(self, args: tuple) -> _Compiled:
        from .lowering import lower

        started = time.perf_counter()
        names = self._parameter_names(len(args))
        tag = fresh_tag()
        traced_args, inputs, input_names, input_shapes, float_leaves = [], [], [], [], []
        position = 0
        for name, arg in zip(names, args):
            leaves, treedef = tree.flatten(arg)
            paths = tree.leaf_paths(arg, name)
            traced_leaves = []
            for path, leaf in zip(paths, leaves):
                if _is_float(leaf):
                    shape = np.shape(leaf)
                    node = symbol(path, tag, shape)
                    traced_leaves.append(TracedArray(node))
                    inputs.append(node)
                    input_names.append(path)
                    input_shapes.append(shape)
                    float_leaves.append(position)
                else:
                    traced_leaves.append(leaf)
                position += 1
            traced_args.append(tree.unflatten(treedef, traced_leaves))
        with tracing(self.fun):
            outputs = self._transformation(tuple(traced_args), True)
        out_leaves, out_treedef = tree.flatten(outputs)
        roots = self._output_names(names) if self._output_names else "out"
        out_paths = _output_paths(outputs, roots)
        nodes, output_names, output_shapes, out_is_node, out_static = [], [], [], [], []
        for path, leaf in zip(out_paths, out_leaves):
            if isinstance(leaf, np.ndarray) and leaf.dtype.kind not in "biufO":
                out_is_node.append(False)
                out_static.append(leaf)
                continue
            node = as_array_node(leaf)
            nodes.append(node)
            output_names.append(path)
            output_shapes.append(node.shape)
            out_is_node.append(True)
            out_static.append(None)
        graph = Graph(tuple(inputs), tuple(nodes), tuple(input_names), tuple(input_shapes),
                      tuple(output_names), tuple(output_shapes))
        traced = time.perf_counter() - started
        lowered = lower(graph, self.__name__)
        lowered.kernel.trace_seconds = traced
        return _Compiled(lowered.graph, lowered.kernel, float_leaves, out_treedef, out_is_node, out_static,
                         lowered.lowering)

    def _parameter_names(self, count: int) -> list[str]:
        if self._parameters is not None:
            names = self._parameters(self._fun_names)
        else:
            names = self._names_from_signature(count)
        names.extend(f"arg{i}" for i in range(len(names), count))
        return names[:count]

    def _names_from_signature(self, count: int = 0) -> list[str]:
        names: list[str] = []
        if self._signature is not None:
            for p in self._signature.parameters.values():
                if p.kind == p.VAR_POSITIONAL:
                    names.extend(f"{p.name}[{i}]" for i in range(count - len(names)))
                elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                    names.append(p.name)
        return names


def _remake(factory: Callable, args: tuple, kwargs: dict) -> Any:
    return factory(*args, **kwargs)


def _recorded(factory_name: str, transformed: Transformed, *args: Any, **kwargs: Any) -> Transformed:
    """Remember how `transformed` was made, so that it can be pickled."""
    transformed._recipe = (globals()[factory_name], args, kwargs)
    return transformed


def _native_entry(args: tuple, compiled: _Compiled) -> Callable | None:
    """A call taking the native path for this signature, when it has one.

    That is when every argument is a Python float or a float64 array, and the
    result is one array or float, or a flat tuple of floats. It returns
    `NotImplemented` for other arguments (the general path then runs).
    """
    if len(compiled.float_leaves) != len(args) or not all(
        type(a) is float or (type(a) is np.ndarray and a.dtype == np.float64) for a in args
    ):
        return None
    shapes = compiled.graph.output_shapes
    treedef = compiled.out_treedef
    if not all(compiled.out_is_node):
        return None
    native = compiled.kernel.python_function()
    if native is None:
        return None
    if compiled.lowering == "loops":
        return _loop_entry(native, compiled.kernel.slot_template, shapes, treedef)
    if all(type(a) is float for a in args) and all(s == () for s in shapes):
        # The native entry returns a bare float for one output, so a 1-tuple stays on the general path.
        flat_tuple = treedef is not None and treedef[0] is tuple and len(treedef[1]) > 1 \
            and all(d is None for d in treedef[1])
        return native if treedef is None or flat_tuple else None
    if treedef is not None:
        return None
    shape = shapes[0]
    empty = np.empty

    def call(*args: Any) -> Any:
        out = empty(shape)
        if native(*args, out) is None:
            return out if shape else float(out)
        return NotImplemented

    return call


def _loop_entry(native: Callable, template: np.ndarray, shapes: tuple, treedef: Any) -> Callable | None:
    """A call through a loop kernel's native entry: fresh output arrays, filled in native code."""
    flat_tuple = treedef is not None and treedef[0] is tuple and all(d is None for d in treedef[1])
    if treedef is not None and not flat_tuple:
        return None
    empty = np.empty

    def call(*args: Any) -> Any:
        outs = [empty(shape) for shape in shapes]
        if native(*args, *outs, template) is not None:
            return NotImplemented
        results = [out if out.ndim else float(out) for out in outs]
        return results[0] if treedef is None else tuple(results)

    return call


def _name(fun: Callable) -> str:
    return getattr(fun, "__name__", None) or type(fun).__name__


def _is_float(leaf: Any) -> bool:
    if isinstance(leaf, (bool, np.bool_, int, np.integer)):
        return False
    if isinstance(leaf, np.ndarray):
        return leaf.dtype.kind == "f"
    return isinstance(leaf, (float, np.floating))


def _leaf_key(owner: Transformed, position: int, leaf: Any) -> Any:
    """The part of the cache key for one argument leaf (ints are baked in by value)."""
    if isinstance(leaf, (complex, np.complexfloating)) or (
        isinstance(leaf, np.ndarray) and leaf.dtype.kind not in "biuf"
    ):
        dtype = leaf.dtype if isinstance(leaf, np.ndarray) else type(leaf).__name__
        raise TypeError(
            f"`{_name(owner.fun)}`: argument leaf {position} has dtype {dtype}; symgrad compiles "
            "real float64 functions (pass floats or float arrays; ints are taken as constants)"
        )
    if _is_float(leaf):
        return ("f", np.shape(leaf))
    if isinstance(leaf, np.ndarray):
        return ("i", leaf.dtype.str, leaf.shape, leaf.tobytes())
    return ("i", type(leaf), leaf)


def _output_paths(outputs: Any, roots: Any) -> list[str]:
    """Names of the output leaves: the structure of `roots` names top-level parts."""
    if isinstance(roots, str):
        return tree.leaf_paths(outputs, roots)
    paths: list[str] = []
    for part, root in zip(outputs, roots):
        paths.extend(_output_paths(part, root))
    return paths


def _decorator(transform: Callable) -> Callable:
    """Let `transform` be used bare (`@grad`) or with keywords (`@grad(argnums=1)`)."""

    @functools.wraps(transform)
    def decorate(fun: Callable | None = None, *args: Any, **kwargs: Any):
        if fun is None:
            return lambda f: transform(f, *args, **kwargs)
        return transform(fun, *args, **kwargs)

    return decorate


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
