"""Memory access for the loop lowering: reading and writing strided views of buffers in LLVM IR.

A `View` (see `steps`) is read at an index of a loop's iteration space; the
last index is the first of `width` consecutive points along the innermost
axis, which become one vector: a vector load when the view is contiguous
there, a splat when it is broadcast, a masked load at the edges of a padded
window, lane by lane otherwise. Index tables (gathers, scatters) add an
offset read from a constant buffer. Writes mirror reads, and may combine
with the value already there (reductions, scatter-adds).
"""

from __future__ import annotations

from llvmlite import ir

from .llvm import DOUBLE, I32, I64, _declare_masked, _splat, _vector_of
from .steps import Loop, Table, View


class Slots:
    """The pointer table of a function, with the base pointers it uses loaded once, at its start."""

    def __init__(self, builder: ir.IRBuilder, table: ir.Value, slots):
        self.loaded = {slot: builder.load(builder.gep(table, [ir.Constant(I64, slot)], inbounds=True))
                       for slot in sorted(set(slots))}

    def base_pointer(self, builder: ir.IRBuilder, slot: int) -> ir.Value:
        return self.loaded[slot]


def loop_slots(loop: Loop) -> list[int]:
    views = [*loop.reads.values(), loop.target]
    tables = [t for t in (loop.read_table, loop.write_table) if t is not None]
    return [v.buffer.slot for v in views if v.buffer is not None] + [t.buffer.slot for t in tables]


def base_pointer(builder: ir.IRBuilder, slots: Slots, view: View) -> ir.Value:
    return slots.base_pointer(builder, view.buffer.slot)


def offset_of(builder: ir.IRBuilder, offset: int, strides, index: list[ir.Value]) -> ir.Value:
    total = ir.Constant(I64, offset)
    for stride, i in zip(strides, index):
        if stride:
            total = builder.add(total, builder.mul(i, ir.Constant(I64, stride)))
    return total


def table_position(builder, slots: Slots, table: Table, index: list[ir.Value]) -> ir.Value:
    base = slots.base_pointer(builder, table.buffer.slot)
    entry = builder.load(builder.gep(base, [offset_of(builder, 0, table.strides, index)], inbounds=True))
    return builder.mul(builder.fptosi(entry, I64), ir.Constant(I64, table.step))


def lane_index(builder, index: list[ir.Value], lane: int) -> list[ir.Value]:
    if not lane:
        return index
    return [*index[:-1], builder.add(index[-1], ir.Constant(I64, lane))]


def read(builder, slots, view: View, index: list[ir.Value], width: int, table: Table | None = None) -> ir.Value:
    """The value(s) of a view at `index` (the last index is the first of `width` consecutive points)."""
    if view.buffer is None:
        constant = ir.Constant(DOUBLE, view.value)
        return constant if width == 1 else ir.Constant(ir.VectorType(DOUBLE, width), [constant] * width)
    if view.window is not None and any(w is not None for w in view.window):
        return read_window(builder, slots, view, index, width)
    base = base_pointer(builder, slots, view)

    def at(lane: int) -> ir.Value:
        point = lane_index(builder, index, lane)
        linear = offset_of(builder, view.offset, view.strides, point)
        if table is not None:
            linear = builder.add(linear, table_position(builder, slots, table, point))
        return builder.load(builder.gep(base, [linear], inbounds=True))

    if width == 1:
        return at(0)
    last = view.strides[-1] if view.strides else 0
    if table is None and last == 0:
        return _splat(builder, at(0), width)
    if table is None and last == 1:
        pointer = builder.gep(base, [offset_of(builder, view.offset, view.strides, index)], inbounds=True)
        vector = ir.VectorType(DOUBLE, width)
        return builder.load(builder.bitcast(pointer, vector.as_pointer()), align=8)
    return _vector_of(builder, [at(lane) for lane in range(width)], width)


