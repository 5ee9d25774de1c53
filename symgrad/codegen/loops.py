"""Lower a loop plan (`symgrad.codegen.schedule`) to an LLVM module.

One function per graph, `void NAME(double **slots)`: `slots` holds a pointer
per buffer of the plan (inputs, outputs, constants, temporaries). It runs
the steps in order:
- scalar nodes as straight-line code (values kept in registers, stored when
  a loop reads them);
- each loop as a call of its own function `NAME_vloopK(slots, start, end)`,
  over the outermost axis from `start` to `end`, so that a long loop can be
  split between threads (`NAME_parallel`);
- contractions as calls of `symgrad_gemm` (row-major, BLAS semantics).

Inside a loop the innermost axis is the SIMD axis: `VECTOR_WIDTH` points at
a time (contiguous reads are vector loads, broadcast ones splats, others
lane by lane), then a scalar tail. Elementwise expressions are lowered by
the same code as the per-point kernels (`codegen.llvm._Lowering`), so every
primitive's lowering is declared once. Reductions over the innermost axis
accumulate in registers; over outer axes, into the target in memory.
"""

from __future__ import annotations

from dataclasses import replace

from llvmlite import ir

from ..ir import Node
from .llvm import (
    DOUBLE,
    DOUBLE_PTR,
    I8_PTR,
    I32,
    I64,
    VECTOR_WIDTH,
    _declare,
    _Lowering,
)
from .memory import Slots, base_pointer, loop_slots, read, write
from .steps import Contract, Loop, Plan, Scalar, View, blas_layout

SLOTS = DOUBLE_PTR.as_pointer()
STEP_TYPE = ir.FunctionType(ir.VoidType(), [SLOTS, I64, I64])
_IDENTITY = {"sum": 0.0, "max": float("-inf"), "min": float("inf")}
_COMBINE = {"max": "llvm.maximum", "min": "llvm.minimum"}


def lower_loops(plan: Plan, name: str, python_entry: bool = False, datasets: list = ()) -> ir.Module:
    """The module of the kernel `name` (and, with `python_entry`, of its METH_FASTCALL entry `name_py`).
    `datasets` numbers the data that sums over rows read (see `rows.data_symbols`)."""
    module = ir.Module(name=name)
    module.dataset_numbers = {id(dataset): k for k, dataset in enumerate(datasets)}
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [SLOTS]), name)
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    table = fn.args[0]
    slots = Slots(builder, table, range(plan.slots))
    registers = _Lowering(module, builder, 1)
    parallel = None
    for k, step in enumerate(plan.steps):
        if isinstance(step, Scalar):
            _scalar(registers, slots, step)
        elif isinstance(step, Contract):
            _contract(module, builder, slots, step)
        elif not isinstance(step, Loop):  # a LAPACK call (`codegen.lapack`): a function of its own
            from .lapack import emit

            builder.call(emit(module, f"{name}_lapack{k}", step), [table])
        else:
            loop = _loop_function(module, step, f"{name}_vloop{k}")
            outer = step.space[0] if step.space else 1
            if step.threads == 1:
                builder.call(loop, [table, ir.Constant(I64, 0), ir.Constant(I64, outer)])
                continue
            # One function per part: the same, or (a reduction over the outermost axis) one per partial target.
            parts = [loop] * step.threads if not step.partials else [loop, *(
                _loop_function(module, replace(step, target=partial), f"{name}_vloop{k}_{t}")
                for t, partial in enumerate(step.partials, 1))]
            parallel = parallel or _parallel_function(module, f"{name}_parallel")
            functions = builder.alloca(STEP_TYPE.as_pointer(), size=ir.Constant(I64, len(parts)))
            for t, part in enumerate(parts):
                builder.store(part, builder.gep(functions, [ir.Constant(I64, t)], inbounds=True))
            builder.call(parallel, [functions, ir.Constant(I64, len(parts)), table, ir.Constant(I64, outer)])
    builder.ret_void()
    if python_entry:
        lower_python_entry(module, plan, fn, name + "_py")
    return module


# ----- scalar steps -----


def _scalar(registers: _Lowering, slots: ir.Value, step: Scalar) -> None:
    builder = registers.builder
    node = step.node
    for arg, view in step.reads.items():
        if arg not in registers.values and arg.shape == ():
            registers.values[arg] = read(builder, slots, view, [], 1)
    if node.op.name == "gather":
        indices, _ = node.param
        value = read(builder, slots, step.reads[node.args[0]], [ir.Constant(I64, int(indices.array))], 1)
    elif node.op.name == "pack":
        for k, arg in enumerate(node.args):
            value = registers.lower_all([arg])[0]
            offset = ir.Constant(I64, step.target.offset + k)
            builder.store(value, builder.gep(base_pointer(builder, slots, step.target), [offset], inbounds=True))
        return
    else:
        value = registers.lower_all([node])[0]
    registers.values[node] = value
    if step.target is not None:
        target = builder.gep(base_pointer(builder, slots, step.target), [ir.Constant(I64, step.target.offset)],
                             inbounds=True)
        builder.store(value, target)


