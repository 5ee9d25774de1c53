"""Matrix-vector products in LLVM IR: the shapes where a packed matrix product wastes its tile.

A product with one row or one column of C is one of two loops over a
row-major matrix `mat` (rows `ldm` apart), chosen by which way it is read:

    dots:  y[i] = alpha * sum_p mat[i, p] x[p] + beta y[i]    (rows of mat contiguous in p)
    axpys: y[j] = alpha * sum_p x[p] mat[p, j] + beta y[j]    (sum over rows of mat)

`dots` takes four rows at a time, each a `<W x double>` accumulator along
p, with a masked last step; `axpys` keeps a block of `4 W` columns of y in
registers and streams the rows p0..p1 of mat through them (masked loads in
the last block). Neither reads past the matrix, and neither reads y when
beta is 0.
"""

from __future__ import annotations

from llvmlite import ir

from ._ir import (
    DOUBLE,
    DOUBLE_PTR,
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

ROWS_PER_STEP = 4
VECTORS_PER_BLOCK = 4
DOTS_ARGUMENTS = [("rows", I64), ("k", I64), ("mat", DOUBLE_PTR), ("ldm", I64), ("x", DOUBLE_PTR),
                  ("alpha", DOUBLE), ("beta", DOUBLE), ("y", DOUBLE_PTR), ("incy", I64)]
AXPYS_ARGUMENTS = [("cols", I64), ("p0", I64), ("p1", I64), ("x", DOUBLE_PTR), ("incx", I64),
                   ("mat", DOUBLE_PTR), ("ldm", I64), ("alpha", DOUBLE), ("beta", DOUBLE),
                   ("y", DOUBLE_PTR), ("incy", I64)]


def emit_dots(module: ir.Module, prefix: str, width: int) -> ir.Function:
    """`void {prefix}dots(DOTS_ARGUMENTS)`: y[i incy] = alpha mat[i, :k] . x + beta y[i incy], x contiguous."""
    fn, b = function(module, f"{prefix}dots", DOTS_ARGUMENTS)
    rows, k, mat, ldm, x, alpha, beta, y, incy = fn.args
    vector = ir.VectorType(DOUBLE, width)
    fma = declare(module, f"{fma_name()}.v{width}f64", vector, [vector] * 3)
    load_masked = declare_masked(module, "load", width)
    reduce = declare(module, f"llvm.vector.reduce.fadd.v{width}f64", DOUBLE, [DOUBLE, vector])
    scalar_fma = declare(module, f"{fma_name()}.f64", DOUBLE, [DOUBLE] * 3)
    zero = ir.Constant(vector, [ir.Constant(DOUBLE, 0.0)] * width)
    k_full = b.sub(k, b.srem(k, const(width)))
    lanes = ir.Constant(ir.VectorType(I64, width), [const(lane) for lane in range(width)])
    tail = b.icmp_signed("<", b.add(splat(b, k_full, width), lanes), splat(b, k, width))

    def load(pointer, offset):
        return b.load(b.bitcast(at(b, pointer, offset), vector.as_pointer()), align=8)

    with counted_loop(b, 0, rows, ROWS_PER_STEP, "i") as i0:
        # Rows past the end repeat the last row (in bounds); their results are not stored.
        last = b.sub(rows, const(1))
        starts = [at(b, mat, b.mul(smin(b, b.add(i0, const(r)), last), ldm)) for r in range(ROWS_PER_STEP)]

        def step(p, sums):
            xs = load(x, p)
            return [b.call(fma, [load(start, p), xs, s]) for start, s in zip(starts, sums)]

        sums = accumulate(b, 0, k_full, width, [zero] * ROWS_PER_STEP, step, "p")

        def masked(pointer):
            where = b.bitcast(at(b, pointer, k_full), vector.as_pointer())
            return b.call(load_masked, [where, ir.Constant(I32, 8), tail, zero])

        xs = masked(x)
        for r, (start, s) in enumerate(zip(starts, sums)):
            total = b.call(reduce, [ir.Constant(DOUBLE, 0.0), b.call(fma, [masked(start), xs, s])])
            row = b.add(i0, const(r))
            with b.if_then(b.icmp_signed("<", row, rows)):
                store_scaled(b, scalar_fma, b.fmul(alpha, total), at(b, y, b.mul(row, incy)), beta)
    b.ret_void()
    return fn


def emit_axpys(module: ir.Module, prefix: str, width: int) -> ir.Function:
    """`void {prefix}axpys(AXPYS_ARGUMENTS)`: y[j incy] = alpha sum_{p0<=p<p1} x[p incx] mat[p, j] + beta y[j incy]."""
    fn, b = function(module, f"{prefix}axpys", AXPYS_ARGUMENTS)
    cols, p0, p1, x, incx, mat, ldm, alpha, beta, y, incy = fn.args
    vector = ir.VectorType(DOUBLE, width)
    block = VECTORS_PER_BLOCK * width
    fma = declare(module, f"{fma_name()}.v{width}f64", vector, [vector] * 3)
    load_masked = declare_masked(module, "load", width)
    scalar_fma = declare(module, f"{fma_name()}.f64", DOUBLE, [DOUBLE] * 3)
    zero = ir.Constant(vector, [ir.Constant(DOUBLE, 0.0)] * width)
    tile = b.alloca(DOUBLE, size=const(block), name="tile")
    lanes = ir.Constant(ir.VectorType(I64, width), [const(lane) for lane in range(width)])
    with counted_loop(b, 0, cols, block, "j") as j0:

        def accumulate_rows(load):
            def step(p, sums):
                xs = splat(b, b.load(at(b, x, b.mul(p, incx))), width)
                row = at(b, mat, b.add(b.mul(p, ldm), j0))
                return [b.call(fma, [xs, load(row, v), s]) for v, s in enumerate(sums)]

            sums = accumulate(b, p0, p1, 1, [zero] * VECTORS_PER_BLOCK, step, "p")
            for v, s in enumerate(sums):
                b.store(s, b.bitcast(at(b, tile, v * width), vector.as_pointer()), align=8)

        def whole(row, v):
            return b.load(b.bitcast(at(b, row, v * width), vector.as_pointer()), align=8)

        first_lane = b.add(splat(b, j0, width), lanes)
        masks = [b.icmp_signed("<", b.add(first_lane, splat(b, const(v * width), width)), splat(b, cols, width))
                 for v in range(VECTORS_PER_BLOCK)]

        def partial(row, v):
            where = b.bitcast(at(b, row, v * width), vector.as_pointer())
            return b.call(load_masked, [where, ir.Constant(I32, 8), masks[v], zero])

        with b.if_else(b.icmp_signed(">=", b.sub(cols, j0), const(block)), likely=True) as (full, edge):
            with full:
                accumulate_rows(whole)
            with edge:
                accumulate_rows(partial)
        with counted_loop(b, 0, smin(b, b.sub(cols, j0), block), 1, "jj") as j:
            value = b.fmul(alpha, b.load(at(b, tile, j)))
            store_scaled(b, scalar_fma, value, at(b, y, b.mul(b.add(j0, j), incy)), beta)
    b.ret_void()
    return fn