def window_index(builder, window, i: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(inside, k) for index `i` on a padded axis: whether it holds an element, and which (0 if not)."""
    if window is None:
        return ir.Constant(ir.IntType(1), 1), i
    lo, count, step = window
    shifted = builder.sub(i, ir.Constant(I64, lo))
    k = builder.sdiv(shifted, ir.Constant(I64, step)) if step > 1 else shifted
    inside = builder.and_(builder.icmp_signed(">=", shifted, ir.Constant(I64, 0)),
                          builder.icmp_signed("<", k, ir.Constant(I64, count)))
    if step > 1:
        on_step = builder.icmp_signed("==", builder.srem(shifted, ir.Constant(I64, step)), ir.Constant(I64, 0))
        inside = builder.and_(inside, on_step)
    return inside, builder.select(inside, k, ir.Constant(I64, 0))


def read_window(builder, slots, view: View, index: list[ir.Value], width: int) -> ir.Value:
    """A padded view: the element below where the index holds one, else 0 (never a read outside it)."""
    base = base_pointer(builder, slots, view)
    zero = ir.Constant(DOUBLE, 0.0)

    def at(point: list[ir.Value]) -> ir.Value:
        inside, ks = ir.Constant(ir.IntType(1), 1), []
        for w, i in zip(view.window, point):
            flag, k = window_index(builder, w, i)
            inside = builder.and_(inside, flag)
            ks.append(k)
        value = builder.load(builder.gep(base, [offset_of(builder, view.offset, view.strides, ks)], inbounds=True))
        return builder.select(inside, value, zero)

    if width == 1:
        return at(index)
    last = view.window[-1]
    if last is None or (last[2] == 1 and view.strides[-1] == 1):
        # The outer axes decide for all lanes; along a padded innermost axis of unit step, a masked load.
        inside, ks = ir.Constant(ir.IntType(1), 1), []
        for w, i in zip(view.window[:-1], index[:-1]):
            flag, k = window_index(builder, w, i)
            inside = builder.and_(inside, flag)
            ks.append(k)
        vector = ir.VectorType(DOUBLE, width)
        zeros = ir.Constant(vector, [zero] * width)
        if last is None:
            pointer = builder.gep(base, [offset_of(builder, view.offset, view.strides, [*ks, index[-1]])])
            loaded = builder.load(builder.bitcast(pointer, vector.as_pointer()), align=8) \
                if view.strides[-1] == 1 else _vector_of(builder, [builder.load(builder.gep(
                    base, [offset_of(builder, view.offset, view.strides, [*ks, builder.add(index[-1], ir.Constant(
                        I64, lane))])])) for lane in range(width)], width)
            return builder.select(inside, loaded, zeros)
        lo, count, _ = last
        lanes = ir.Constant(ir.VectorType(I64, width), [ir.Constant(I64, lane) for lane in range(width)])
        shifted = builder.add(_splat(builder, builder.sub(index[-1], ir.Constant(I64, lo)), width), lanes)
        mask = builder.and_(builder.icmp_signed(">=", shifted, ir.Constant(ir.VectorType(I64, width), [
            ir.Constant(I64, 0)] * width)), builder.icmp_signed("<", shifted, ir.Constant(
                ir.VectorType(I64, width), [ir.Constant(I64, count)] * width)))
        mask = builder.and_(mask, _splat(builder, inside, width))
        start = builder.sub(index[-1], ir.Constant(I64, lo))
        pointer = builder.gep(base, [offset_of(builder, view.offset, view.strides, [*ks, start])])
        masked_load = _declare_masked(builder.module, "load", width)
        return builder.call(masked_load, [builder.bitcast(pointer, vector.as_pointer()), ir.Constant(I32, 8), mask,
                                          zeros])
    return _vector_of(builder, [at(lane_index(builder, index, lane)) for lane in range(width)], width)


def write(builder, slots, view: View, index, value, width: int, table: Table | None = None,
           combine=None) -> None:
    """Store `value` at `index` of a view, or `combine(old, value)` when given."""
    base = base_pointer(builder, slots, view)
    last = view.strides[-1] if view.strides else 0
    if width > 1 and table is None and last == 1:
        pointer = builder.gep(base, [offset_of(builder, view.offset, view.strides, index)], inbounds=True)
        pointer = builder.bitcast(pointer, ir.VectorType(DOUBLE, width).as_pointer())
        if combine is not None:
            value = combine(builder.load(pointer, align=8), value)
        builder.store(value, pointer, align=8)
        return
    for lane in range(width):
        point = lane_index(builder, index, lane)
        linear = offset_of(builder, view.offset, view.strides, point)
        if table is not None:
            linear = builder.add(linear, table_position(builder, slots, table, point))
        pointer = builder.gep(base, [linear], inbounds=True)
        element = value if width == 1 else builder.extract_element(value, ir.Constant(I32, lane))
        if combine is not None:
            element = combine(builder.load(pointer), element)
        builder.store(element, pointer)
