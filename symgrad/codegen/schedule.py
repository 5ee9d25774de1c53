"""Planning the loop lowering of an array graph: buffers, views and fused loops (no LLVM here).

The plan is a list of steps in topological order:
- `Scalar`: a scalar node (shape `()`), computed in straight-line code by the kernel;
- `Loop`: one loop nest over an iteration space, computing a fused expression
  of elementwise nodes at each point and storing it into a (strided) target,
  adding it into the target (scatter-add), or reducing it over some axes;
- `Contract`: a `dot_general` as (batched) matrix products.

Every node that is not fused into its user gets a buffer: inputs, outputs
and constants are the caller's arrays, the rest are temporaries in one
workspace. Layout operations (transpose, broadcast, slice, reshape of a
contiguous layout) are never computed: a reader sees a strided view of the
buffer below them. Pad, concatenate, gather and scatter-add are loops that
copy through views (gathers and scatters with a table of positions).

Fusion: an elementwise node is computed inside the loop of its users when
they are all computed in one loop: elementwise nodes of its shape, or one
reduction (input fusion); every other node gets a buffer, so no work is
ever repeated.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..errors import UnsupportedPrimitiveError
from ..ir import Graph, Node, topological_order
from ..primitives import LEAVES, const, const_p, symbol, symbol_p
from ..primitives.reduce import contraction_axes
from .steps import (
    Buffer,
    Contract,
    Loop,
    Plan,
    Scalar,
    Table,
    View,
    blas_layout,
    contiguous_strides,
    merged_stride,
    reshaped_strides,
    whole,
)

_VIEWS = {"reshape", "transpose", "broadcast_in_dim", "slice"}
# A loop is split between threads from this much work (points times operations per point).
PARALLEL_MIN_WORK = 200_000
THREADS = max(1, min(os.cpu_count() or 1, 8))
_REDUCTIONS = {"reduce_sum": "sum", "reduce_max": "max", "reduce_min": "min"}
_LAPACK = {"cholesky", "triangular_solve", "solve", "slogdet", "eigh", "svd", "eig"}


def is_elementwise(node: Node) -> bool:
    return bool(node.args) and node.op.partials is not None and not node.op.structural


class _Planner:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.order = topological_order(graph.outputs)
        self.users: dict[Node, set[Node]] = {n: set() for n in self.order}
        for node in self.order:
            for a in node.args:
                self.users[a].add(node)
        self.slots = 0
        self.views: dict[Node, View] = {}
        self.inputs = [self._new("input", n.shape) for n in graph.inputs]
        self.outputs = [self._new("output", n.shape) for n in graph.outputs]
        # The output buffer a node is computed into (the first, when a node is returned twice).
        self.output_of: dict[Node, Buffer] = {}
        for node, buffer in zip(graph.outputs, self.outputs):
            self.output_of.setdefault(node, buffer)
        for node, buffer in zip(graph.inputs, self.inputs):
            self.views[node] = whole(buffer)
        self.constants: list[tuple[Buffer, np.ndarray]] = []
        self.temps: list[Buffer] = []
        self.steps: list = []
        self.in_registers: set[Node] = set()
        self.loop_of = self._loops_of()

    def _new(self, kind: str, shape: tuple[int, ...]) -> Buffer:
        buffer = Buffer(self.slots, kind, shape)
        self.slots += 1
        return buffer

    def _target(self, node: Node) -> View:
        """Where a step computing `node` writes: its output buffer, or a new temporary."""
        buffer = self.output_of.get(node)
        if buffer is None:
            buffer = self._new("temp", node.shape)
            self.temps.append(buffer)
        view = whole(buffer)
        self.views[node] = view
        return view

    # -- views --
    def view(self, node: Node) -> View | None:
        """The strided view a reader sees for `node`, or None if `node` is not in memory."""
        found = self.views.get(node)
        if found is not None:
            return found
        if node.op is const_p:
            return View(None, 0, (0,) * node.ndim, float(node.param))
        if node.op.name not in _VIEWS and node.op.name != "pad":
            return None
        x = node.args[0]
        inner = self.view(x)
        if inner is None or inner.window is not None and node.op.name == "pad":
            return None
        if inner.window is not None:  # a view of a padded array (a gradient of slices): copied out first
            inner = self._plain_view(x)
        name = node.op.name
        if name == "pad":
            if inner.buffer is None or x.size == 0:
                return None
            lo, _, interior = node.param
            view = View(inner.buffer, inner.offset, inner.strides, 0.0,
                        tuple((a, n, k + 1) for a, n, k in zip(lo, x.shape, interior)))
        elif inner.buffer is None:  # a constant, repeated
            view = View(None, 0, (0,) * node.ndim, inner.value)
        elif name == "transpose":
            view = inner.permuted(node.param)
        elif name == "broadcast_in_dim":
            shape, dims = node.param
            strides = [0] * len(shape)
            for j, d in enumerate(dims):
                strides[d] = inner.strides[j] if x.shape[j] == shape[d] else 0
            view = View(inner.buffer, inner.offset, tuple(strides))
        elif name == "slice":
            starts, _, steps = node.param
            offset = inner.offset + sum(a * s for a, s in zip(starts, inner.strides))
            view = View(inner.buffer, offset, tuple(s * c for s, c in zip(inner.strides, steps)))
        else:
            strides = reshaped_strides(x.shape, inner.strides, node.shape)
            if strides is None:
                return None
            view = View(inner.buffer, inner.offset, strides)
        self.views[node] = view
        return view

    def _plain_view(self, node: Node) -> View:
        """The view of `node` without a window: a padded array is copied out first (for gathers and BLAS)."""
        view = self._memory_view(node)
        if view.window is None:
            return view
        buffer = self._new("temp", node.shape)
        self.temps.append(buffer)
        copy = whole(buffer)
        self.steps.append(_copy(node, view, copy))
        self.views[node] = copy
        return copy

    def _memory_view(self, node: Node) -> View:
        """The view of `node`, copying it into a temporary first if it is a view that strides can't express."""
        view = self.view(node)
        if view is None:
            if node.op.name != "reshape":
                raise AssertionError(f"{node!r} is read before it is computed")
            x = node.args[0]
            copy = self._target(x) if self.view(x) is None else None
            if copy is None:  # x is a view: copy it contiguously, then reshape that
                target = self._new("temp", x.shape)
                self.temps.append(target)
                self.steps.append(self._copy_loop(x, whole(target)))
                copy = whole(target)
            view = View(copy.buffer, 0, reshaped_strides(x.shape, copy.strides, node.shape))
            self.views[node] = view
        return view

    # -- fusion --
    def _loops_of(self) -> dict[Node, Node]:
        """For each fused node, the node whose loop computes it: the root of its elementwise group, or
        the reduction it feeds. A node is fused when all its users are computed in one same loop (an
        elementwise node of its shape in that loop, or that reduction); users in different loops,
        or of another kind, need it in memory."""
        loop_of: dict[Node, Node] = {}
        for node in reversed(self.order):
            if node in self.output_of or not is_elementwise(node) or node.shape == ():
                continue
            loops = set()
            for user in self.users[node]:
                if is_elementwise(user) and user.shape == node.shape:
                    loops.add(loop_of.get(user, user))
                elif user.op.name in _REDUCTIONS:
                    loops.add(user)
                else:
                    loops = set()
                    break
            if len(loops) == 1:
                loop_of[node] = loops.pop()
        return loop_of

    def fused(self, node: Node) -> bool:
        """Whether `node` is computed inside another node's loop instead of getting a buffer."""
        return node in self.loop_of

    # -- the plan --
    def plan(self) -> Plan:
        for node in self.order:
            if node in self.views and self.views[node].buffer in self.inputs or node.op is const_p:
                continue
            if node.op is symbol_p:
                raise UnsupportedPrimitiveError(
                    f"symbol `{node.param[0]}` is used but is not an input of the compiled function")
            if node.op.name in LEAVES:
                buffer = self._new("const", node.shape)
                self.constants.append((buffer, np.ascontiguousarray(node.op.impl(node), dtype=np.float64)))
                self.views[node] = whole(buffer)
            elif self.fused(node) or (node.op.name in _VIEWS and node not in self.output_of):
                continue
            elif node.op.name == "pad" and node not in self.output_of and self.view(node) is not None:
                continue  # read through a window by its users
            else:
                self._step(node)
        # Outputs that no step computed into their buffer (inputs, constants, views, repeats) are copied.
        for node, buffer in zip(self.graph.outputs, self.outputs):
            if self.views.get(node) is None or self.views[node].buffer is not buffer:
                self.steps.append(self._copy_loop(node, whole(buffer)))
        return Plan(self.steps, self.inputs, self.outputs, self.constants, self.temps)

    def _step(self, node: Node) -> None:
        name = node.op.name
        if name in _REDUCTIONS:
            x = node.args[0]
            target = self._target(node)
            kind = _REDUCTIONS[name]
            loop = self._loop(node, x.shape, x, target, reduce=kind, axes=node.param)
            identity = {"sum": 0.0, "max": -math.inf, "min": math.inf}[kind]
            if node.param != (x.ndim - 1,):  # (a reduction of the innermost axis alone writes each result once)
                self.steps.append(_fill(target, node.shape, identity))
            if loop.threads > 1 and 0 in node.param:
                # Threads reduce parts of the outermost axis into partial results, added up after.
                partials = []
                for _ in range(loop.threads - 1):
                    buffer = self._new("temp", node.shape)
                    self.temps.append(buffer)
                    partials.append(whole(buffer))
                    self.steps.append(_fill(partials[-1], node.shape, identity))
                loop.partials = tuple(partials)
                self.steps.append(loop)
                self.steps.append(_combine(node, kind, [target, *partials], target))
            else:
                self.steps.append(loop)
        elif name == "dot_general":
            self.steps.append(self._contract(node))
        elif name in _VIEWS:  # an output view: copied out of the buffer below it
            source = self._memory_view(node)
            self.steps.append(_copy(node, source, self._target(node)))
        elif node.shape == ():
            self._scalar(node)
        elif name == "pad":
            lo, _, interior = node.param
            target = self._target(node)
            self.steps.append(_fill(target, node.shape, 0.0))
            offset = sum(a * s for a, s in zip(lo, target.strides))
            strides = tuple(s * (k + 1) for s, k in zip(target.strides, interior))
            self.steps.append(self._copy_loop(node.args[0], View(target.buffer, offset, strides)))
        elif name == "concatenate":
            target = self._target(node)
            start = 0
            for x in node.args:
                offset = start * target.strides[node.param]
                self.steps.append(self._copy_loop(x, View(target.buffer, offset, target.strides)))
                start += x.shape[node.param]
        elif name == "gather":
            self._gather(node)
        elif name == "scatter_add":
            self._scatter_add(node)
        elif name == "pack":
            self.steps.append(Scalar(node, self._reads(node, node, ()), self._target(node)))
        elif is_elementwise(node):
            self.steps.append(self._loop(node, node.shape, node, self._target(node)))
        elif name in _LAPACK:  # linear algebra: copies, a LAPACK call, copies (`codegen.lapack`)
            from . import lapack

            lapack.plan(self, node)
        else:
            raise UnsupportedPrimitiveError(f"the loop lowering has no rule for `{name}`")

    def _scalar(self, node: Node) -> None:
        reads = self._reads(node, node, ())
        needs_memory = node in self.output_of or any(
            u.shape != () or u.op.name in _REDUCTIONS or u.op.name == "dot_general" or not is_elementwise(u)
            and u.op.name != "pack" for u in self.users[node])
        target = self._target(node) if needs_memory else None
        if target is None:
            self.in_registers.add(node)
        self.steps.append(Scalar(node, reads, target))

    # -- loops --
    def _reads(self, loop: Node, expression: Node, space: tuple[int, ...]) -> dict[Node, View]:
        """The views the loop of `loop` reads to compute `expression`: the leaves of its fused nodes (or
        `expression` itself, when the loop does not compute it)."""
        if expression is not loop and self.loop_of.get(expression) is not loop:
            return {expression: self._memory_view(expression).aligned(expression.shape, space)}
        reads: dict[Node, View] = {}
        stack, seen = [expression], {expression}
        while stack:
            node = stack.pop()
            for a in node.args:
                if a in seen or a.op is const_p or a in self.in_registers:
                    continue
                seen.add(a)
                if self.loop_of.get(a) is loop:
                    stack.append(a)
                else:
                    reads[a] = self._memory_view(a).aligned(a.shape, space) if space else self._memory_view(a)
        return reads

    def _loop(self, node: Node, space, expression: Node, target: View, **kw) -> Loop:
        """The loop of `node` (an elementwise node, or a reduction of `expression`)."""
        loop = Loop(tuple(space), expression, self._reads(node, expression, tuple(space)), target, **kw)
        loop.threads = _threads(loop, sum(1 for _ in topological_order([expression], stop=loop.reads)))
        return loop

    def _copy_loop(self, node: Node, target: View) -> Loop:
        return _copy(node, self._memory_view(node), target)

    def _gather(self, node: Node) -> None:
        # out[pre, p, post] = x[pre, table[p], post]
        indices, axis = node.param
        x = node.args[0]
        table = self._table(indices.array)
        k = indices.array.ndim
        xv = self._plain_view(x)
        strides = xv.strides[:axis] + (0,) * k + xv.strides[axis + 1:]
        table_strides = (0,) * axis + contiguous_strides(indices.array.shape) + (0,) * (x.ndim - axis - 1)
        target = self._target(node)
        self.steps.append(Loop(node.shape, node, {node: View(xv.buffer, xv.offset, strides, xv.value)}, target,
                               read_table=Table(table, table_strides, xv.strides[axis])))

    def _scatter_add(self, node: Node) -> None:
        # out[pre, table[p], post] += x[pre, p, post]
        indices, axis, _ = node.param
        x = node.args[0]
        table = self._table(indices.array)
        k = indices.array.ndim
        target = self._target(node)
        self.steps.append(_fill(target, node.shape, 0.0))
        strides = target.strides[:axis] + (0,) * k + target.strides[axis + 1:]
        table_strides = (0,) * axis + contiguous_strides(indices.array.shape) + (0,) * (x.ndim - axis - k)
        self.steps.append(Loop(x.shape, x, {x: self._plain_view(x)}, View(target.buffer, 0, strides),
                               accumulate=True, write_table=Table(table, table_strides, target.strides[axis])))

    def _table(self, positions: np.ndarray) -> Buffer:
        buffer = self._new("const", positions.shape)
        self.constants.append((buffer, np.ascontiguousarray(positions, dtype=np.float64)))
        return buffer

    # -- contractions --
    def _contract(self, node: Node) -> Contract:
        x, y = node.args
        xl, yl, ol = node.param
        axes = contraction_axes(node)
        batch, rows, cols, inner, size, n = axes.batch, axes.rows, axes.columns, axes.contracted, axes.size, axes.count
        xv, x_strides = self._matrix(x, xl, batch, rows, inner)
        yv, y_strides = self._matrix(y, yl, batch, inner, cols)
        target = self._target(node)
        out = dict(zip(ol, target.strides))
        out_strides = tuple(merged_stride(out, size, labels) for labels in (batch, rows, cols))
        if None not in out_strides and blas_layout(n(rows), n(cols), out_strides[1], out_strides[2]) is not None:
            return Contract(node, xv, yv, target, n(batch), n(rows), n(cols), n(inner), x_strides, y_strides,
                            out_strides)  # type: ignore[arg-type]
        # The output's axes interleave: multiply into (batch, rows, columns) order, then copy.
        order = [*batch, *rows, *cols]
        buffer = self._new("temp", tuple(size[c] for c in order))
        self.temps.append(buffer)
        product = whole(buffer)
        strides = dict(zip(order, product.strides))
        self.steps.append(Contract(node, xv, yv, product, n(batch), n(rows), n(cols), n(inner), x_strides,
                                   y_strides, tuple(merged_stride(strides, size, g) for g in (batch, rows, cols))))
        return Loop(node.shape, node, {node: product.permuted([order.index(c) for c in ol])}, target)

    def _matrix(self, x: Node, labels: str, batch, first, second) -> tuple[View, tuple[int, int, int]]:
        """`x` as strided matrices (batch, first, second); copied into that order when its strides don't merge
        into a layout a matrix product reads (one of the two matrix strides must be 1)."""
        view = self._plain_view(x)
        size = dict(zip(labels, x.shape))
        if view.buffer is not None:
            strides = dict(zip(labels, view.strides))
            merged = tuple(merged_stride(strides, size, group) for group in (batch, first, second))
            rows, cols = (math.prod(size[c] for c in group) for group in (first, second))
            if None not in merged and blas_layout(rows, cols, merged[1], merged[2]) is not None:
                return view, merged  # type: ignore[return-value]
        order = [*batch, *first, *second]
        shape = tuple(size[c] for c in order)
        buffer = self._new("temp", shape)
        self.temps.append(buffer)
        perm = [labels.index(c) for c in order]
        copy = whole(buffer)
        if view.buffer is None:
            self.steps.append(_fill(copy, shape, view.value))
        else:
            self.steps.append(Loop(shape, x, {x: view.permuted(perm)}, copy))
        strides = dict(zip(order, copy.strides))
        return copy, tuple(merged_stride(strides, size, group) for group in (batch, first, second))  # type: ignore


