"""Matrix-vector products in LLVM IR: the shapes where a packed matrix product wastes its tile.

A product with one row or one column of C is one of two loops over a
row-major matrix `mat` (rows `ldm` apart), chosen by which way it is read:

    dots:  y[i] = alpha * sum_p mat[i, p] x[p] + beta y[i]    (rows of mat contiguous in p)
    axpys: y[j] = alpha * sum_p x[p] mat[p, j] + beta y[j]    (sum over rows of mat)

`dots` takes four rows at a time (then one), each with independent
`<W x double>` accumulators along p and a masked last step. `axpys` keeps
y in registers when it is at most `4 W` long (X.T @ r with few columns);
a longer y is accumulated in a buffer while the rows of mat stream through
four at a time (reading mat by blocks of columns instead jumps a row
length at every load: 2.3x slower at 1000 x 1000). Neither reads past the
matrix, and neither reads y when beta is 0.
"""

from __future__ import annotations

from llvmlite import ir

from ._ir import (
    DOUBLE,
    DOUBLE_PTR,
    I8_PTR,
    I32,
    I64,
    accumulate,
    at,
    const,
    counted_loop,
    declare,
    declare_masked,
    fma_name,
    function,
    smin,
    splat,
)
from .micro import store_scaled

VECTORS_PER_BLOCK = 4
DOTS_ARGUMENTS = [("rows", I64), ("k", I64), ("mat", DOUBLE_PTR), ("ldm", I64), ("x", DOUBLE_PTR),
                  ("alpha", DOUBLE), ("beta", DOUBLE), ("y", DOUBLE_PTR), ("incy", I64)]
AXPYS_ARGUMENTS = [("cols", I64), ("p0", I64), ("p1", I64), ("x", DOUBLE_PTR), ("incx", I64),
                   ("mat", DOUBLE_PTR), ("ldm", I64), ("alpha", DOUBLE), ("beta", DOUBLE),
                   ("y", DOUBLE_PTR), ("incy", I64)]


class _Vectors:
    """Vector loads, masks and arithmetic of `<width x double>` for one function."""

    def __init__(self, b: ir.IRBuilder, width: int):
        self.b, self.width = b, width
        self.type = ir.VectorType(DOUBLE, width)
        self.zero = ir.Constant(self.type, [ir.Constant(DOUBLE, 0.0)] * width)
        module = b.module
        self.fma = declare(module, f"{fma_name()}.v{width}f64", self.type, [self.type] * 3)
        self.scalar_fma = declare(module, f"{fma_name()}.f64", DOUBLE, [DOUBLE] * 3)
        self._masked_load = declare_masked(module, "load", width)
        self._masked_store = declare_masked(module, "store", width)
        self._lanes = ir.Constant(ir.VectorType(I64, width), [const(lane) for lane in range(width)])

    def pointer(self, base: ir.Value, offset) -> ir.Value:
        return self.b.bitcast(at(self.b, base, offset), self.type.as_pointer())

    def load(self, base: ir.Value, offset, mask: ir.Value | None = None) -> ir.Value:
        if mask is None:
            return self.b.load(self.pointer(base, offset), align=8)
        return self.b.call(self._masked_load, [self.pointer(base, offset), ir.Constant(I32, 8), mask, self.zero])

    def store(self, value: ir.Value, base: ir.Value, offset, mask: ir.Value | None = None) -> None:
        if mask is None:
            self.b.store(value, self.pointer(base, offset), align=8)
        else:
            self.b.call(self._masked_store, [value, self.pointer(base, offset), ir.Constant(I32, 8), mask])

    def below(self, start: ir.Value, stop: ir.Value) -> ir.Value:
        """The mask of lanes start + lane < stop."""
        b = self.b
        return b.icmp_signed("<", b.add(splat(b, start, self.width), self._lanes), splat(b, stop, self.width))

    def sum(self, values: list[ir.Value]) -> ir.Value:
        total = values[0]
        for value in values[1:]:
            total = self.b.fadd(total, value)
        return total


def emit_dots(module: ir.Module, prefix: str, width: int) -> ir.Function:
    """`void {prefix}dots(DOTS_ARGUMENTS)`: y[i incy] = alpha mat[i, :k] . x + beta y[i incy], x contiguous."""
    fn, b = function(module, f"{prefix}dots", DOTS_ARGUMENTS)
    rows, k, mat, ldm, x, alpha, beta, y, incy = fn.args
    v = _Vectors(b, width)
    reduce = declare(module, f"llvm.vector.reduce.fadd.v{width}f64", DOUBLE, [DOUBLE, v.type])
    full_rows = b.sub(rows, b.srem(rows, const(4)))

    def dot_rows(i0, count, unroll):
        """Rows i0..i0+count-1 with `unroll` accumulators each (count x unroll independent chains)."""
        starts = [at(b, mat, b.mul(b.add(i0, const(r)), ldm)) for r in range(count)]
        k_unrolled = b.sub(k, b.srem(k, const(unroll * width)))

        def step(p, sums):
            xs = [v.load(x, b.add(p, const(u * width))) for u in range(unroll)]
            return [b.call(v.fma, [v.load(starts[r], b.add(p, const(u * width))), xs[u], sums[r * unroll + u]])
                    for r in range(count) for u in range(unroll)]

        sums = accumulate(b, 0, k_unrolled, unroll * width, [v.zero] * (count * unroll), step, "p")
        sums = [v.sum(sums[r * unroll:(r + 1) * unroll]) for r in range(count)]
        k_full = b.sub(k, b.srem(k, const(width)))

        def single(p, partial):
            xs = v.load(x, p)
            return [b.call(v.fma, [v.load(start, p), xs, s]) for start, s in zip(starts, partial)]

        sums = accumulate(b, k_unrolled, k_full, width, sums, single, "q")
        tail = v.below(k_full, k)
        xs = v.load(x, k_full, tail)
        for r, (start, s) in enumerate(zip(starts, sums)):
            total = b.call(reduce, [ir.Constant(DOUBLE, 0.0), b.call(v.fma, [v.load(start, k_full, tail), xs, s])])
            where = at(b, y, b.mul(b.add(i0, const(r)), incy))
            store_scaled(b, v.scalar_fma, b.fmul(alpha, total), where, beta)

    with counted_loop(b, 0, full_rows, 4, "i") as i0:
        dot_rows(i0, 4, 2)
    with counted_loop(b, full_rows, rows, 1, "r") as i0:
        dot_rows(i0, 1, 4)
    b.ret_void()
    return fn


