"""The compiled callable: `Transformed`, a function transformed by symgrad and compiled per input signature.

On a call with concrete arguments it traces its transformation once per
input signature (shapes, dtypes, the values of int arguments), lowers and
compiles the graph (`symgrad.lowering`), and calls the kernel; later calls
with the same signature reuse it, through a native CPython entry when the
arguments allow. On a call with traced arguments (inside another
transformation) it runs the transformation symbolically, which is what
makes `grad(grad(f))` work. The transformations themselves are in `api`.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import tree
from .ir import Graph
from .primitives import symbol
from .trace import TracedArray, as_array_node, fresh_tag, inside_trace, is_traced, tracing

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

    kernel: Any
    float_leaves: list[int]
    out_treedef: Any
    out_is_node: list[bool]
    out_static: list[Any]
    lowering: str = "scalar"

    @property
    def graph(self) -> Graph:
        return self.kernel.graph

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
        return _Compiled(lowered.kernel, float_leaves, out_treedef, out_is_node, out_static,
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
    shapes = compiled.kernel.output_shapes
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


def _remake(factory: Callable, args: tuple, kwargs: dict) -> Any:
    return factory(*args, **kwargs)
