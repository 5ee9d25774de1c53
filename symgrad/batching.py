"""`vmap`: a function mapped over a batch axis, compiled as one native loop.

The function is traced once for a single batch element; its kernel's batch
entry then runs every element in native code (split across cores for long
batches), reading the arguments in place through their strides. Inside
another transformation (with traced arguments) the map is batched
symbolically: the function's graph gets a leading batch axis
(`symgrad.vectorize`), one copy of the program whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import tree
from .primitives import symbol, transpose
from .serialize import pickles
from .trace import TracedArray, as_array_node, fresh_tag, inside_trace, is_traced, traced_leaves
from .transformed import Transformed, _decorator, _name
from .vectorize import batched_output, vectorize

Axes = int | None | Sequence[int | None]


class Batched:
    """The callable `vmap` returns."""

    def __init__(self, fun: Callable, in_axes: Axes, out_axes: int):
        if not callable(fun):
            raise TypeError(f"`symgrad.vmap` expects a callable, got {type(fun).__name__}")
        if not isinstance(out_axes, (int, np.integer)):
            raise TypeError(f"`vmap` supports an int `out_axes`, got {out_axes!r}")
        self.fun = fun
        self.in_axes = in_axes
        self.out_axes = int(out_axes)
        self._row = Transformed(fun, lambda args, fresh: fun(*args), "vmap")
        self._compiled_by_shape: dict[tuple, Any] = {}
        self._array_program = None
        self.__name__ = f"vmap({_name(fun)})"
        self.__doc__ = getattr(fun, "__doc__", None)
        self.__wrapped__ = fun

    def __repr__(self) -> str:
        return f"<symgrad {self.__name__}>"

    def __reduce__(self):
        # As the call that made it, when its function pickles; otherwise as the row kernels compiled
        # so far (see `Transformed.__reduce__`), which then run without the function.
        if pickles(self.fun):
            return (Batched, (self.fun, self.in_axes, self.out_axes))
        return (_thawed_batched, (self.__name__, self.in_axes, self.out_axes, self._row))

    def __call__(self, *args: Any) -> Any:
        axes = self._axes(args)
        # Inside a trace `fun` may close over traced values, so it cannot run natively.
        if is_traced(args) or inside_trace():
            mapped = [leaf for a, ax in zip(args, axes) for leaf, x in zip(tree.flatten(a)[0], ax) if x is not None]
            if self.out_axes == 0 and mapped and not is_traced(mapped):
                return self._row_map(args, axes)
            return self._vectorized(args, axes)
        n = self._batch_size(args, axes)
        # Flat float arguments (the common case) find their kernel by shapes alone.
        key = tuple((a.shape, a.dtype.str) if type(a) is np.ndarray else type(a) for a in args)
        compiled = self._compiled_by_shape.get(key) if all(
            type(a) is float or (type(a) is np.ndarray and a.dtype == np.float64) for a in args) else None
        if compiled is None:
            rows = tuple(_row_example(self, i, a, ax) for i, (a, ax) in enumerate(zip(args, axes)))
            row_leaves, row_treedef = tree.flatten(rows)
            compiled = self._row._compiled(rows, row_leaves, row_treedef)
            if len(compiled.float_leaves) == len(args) and len(row_leaves) == len(args):
                self._compiled_by_shape[key] = compiled
        leaves, batched_flags = [], []
        for arg, leaf_axes in zip(args, axes):
            for x, axis in zip(tree.flatten(arg)[0], leaf_axes):
                leaves.append(np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
                              if axis is not None and _is_array(x) else x)
                batched_flags.append(axis is not None)
        if compiled.lowering != "scalar":
            # Too large for a per-point kernel: the whole batch as one array program.
            if self._array_program is None:
                from .api import jit

                self._array_program = jit(lambda *a: self(*a))
            return self._array_program(*args)
        kernel_args = [leaves[i] for i in compiled.float_leaves]
        kernel_flags = [batched_flags[i] for i in compiled.float_leaves]
        results = iter(compiled.kernel.batch(kernel_args, kernel_flags, n))
        out_leaves = []
        for is_node, static in zip(compiled.out_is_node, compiled.out_static):
            out_leaves.append(np.moveaxis(next(results), 0, self.out_axes) if is_node else static)
        return tree.unflatten(compiled.out_treedef, out_leaves)

    def formula(self, *args: Any):
        """The `Formula` of one batch element, for batched example arguments."""
        axes = self._axes(args)
        rows = tuple(_row_example(self, i, a, ax) for i, (a, ax) in enumerate(zip(args, axes)))
        return self._row.formula(*rows)

    def _axes(self, args: tuple) -> list[list[int | None]]:
        """The mapped axis of every leaf of every argument (`in_axes` is a pytree prefix of `args`)."""
        count = len(args)
        if isinstance(self.in_axes, (list, tuple)):
            if len(self.in_axes) != count:
                raise ValueError(
                    f"`vmap` of `{_name(self.fun)}`: in_axes has {len(self.in_axes)} entries "
                    f"but the function was called with {count} arguments"
                )
            specs = list(self.in_axes)
        else:
            specs = [self.in_axes] * count
        return [self._leaf_axes(i, arg, spec) for i, (arg, spec) in enumerate(zip(args, specs))]

    def _leaf_axes(self, position: int, arg: Any, spec: Any) -> list[int | None]:
        if spec is None or (isinstance(spec, (int, np.integer)) and not isinstance(spec, bool)):
            return [None if spec is None else int(spec)] * len(tree.flatten(arg)[0])
        if isinstance(spec, dict) and isinstance(arg, dict) and set(spec) == set(arg):
            return [a for key in arg for a in self._leaf_axes(position, arg[key], spec[key])]
        if isinstance(spec, (list, tuple)) and isinstance(arg, (list, tuple)) and len(spec) == len(arg):
            return [a for sub_arg, sub_spec in zip(arg, spec) for a in self._leaf_axes(position, sub_arg, sub_spec)]
        raise ValueError(
            f"`vmap` of `{_name(self.fun)}`: the in_axes entry {spec!r:.80} of argument {position} does not "
            f"fit the argument ({type(arg).__name__}); give an int or None, or a tuple, list or dict "
            "with the argument's structure (a pytree prefix, as in JAX)"
        )

    def _batch_size(self, args: tuple, axes: list[list[int | None]]) -> int:
        sizes = {}
        for i, (arg, leaf_axes) in enumerate(zip(args, axes)):
            for leaf, axis in zip(tree.flatten(arg)[0], leaf_axes):
                if axis is None:
                    continue
                shape = np.shape(leaf)
                if not -len(shape) <= axis < len(shape):
                    raise ValueError(
                        f"`vmap` of `{_name(self.fun)}`: argument {i} has shape {shape}, "
                        f"which has no axis {axis} to map over"
                    )
                sizes.setdefault(i, shape[axis])
                if shape[axis] != sizes[i]:
                    raise ValueError(f"`vmap` of `{_name(self.fun)}`: the leaves of argument {i} have "
                                     f"sizes {sizes[i]} and {shape[axis]} along their mapped axes")
        if not sizes:
            raise ValueError(f"`vmap` of `{_name(self.fun)}`: in_axes maps no argument (all are None)")
        if len(set(sizes.values())) > 1:
            detail = ", ".join(f"argument {i} has size {s}" for i, s in sizes.items())
            raise ValueError(f"`vmap` got inconsistent sizes for the mapped axis: {detail}")
        return next(iter(sizes.values()))

    def _row_map(self, args: tuple, axes: list[list[int | None]]) -> Any:
        """Map over concrete data inside a trace: a `RowMap`, which reduces to native loops."""
        from .reduction import Dataset, RowMap, row_symbol

        n = self._batch_size(args, axes)
        names = self._row._parameter_names(len(args))
        tag = fresh_tag()
        columns, row_args, rows = [], [], set()
        for name, arg, leaf_axes in zip(names, args, axes):
            if all(axis is None for axis in leaf_axes):
                row_args.append(arg)
                continue
            leaves, treedef = tree.flatten(arg)
            paths = tree.leaf_paths(arg, f"{name}_i")
            row_leaves = []
            for path, leaf, axis in zip(paths, leaves, leaf_axes):
                if axis is None:
                    row_leaves.append(leaf)
                    continue
                data = np.moveaxis(np.asarray(leaf, dtype=np.float64), axis, 0)
                node, elements = row_symbol(path, data.shape[1:], tag)
                columns.append((np.ascontiguousarray(data.reshape(n, -1)), elements))
                rows.add(node)
                row_leaves.append(TracedArray(node))
            row_args.append(tree.unflatten(treedef, row_leaves))
        out = self.fun(*row_args)
        if not tree.is_leaf(out):
            return self._vectorized(args, axes)
        row = out if isinstance(out, TracedArray) else TracedArray(as_array_node(out))
        return RowMap(Dataset(columns, n, frozenset(rows)), row, lambda: self._vectorized(args, axes))

    def _vectorized(self, args: tuple, axes: list[list[int | None]]) -> Any:
        """The map as array code: `fun` traced for one element, its graph given a batch axis."""
        n = self._batch_size(args, axes)
        tag = fresh_tag()
        batched: dict = {}
        element_args = []
        for i, (arg, leaf_axes) in enumerate(zip(args, axes)):
            if all(axis is None for axis in leaf_axes):
                element_args.append(arg)
                continue
            leaves, treedef = tree.flatten(arg)
            stand_ins = []
            for j, (leaf, axis) in enumerate(zip(leaves, leaf_axes)):
                if axis is None:
                    stand_ins.append(leaf)
                    continue
                node = as_array_node(leaf)
                axis %= node.ndim
                moved = transpose(node, (axis, *(a for a in range(node.ndim) if a != axis)))
                stand_in = symbol(f"_vmap{i}_{j}", tag, moved.shape[1:])
                batched[stand_in] = moved
                stand_ins.append(TracedArray(stand_in))
            element_args.append(tree.unflatten(treedef, stand_ins))
        out_leaves, treedef = traced_leaves(self.fun(*element_args))
        results = []
        for (node, is_batched) in vectorize([leaf.node for leaf in out_leaves], batched):
            node = batched_output(node, is_batched, n)
            out_axis = self.out_axes % node.ndim
            order = [a for a in range(1, node.ndim)]
            order.insert(out_axis, 0)
            results.append(TracedArray(transpose(node, order)))
        return tree.unflatten(treedef, results)


def _thawed_batched(name: str, in_axes: Axes, out_axes: int, row: Transformed) -> Batched:
    batched = Batched(row.fun, in_axes, out_axes)
    batched._row = row
    batched.__name__ = name
    return batched


def _is_array(x: Any) -> bool:
    return np.ndim(x) > 0


def _row_example(owner: Batched, position: int, arg: Any, leaf_axes: list[int | None]) -> Any:
    """A stand-in for one batch element of `arg` (only its shapes and static values matter)."""
    if all(axis is None for axis in leaf_axes):
        return arg
    leaves, treedef = tree.flatten(arg)
    rows = []
    for leaf, axis in zip(leaves, leaf_axes):
        if axis is None:
            rows.append(leaf)
            continue
        array = np.asarray(leaf)
        if array.dtype.kind != "f":
            raise TypeError(
                f"`vmap` of `{_name(owner.fun)}`: argument {position} is mapped but holds "
                f"{array.dtype} values; only float arrays can be mapped (pass ints unmapped, "
                "with in_axes=None for that argument)"
            )
        rows.append(np.zeros(np.delete(array.shape, axis % array.ndim)))
    return tree.unflatten(treedef, rows)


@_decorator
def vmap(fun: Callable, in_axes: Axes = 0, out_axes: int = 0) -> Batched:
    """`fun` mapped over an axis of its arguments, compiled as one native loop.

    Args:
        fun: the function of one batch element.
        in_axes: the mapped axis of each argument (None: the argument is
            shared by all elements); one int for all arguments, or a tuple
            with one entry per argument, each an int, None, or a pytree
            prefix of that argument (`{"w": None, "x": 0}`), as in JAX.
        out_axes: where the batch axis goes in each output.

    Returns:
        A callable taking batched arguments; a batch of length 0 gives
        empty results.

    >>> import numpy as np, symgrad as sg
    >>> sg.vmap(sg.grad(lambda x: x**3))(np.array([1.0, 2.0, 3.0]))
    array([ 3., 12., 27.])
    """
    return Batched(fun, in_axes, out_axes)