def emit_axpys(module: ir.Module, prefix: str, width: int) -> ir.Function:
    """`void {prefix}axpys(AXPYS_ARGUMENTS)`: y[j incy] = alpha sum_{p0<=p<p1} x[p incx] mat[p, j] + beta y[j incy]."""
    columns = _emit_column_blocks(module, prefix, width)
    fn, b = function(module, f"{prefix}axpys", AXPYS_ARGUMENTS)
    cols, p0, p1, x, incx, mat, ldm, alpha, beta, y, incy = fn.args
    v = _Vectors(b, width)
    with b.if_then(b.icmp_signed("<=", cols, const(VECTORS_PER_BLOCK * width))):
        b.call(columns, list(fn.args))
        b.ret_void()
    buffer = b.call(declare(module, "calloc", I8_PTR, [I64, I64]), [cols, const(8)])
    with b.if_then(b.icmp_unsigned("==", buffer, ir.Constant(I8_PTR, None)), likely=False):
        b.call(columns, list(fn.args))
        b.ret_void()
    sums = b.bitcast(buffer, DOUBLE_PTR)
    cols_full = b.sub(cols, b.srem(cols, const(width)))
    tail = v.below(cols_full, cols)

    def add_rows(p, count):
        """sums += x[p] mat[p, :] + ... for `count` rows, streaming them once."""
        xs = [splat(b, b.load(at(b, x, b.mul(b.add(p, const(r)), incx))), width) for r in range(count)]
        starts = [at(b, mat, b.mul(b.add(p, const(r)), ldm)) for r in range(count)]

        def update(j, mask=None):
            total = v.load(sums, j, mask)
            for xr, start in zip(xs, starts):
                total = b.call(v.fma, [xr, v.load(start, j, mask), total])
            v.store(total, sums, j, mask)

        with counted_loop(b, 0, cols_full, width, "j") as j:
            update(j)
        update(cols_full, tail)

    p4 = b.sub(p1, b.srem(b.sub(p1, p0), const(4)))
    with counted_loop(b, p0, p4, 4, "p") as p:
        add_rows(p, 4)
    with counted_loop(b, p4, p1, 1, "q") as p:
        add_rows(p, 1)
    with counted_loop(b, 0, cols, 1, "w") as j:
        store_scaled(b, v.scalar_fma, b.fmul(alpha, b.load(at(b, sums, j))), at(b, y, b.mul(j, incy)), beta)
    b.call(declare(module, "free", ir.VoidType(), [I8_PTR]), [buffer])
    b.ret_void()
    return fn


def _emit_column_blocks(module: ir.Module, prefix: str, width: int) -> ir.Function:
    """axpys with `4 W` columns of y at a time in registers, every row of mat streaming through each block."""
    fn, b = function(module, f"{prefix}axpys_columns", AXPYS_ARGUMENTS)
    cols, p0, p1, x, incx, mat, ldm, alpha, beta, y, incy = fn.args
    v = _Vectors(b, width)
    block = VECTORS_PER_BLOCK * width
    tile = b.alloca(DOUBLE, size=const(block), name="tile")
    with counted_loop(b, 0, cols, block, "j") as j0:
        masks = [v.below(b.add(j0, const(u * width)), cols) for u in range(VECTORS_PER_BLOCK)]

        def accumulate_rows(masked: bool):
            def step(p, sums):
                xs = splat(b, b.load(at(b, x, b.mul(p, incx))), width)
                row = at(b, mat, b.add(b.mul(p, ldm), j0))
                return [b.call(v.fma, [xs, v.load(row, u * width, masks[u] if masked else None), s])
                        for u, s in enumerate(sums)]

            sums = accumulate(b, p0, p1, 1, [v.zero] * VECTORS_PER_BLOCK, step, "p")
            for u, s in enumerate(sums):
                v.store(s, tile, u * width)

        with b.if_else(b.icmp_signed(">=", b.sub(cols, j0), const(block)), likely=True) as (full, edge):
            with full:
                accumulate_rows(masked=False)
            with edge:
                accumulate_rows(masked=True)
        with counted_loop(b, 0, smin(b, b.sub(cols, j0), block), 1, "jj") as j:
            value = b.fmul(alpha, b.load(at(b, tile, j)))
            store_scaled(b, v.scalar_fma, value, at(b, y, b.mul(b.add(j0, j), incy)), beta)
    b.ret_void()
    return fn