# ----- loops -----


def _loop_function(module: ir.Module, loop: Loop, name: str) -> ir.Function:
    fn = ir.Function(module, STEP_TYPE, name)
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    table, start, end = fn.args
    table.add_attribute("noalias")
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    _Nest(module, builder, Slots(builder, table, loop_slots(loop)), loop).emit(start, end)
    builder.ret_void()
    return fn


class _Nest:
    """The loop nest of one `Loop` step."""

    def __init__(self, module, builder, slots, loop: Loop):
        self.module, self.builder, self.slots, self.loop = module, builder, slots, loop
        space = loop.space
        kept = [d for d in range(len(space)) if d not in loop.axes]
        # The target of a reduction has the kept axes: its stride along a reduced axis is 0.
        if loop.reduce:
            strides = [0] * len(space)
            for d, s in zip(kept, loop.target.strides):
                strides[d] = s
            self.target = View(loop.target.buffer, loop.target.offset, tuple(strides))
        else:
            self.target = loop.target

    def emit(self, start: ir.Value, end: ir.Value) -> None:
        space = self.loop.space
        if not space:
            self._store([], self._point([], 1), 1)
            return
        self._nest(0, [], start, end)

    def _nest(self, depth: int, index: list[ir.Value], start=None, end=None) -> None:
        space = self.loop.space
        lo = start if start is not None else ir.Constant(I64, 0)
        hi = end if end is not None else ir.Constant(I64, space[depth])
        if depth == len(space) - 1:
            self._innermost(index, lo, hi)
            return
        _for(self.builder, lo, hi, 1, lambda i: self._nest(depth + 1, [*index, i]))

    def _innermost(self, index, lo, hi) -> None:
        b = self.builder
        loop = self.loop
        width = VECTOR_WIDTH if loop.space[-1] >= VECTOR_WIDTH else 1
        # [lo, middle) in blocks of `width` points, [middle, hi) one point at a time.
        count = b.sub(hi, lo)
        middle = b.sub(hi, b.srem(count, ir.Constant(I64, width))) if width > 1 else lo
        if loop.reduce is not None and len(loop.space) - 1 in loop.axes:
            self._reduce_row(index, lo, middle, hi, width)
            return
        if width > 1:
            _for(b, lo, middle, width, lambda j: self._store([*index, j], self._point([*index, j], width), width))
        _for(b, middle, hi, 1, lambda j: self._store([*index, j], self._point([*index, j], 1), 1))

    def _reduce_row(self, index, lo, middle, hi, width: int) -> None:
        """A reduction along the innermost axis: accumulate in registers, then combine into the target."""
        b = self.builder
        kind = self.loop.reduce
        identity = _IDENTITY[kind]
        total = ir.Constant(DOUBLE, identity)
        if width > 1:
            start = ir.Constant(ir.VectorType(DOUBLE, width), [ir.Constant(DOUBLE, identity)] * width)
            acc = _for(b, lo, middle, width,
                       lambda j, acc: self._combine(acc, self._point([*index, j], width), width), start)
            for lane in range(width):
                total = self._combine(total, b.extract_element(acc, ir.Constant(I32, lane)), 1)
        total = _for(b, middle, hi, 1, lambda j, acc: self._combine(acc, self._point([*index, j], 1), 1), total)
        # Reduced over the innermost axis alone, each result is written once (no fill before).
        alone = self.loop.axes == (len(self.loop.space) - 1,)
        write(b, self.slots, self.target, [*index, ir.Constant(I64, 0)], total, 1,
               combine=None if alone else lambda old, new: self._combine(old, new, 1))

    def _combine(self, old, new, width):
        kind = self.loop.reduce
        if kind == "sum":
            return self.builder.fadd(old, new)
        suffix = "f64" if width == 1 else f"v{width}f64"
        kind_type = DOUBLE if width == 1 else ir.VectorType(DOUBLE, width)
        intrinsic = _declare(self.module, f"{_COMBINE[kind]}.{suffix}", kind_type, [kind_type, kind_type])
        return self.builder.call(intrinsic, [old, new])

    def _point(self, index: list[ir.Value], width: int) -> ir.Value:
        """The loop's expression at `index` (`width` consecutive points along the innermost axis)."""
        lowering = _Lowering(self.module, self.builder, width)
        loop = self.loop
        for node, view in loop.reads.items():
            table = loop.read_table if node is loop.expression else None
            lowering.values[node] = read(self.builder, self.slots, view, index, width, table)
        return lowering.lower_all([loop.expression])[0]

    def _store(self, index, value, width) -> None:
        loop = self.loop
        if loop.reduce:
            write(self.builder, self.slots, self.target, index, value, width,
                   combine=lambda old, new: self._combine(old, new, width))
        elif loop.accumulate:
            write(self.builder, self.slots, self.target, index, value, width, loop.write_table,
                   combine=self.builder.fadd)
        else:
            write(self.builder, self.slots, self.target, index, value, width)


