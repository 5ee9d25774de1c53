"""The pieces of a loop plan: buffers, strided views of them, and the steps that read and write them.

A `View` maps an index of an array to an element of a buffer through an
offset and strides (zero for broadcast axes), with an optional window for
zero padding; `blas_layout`, `merged_stride` and `reshaped_strides` say
when a view can be read as a matrix, or reshaped, without a copy. Pure
data and arithmetic: `schedule` makes plans of these, `loops` emits them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir import Node


@dataclass(frozen=True)
class Buffer:
    """An array in memory: slot `slot` of the kernel's pointer table, C-contiguous of `shape`."""

    slot: int
    kind: str  # "input", "output", "const", "temp"
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class View:
    """Element `i` is `buffer[offset + sum(strides[d] * i[d])]`; with no buffer, every element is `value`."""

    buffer: Buffer | None
    offset: int
    strides: tuple[int, ...]
    value: float = 0.0
    # Zero padding: per axis, None or (lo, count, step): index i holds element k = (i - lo) / step of the
    # array below when that is a whole number in [0, count), else 0 (the strides apply to k).
    window: tuple[tuple[int, int, int] | None, ...] | None = None

    def aligned(self, shape: tuple[int, ...], space: tuple[int, ...]) -> View:
        """This view (of an array of `shape`) read at each point of `space`, broadcast as NumPy does."""
        lead = len(space) - len(shape)
        strides = [0] * lead + [s if n == m else 0 for s, n, m in zip(self.strides, shape, space[lead:])]
        window = None
        if self.window is not None:
            window = (None,) * lead + tuple(w if n == m else None
                                            for w, n, m in zip(self.window, shape, space[lead:]))
        return View(self.buffer, self.offset, tuple(strides), self.value, window)

    def permuted(self, perm) -> View:
        window = None if self.window is None else tuple(self.window[p] for p in perm)
        return View(self.buffer, self.offset, tuple(self.strides[p] for p in perm), self.value, window)


@dataclass(frozen=True)
class Table:
    """Positions from a constant table: at point `i` of the space, `table[sum(strides[d] * i[d])] * step`
    elements are added to the address (the gathered or scattered axis)."""

    buffer: Buffer
    strides: tuple[int, ...]
    step: int


@dataclass
class Loop:
    """A loop nest over `space`: `expression` at each point into `target` (stored, added or reduced)."""

    space: tuple[int, ...]
    expression: Node
    reads: dict[Node, View]
    target: View
    reduce: str | None = None  # "sum", "max" or "min" over `axes`; the target has the kept axes
    axes: tuple[int, ...] = ()
    accumulate: bool = False  # target += value (scatter-add)
    read_table: Table | None = None  # for the read of `expression` itself (gather)
    write_table: Table | None = None
    threads: int = 1  # the outermost axis is split between this many threads
    partials: tuple[View, ...] = ()  # a reduction over the outermost axis: threads 1.. reduce into these

    @property
    def work(self) -> int:
        return math.prod(self.space)


@dataclass
class Contract:
    """`out = x . y` as `batch` products `(m, k) @ (k, n)`; strides (batch, row, column) per operand."""

    node: Node
    x: View
    y: View
    out: View
    batch: int
    m: int
    n: int
    k: int
    x_strides: tuple[int, int, int]
    y_strides: tuple[int, int, int]
    out_strides: tuple[int, int, int]


@dataclass
class Scalar:
    """A scalar node computed in straight-line code; `target` is where it is stored, when it is read from memory."""

    node: Node
    reads: dict[Node, View]
    target: View | None = None


@dataclass
class Plan:
    steps: list
    inputs: list[Buffer]
    outputs: list[Buffer]
    constants: list[tuple[Buffer, np.ndarray]]
    temps: list[Buffer]

    @property
    def slots(self) -> int:
        return len(self.inputs) + len(self.outputs) + len(self.constants) + len(self.temps)


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def whole(buffer: Buffer) -> View:
    return View(buffer, 0, contiguous_strides(buffer.shape))


def blas_layout(rows: int, cols: int, row_stride: int, col_stride: int) -> tuple[int, int] | None:
    """How a BLAS reads a strided matrix: (transposed, leading dimension), or None if it can't.

    Row-major needs unit column stride and a row stride of at least `cols`;
    its transpose the other way round. Axes of length 1 take any stride.
    """
    if cols == 1 or col_stride == 1:
        if rows == 1 or row_stride >= max(cols, 1):
            return 0, max(row_stride if rows > 1 else cols, 1)
    if rows == 1 or row_stride == 1:
        if cols == 1 or col_stride >= max(rows, 1):
            return 1, max(col_stride if cols > 1 else rows, 1)
    return None


def merged_stride(strides: dict[str, int], size: dict[str, int], labels) -> int | None:
    """The stride of several axes taken as one (row-major), or None if they don't merge; 0 for none."""
    labels = [c for c in labels if size[c] != 1]
    if not labels:
        return 0
    for a, b in zip(labels, labels[1:]):
        if strides[a] != strides[b] * size[b]:
            return None
    return strides[labels[-1]]


def reshaped_strides(shape, strides, new_shape) -> tuple[int, ...] | None:
    """Strides for `new_shape` over the same elements in the same order, when no copy is needed.

    Axes are matched in runs of equal size products (as NumPy's reshape does
    without a copy): a run of old axes must be contiguous with each other,
    and the new axes of the run split it in C order.
    """
    if math.prod(shape) == 0:
        return contiguous_strides(tuple(new_shape))
    old = [(n, s) for n, s in zip(shape, strides) if n != 1]
    new = [n for n in new_shape if n != 1]
    result = [0] * len(new)
    oi = ni = 0
    while oi < len(old) and ni < len(new):
        oj, nj = oi + 1, ni + 1
        old_size, new_size = old[oi][0], new[ni]
        while old_size != new_size:
            if new_size < old_size:
                new_size *= new[nj]
                nj += 1
            else:
                old_size *= old[oj][0]
                oj += 1
        if any(old[k][1] != old[k + 1][0] * old[k + 1][1] for k in range(oi, oj - 1)):
            return None
        result[nj - 1] = old[oj - 1][1]
        for k in range(nj - 1, ni, -1):
            result[k - 1] = result[k] * new[k]
        oi, ni = oj, nj
    it = iter(result)
    return tuple(next(it) if n != 1 else 0 for n in new_shape)
