"""Sums over rows of data (`symgrad.reduction`) in LLVM: one loop per dataset for all its sums.

In one-point code the loop is a function of its own that takes
`VECTOR_WIDTH` rows at a time, split between threads for long data; in
batch code it is inline. The data is read in place through external
symbols (`data_symbol`), given their addresses when the code is linked,
never written into the code.
"""

from __future__ import annotations

from llvmlite import ir

from ..ir import Graph, Node, topological_order
from ..reduction import RowSum
from .llvm import (
    DOUBLE,
    DOUBLE_PTR,
    I8_PTR,
    I32,
    I64,
    PARALLEL_MIN_ROWS,
    ROW_THREADS,
    VECTOR_WIDTH,
    _declare,
    _Lowering,
    _splat,
    _stack_array,
    _vector_of,
)


def datasets(graph: Graph, order: list[Node] | None = None) -> list:
    """The datasets (`reduction.Dataset`) whose rows kernels of `graph` sum over, in a fixed order.

    Kernels read data in place through external symbols, column `j` of the
    `k`-th dataset through `data_symbol(k, j)`, never through an address
    written into the code; the runtime gives each symbol its address before
    linking. `order` is the graph's topological order, when known.
    """
    found: list = []
    numbered: set[int] = set()
    # Row expressions share most of their nodes (one per partial derivative): visit each node once.
    visited: set[Node] = set()
    pending = [order if order is not None else topological_order(graph.outputs)]
    while pending:
        nodes = pending.pop(0)
        visited.update(nodes)
        for node in nodes:
            how = node.op.llvm
            if not isinstance(how, RowSum):
                continue
            if id(how.dataset) not in numbered:
                numbered.add(id(how.dataset))
                found.append(how.dataset)
            if how.expression not in visited:
                pending.append(topological_order([how.expression], stop=visited))
                visited.update(pending[-1])
    return found


def data_symbol(dataset_number: int, column: int) -> str:
    return f"symgrad_data{dataset_number}_{column}"


def data_symbols(graph: Graph, order: list[Node] | None = None, found: list | None = None) -> dict[str, int]:
    """The symbols of the data kernels of `graph` read (numbered as in `found`, by default
    `datasets(graph, order)`), with their addresses in this process."""
    found = datasets(graph, order) if found is None else found
    return {data_symbol(k, j): data.ctypes.data
            for k, dataset in enumerate(found) for j, (data, _) in enumerate(dataset.columns)}


def lower_row_sums(self: _Lowering, dataset, order: list[Node]) -> None:
    """One loop over the rows of `dataset` for every row sum over it that can run now.

    In one-point code the loop is a function of its own that takes
    `VECTOR_WIDTH` rows at a time (lanes past the end add zero); long loops
    are split between `ROW_THREADS` threads. In batch code, where the
    operands already fill the lanes, the loop is inline and takes one row
    at a time, the same row in every lane.
    """
    sums, binding = [], {}
    for node in order:
        if node in self.values or not isinstance(node.op.llvm, RowSum) or node.op.llvm.dataset is not dataset:
            continue
        pairs = list(zip(node.op.llvm.variables, node.args))
        # A loop binds each variable once; a sum that binds one differently waits for another loop.
        if all(a in self.values and binding.get(v, a) is a for v, a in pairs):
            sums.append(node)
            binding.update(pairs)
    expressions = [node.op.llvm.expression for node in sums]
    if self.width == 1:
        totals = _row_sums_in_threads(self, dataset, expressions, binding)
    else:
        inner = _Lowering(self.module, self.builder, self.width)
        inner.values.update((v, self.values[a]) for v, a in binding.items())
        totals = _row_loop(inner, dataset, expressions, ir.Constant(I64, 0), ir.Constant(I64, dataset.n), 1)
    self.values.update(zip(sums, totals))