def _for(builder: ir.IRBuilder, lo: ir.Value, hi: ir.Value, step: int, body, carried: ir.Value | None = None):
    """`for (i = lo; i < hi; i += step) body(i)`; with `carried`, `body(i, acc)` returns the next acc,
    and the final acc is returned."""
    before = builder.block
    loop = builder.append_basic_block("loop")
    after = builder.append_basic_block("after")
    builder.cbranch(builder.icmp_signed("<", lo, hi), loop, after)
    builder.position_at_end(loop)
    i = builder.phi(I64)
    i.add_incoming(lo, before)
    acc = None
    if carried is not None:
        acc = builder.phi(carried.type)
        acc.add_incoming(carried, before)
        result = body(i, acc)
    else:
        body(i)
    following = builder.add(i, ir.Constant(I64, step))
    end = builder.block
    i.add_incoming(following, end)
    if acc is not None:
        acc.add_incoming(result, end)
    builder.cbranch(builder.icmp_signed("<", following, hi), loop, after)
    builder.position_at_end(after)
    if carried is None:
        return None
    final = builder.phi(carried.type)
    final.add_incoming(carried, before)
    final.add_incoming(result, end)
    return final


# ----- threads -----


def _parallel_function(module: ir.Module, name: str) -> ir.Function:
    """`void name(steps, count, slots, n)`: part t of [0, n) split in `count` runs `steps[t](slots, a, b)`,
    each part but the first on a thread of its own."""
    step_pointer = STEP_TYPE.as_pointer()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [step_pointer.as_pointer(), I64, SLOTS, I64]), name)
    fn.linkage = "internal"
    steps, count, slots, n = fn.args
    worker = _worker(module, name + "_worker")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    create = _declare(module, "pthread_create", I32, [I64.as_pointer(), I8_PTR, worker.type, I8_PTR])
    join = _declare(module, "pthread_join", I32, [I64, I8_PTR.as_pointer()])
    tasks = b.alloca(I64, size=b.mul(count, ir.Constant(I64, 4)))
    handles = b.alloca(I64, size=count)
    codes = b.alloca(I32, size=count)

    def bound(t):
        return b.sdiv(b.mul(n, t), count)

    def task_word(t, k):
        return b.gep(tasks, [b.add(b.mul(t, ir.Constant(I64, 4)), ir.Constant(I64, k))], inbounds=True)

    def start(t):
        step = b.load(b.gep(steps, [t], inbounds=True))
        words = [b.ptrtoint(step, I64), b.ptrtoint(slots, I64), bound(t), bound(b.add(t, ir.Constant(I64, 1)))]
        for k, word in enumerate(words):
            b.store(word, task_word(t, k))
        code = b.call(create, [b.gep(handles, [t], inbounds=True), ir.Constant(I8_PTR, None), worker,
                               b.bitcast(task_word(t, 0), I8_PTR)])
        b.store(code, b.gep(codes, [t], inbounds=True))

    _for(b, ir.Constant(I64, 1), count, 1, start)
    first = b.load(b.gep(steps, [ir.Constant(I64, 0)], inbounds=True))
    b.call(first, [slots, ir.Constant(I64, 0), bound(ir.Constant(I64, 1))])

    def finish(t):
        code = b.load(b.gep(codes, [t], inbounds=True))
        with b.if_else(b.icmp_signed("==", code, ir.Constant(I32, 0))) as (joined, failed):
            with joined:
                b.call(join, [b.load(b.gep(handles, [t], inbounds=True)), ir.Constant(I8_PTR.as_pointer(), None)])
            with failed:  # no thread to be had: this thread does that part too
                step = b.load(b.gep(steps, [t], inbounds=True))
                b.call(step, [slots, bound(t), bound(b.add(t, ir.Constant(I64, 1)))])

    _for(b, ir.Constant(I64, 1), count, 1, finish)
    b.ret_void()
    return fn