def _threads(loop: Loop, operations: int) -> int:
    """How many threads a loop's outermost axis is split between: one, unless it is long work."""
    outer = loop.space[0] if loop.space else 1
    if THREADS == 1 or outer < 2 or loop.accumulate or loop.work * (1 + operations) < PARALLEL_MIN_WORK:
        return 1
    return min(THREADS, outer)


def _combine(node: Node, kind: str, views: list[View], target: View) -> Loop:
    """A loop setting `target` to the sum (or max, min) of the arrays `views` of `node`'s shape."""
    from ..primitives import elementwise as E

    parts = [symbol(f"_partial{k}", -1, node.shape) for k in range(len(views))]
    combine = {"sum": E.add, "max": E.maximum, "min": E.minimum}[kind]
    expression = parts[0]
    for part in parts[1:]:
        expression = combine(expression, part)
    return Loop(node.shape, expression, dict(zip(parts, views)), target)


def _copy(node: Node, source: View, target: View) -> Loop:
    if source.buffer is None:
        return _fill(target, node.shape, source.value)
    return Loop(node.shape, node, {node: source}, target)


def _fill(target: View, space: tuple[int, ...], value: float) -> Loop:
    return Loop(tuple(space), const(value), {}, target)


def plan(graph: Graph) -> Plan:
    """The loop plan of an array graph (see the module docstring)."""
    return _Planner(graph).plan()