def _row_sums_in_threads(self: _Lowering, dataset, expressions: list[Node],
                     binding: dict[Node, Node]) -> list[ir.Value]:
    b = self.builder
    variables = list(binding)
    rows = _row_function(self.module, dataset, expressions, variables, f"{b.function.name}_rows")
    values = _stack_array(b, DOUBLE, len(variables), name="variables")
    for k, v in enumerate(variables):
        b.store(self.values[binding[v]], b.gep(values, [ir.Constant(I64, k)], inbounds=True))
    threads = ROW_THREADS if dataset.n >= PARALLEL_MIN_ROWS else 1
    bounds = [min(dataset.n, -(-dataset.n * t // threads // VECTOR_WIDTH) * VECTOR_WIDTH) for t in range(threads)]
    bounds.append(dataset.n)
    count = len(expressions)
    partial = _stack_array(b, DOUBLE, threads * count, name="partial_sums")
    part = [b.gep(partial, [ir.Constant(I64, t * count)], inbounds=True) for t in range(threads)]
    span = [(ir.Constant(I64, bounds[t]), ir.Constant(I64, bounds[t + 1])) for t in range(threads)]
    started = []
    if threads > 1:
        worker = _row_worker(self.module, rows)
        create = _declare(self.module, "pthread_create", I32, [I64.as_pointer(), I8_PTR, worker.type, I8_PTR])
        for t in range(1, threads):
            task = _stack_array(b, I64, 4, name="task")
            for k, value in enumerate([b.ptrtoint(values, I64), span[t][0], span[t][1], b.ptrtoint(part[t], I64)]):
                b.store(value, b.gep(task, [ir.Constant(I64, k)], inbounds=True))
            handle = _stack_array(b, I64, name="thread")
            code = b.call(create, [handle, ir.Constant(I8_PTR, None), worker, b.bitcast(task, I8_PTR)])
            started.append((t, handle, code))
    b.call(rows, [values, *span[0], part[0]])
    join = _declare(self.module, "pthread_join", I32, [I64, I8_PTR.as_pointer()])
    for t, handle, code in started:
        with b.if_else(b.icmp_signed("==", code, ir.Constant(I32, 0))) as (joined, failed):
            with joined:
                b.call(join, [b.load(handle), ir.Constant(I8_PTR.as_pointer(), None)])
            with failed:  # no thread to be had: this thread does that part too
                b.call(rows, [values, *span[t], part[t]])
    totals = []
    for j in range(count):
        total = b.load(b.gep(part[0], [ir.Constant(I64, j)], inbounds=True))
        for t in range(1, threads):
            total = b.fadd(total, b.load(b.gep(part[t], [ir.Constant(I64, j)], inbounds=True)))
        totals.append(total)
    return totals


def _row_function(module: ir.Module, dataset, expressions: list[Node], variables: list[Node],
                  name: str) -> ir.Function:
    """`void name(const double *variables, int64 start, int64 end, double *sums)`: the row sums of
    `expressions` over rows start..end-1, `VECTOR_WIDTH` rows at a time."""
    fn_type = ir.FunctionType(ir.VoidType(), [DOUBLE_PTR, I64, I64, DOUBLE_PTR])
    fn = ir.Function(module, fn_type, module.get_unique_name(name))
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    values, start, end, sums = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    inner = _Lowering(module, b, VECTOR_WIDTH)
    for k, v in enumerate(variables):
        inner.values[v] = _splat(b, b.load(b.gep(values, [ir.Constant(I64, k)], inbounds=True)), VECTOR_WIDTH)
    totals = _row_loop(inner, dataset, expressions, start, end, VECTOR_WIDTH)
    for j, total in enumerate(totals):
        b.store(total, b.gep(sums, [ir.Constant(I64, j)], inbounds=True))
    b.ret_void()
    return fn


def _row_worker(module: ir.Module, rows: ir.Function) -> ir.Function:
    """`void *name(void *task)`: a thread's entry, calling `rows` with the four words of `task`."""
    fn = ir.Function(module, ir.FunctionType(I8_PTR, [I8_PTR]), rows.name + "_worker")
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    task = b.bitcast(fn.args[0], I64.as_pointer())
    words = [b.load(b.gep(task, [ir.Constant(I64, k)], inbounds=True)) for k in range(4)]
    b.call(rows, [b.inttoptr(words[0], DOUBLE_PTR), words[1], words[2], b.inttoptr(words[3], DOUBLE_PTR)])
    b.ret(ir.Constant(I8_PTR, None))
    return fn



def _row_loop(inner: _Lowering, dataset, expressions: list[Node], start: ir.Value, end: ir.Value,
              rows_per_step: int) -> list[ir.Value]:
    """Emit a loop over rows start..end-1 accumulating `expressions`; the sums (scalars when
    `rows_per_step` > 1, else in `inner`'s type). `inner` holds the variables' values."""
    b = inner.builder
    before = b.block
    loop = b.append_basic_block("rows")
    after = b.append_basic_block("rows_done")
    b.cbranch(b.icmp_signed("<", start, end), loop, after)
    b.position_at_end(loop)
    i = b.phi(I64, name="row")
    i.add_incoming(start, before)
    accumulators = [b.phi(inner.type) for _ in expressions]
    for acc in accumulators:
        acc.add_incoming(inner._constant(0.0), before)
    if rows_per_step > 1:
        steps = ir.Constant(ir.VectorType(I64, rows_per_step), [ir.Constant(I64, k) for k in range(rows_per_step)])
        index = b.add(_splat(b, i, rows_per_step), steps)
        in_range = b.icmp_signed("<", index, _splat(b, end, rows_per_step))
        last = _splat(b, b.sub(end, ir.Constant(I64, 1)), rows_per_step)
        index = b.select(in_range, index, last)
        lanes = [b.extract_element(index, ir.Constant(I32, k)) for k in range(rows_per_step)]
    else:
        lanes = [i]
    row_values = {}
    number = inner.module.dataset_numbers[id(dataset)]
    for column, (data, symbols) in enumerate(dataset.columns):
        symbol = data_symbol(number, column)
        address = inner.module.globals.get(symbol) or ir.GlobalVariable(inner.module, ir.IntType(8), symbol)
        base = b.bitcast(address, DOUBLE_PTR)
        row_step, column_step = (s // 8 for s in data.strides)
        for j, symbol in enumerate(symbols):
            elements = [b.load(b.gep(base, [b.add(b.mul(lane, ir.Constant(I64, row_step)),
                                                  ir.Constant(I64, j * column_step))], inbounds=True))
                        for lane in lanes]
            row_values[symbol] = _vector_of(b, elements, inner.width)
    # Row symbols change every iteration: lower the expressions afresh for this body.
    body = _Lowering(inner.module, b, inner.width)
    body.values = {**inner.values, **row_values}
    terms = body.lower_all(expressions)
    if rows_per_step > 1:
        terms = [b.select(in_range, term, inner._constant(0.0)) for term in terms]
    totals = [b.fadd(acc, term) for acc, term in zip(accumulators, terms)]
    following = b.add(i, ir.Constant(I64, rows_per_step))
    body_end = b.block
    for acc, total in zip(accumulators, totals):
        acc.add_incoming(total, body_end)
    i.add_incoming(following, body_end)
    b.cbranch(b.icmp_signed("<", following, end), loop, after)
    b.position_at_end(after)
    results = []
    for total in totals:
        result = b.phi(inner.type)
        result.add_incoming(inner._constant(0.0), before)
        result.add_incoming(total, body_end)
        results.append(result)
    if rows_per_step == 1:
        return results
    reduce = _declare(inner.module, f"llvm.vector.reduce.fadd.v{rows_per_step}f64", DOUBLE, [DOUBLE, inner.type])
    return [b.call(reduce, [ir.Constant(DOUBLE, 0.0), r]) for r in results]