def _worker(module: ir.Module, name: str) -> ir.Function:
    fn = ir.Function(module, ir.FunctionType(I8_PTR, [I8_PTR]), name)
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    task = b.bitcast(fn.args[0], I64.as_pointer())
    words = [b.load(b.gep(task, [ir.Constant(I64, k)], inbounds=True)) for k in range(4)]
    step = b.inttoptr(words[0], STEP_TYPE.as_pointer())
    b.call(step, [b.inttoptr(words[1], SLOTS), words[2], words[3]])
    b.ret(ir.Constant(I8_PTR, None))
    return fn


# ----- contractions -----

GEMM = "symgrad_gemm"
GEMM_BATCHED = "symgrad_gemm_batched"
_GEMM_OPERANDS = [I64, I64, I64, I64, I64, DOUBLE, DOUBLE_PTR, I64, DOUBLE_PTR, I64, DOUBLE, DOUBLE_PTR, I64]


def _contract(module: ir.Module, builder: ir.IRBuilder, slots, step: Contract) -> None:
    """`step` as one call of `symgrad_gemm` (or its strided-batch form), BLAS conventions, row-major."""


    m, n, k = step.m, step.n, step.k
    ta, lda = blas_layout(m, k, *step.x_strides[1:])
    tb, ldb = blas_layout(k, n, *step.y_strides[1:])
    tc, ldc = blas_layout(m, n, *step.out_strides[1:])
    a, b, c = (builder.gep(base_pointer(builder, slots, v), [ir.Constant(I64, v.offset)], inbounds=True)
               for v in (step.x, step.y, step.out))
    if tc:  # the output is column-major: compute its transpose, op(B)^T op(A)^T
        args = [1 - tb, 1 - ta, n, m, k, 1.0, b, ldb, a, lda, 0.0, c, ldc]
        strides = [step.y_strides[0], step.x_strides[0], step.out_strides[0]]
    else:
        args = [ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc]
        strides = [step.x_strides[0], step.y_strides[0], step.out_strides[0]]
    values = [ir.Constant(t, v) if not isinstance(v, ir.Value) else v for t, v in zip(_GEMM_OPERANDS, args)]
    if step.batch == 1:
        builder.call(_declare(module, GEMM, ir.VoidType(), _GEMM_OPERANDS), values)
        return
    operands = [*_GEMM_OPERANDS, I64, I64, I64, I64]
    extra = [ir.Constant(I64, step.batch), *(ir.Constant(I64, s) for s in strides)]
    builder.call(_declare(module, GEMM_BATCHED, ir.VoidType(), operands), [*values, *extra])


__all__ = ["GEMM", "GEMM_BATCHED", "Node", "lower_loops"]


def lower_python_entry(module: ir.Module, plan: Plan, kernel: ir.Function, name: str) -> None:
    """`name(self, args, nargs)`, a METH_FASTCALL entry calling `kernel` without ctypes.

    Arguments: one per input (a Python float for a scalar, a C-contiguous
    float64 array of its shape otherwise), one array per output (to fill),
    and last the kernel's slot template (its constants' and temporaries'
    pointers, inputs and outputs left to fill). Returns None, or
    `NotImplemented` for anything it does not take.
    """
    from .entry import PythonObjects, fastcall_function, return_none
    from .llvm import _element, _stack_array

    fn, b, refuse = fastcall_function(module, name)
    _, args, nargs = fn.args
    objects = PythonObjects(module, b, refuse)
    count = len(plan.inputs) + len(plan.outputs) + 1
    objects.require(b.icmp_signed("==", nargs, ir.Constant(I64, count)))
    given = [b.load(_element(b, args, k)) for k in range(count)]
    template = b.bitcast(objects.array_data(given[-1], (plan.slots,), dtype="uint64"), SLOTS)
    table = _stack_array(b, DOUBLE_PTR, plan.slots, name="slots")
    for k in range(plan.slots):
        b.store(b.load(_element(b, template, k)), _element(b, table, k))
    as_double = _declare(module, "PyFloat_AsDouble", DOUBLE, [I8_PTR])
    for buffer, obj in zip(plan.inputs, given):
        if buffer.shape == ():
            objects.float_object(obj)
            value = _stack_array(b, DOUBLE, 1, name="scalar")
            b.store(b.call(as_double, [obj]), value)
            b.store(value, _element(b, table, buffer.slot))
        else:
            b.store(objects.array_data(obj, buffer.shape), _element(b, table, buffer.slot))
    for buffer, obj in zip(plan.outputs, given[len(plan.inputs):]):
        b.store(objects.array_data(obj, buffer.shape), _element(b, table, buffer.slot))
    b.call(kernel, [table])
    return_none(module, b)
