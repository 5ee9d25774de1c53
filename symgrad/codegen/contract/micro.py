"""Register tiles: an `mr x nr` block of C accumulated in `<W x double>` registers with `llvm.fma`.

Two tile kernels share the loop and the write-back:

    packed: reads micro-panels packed by `gemm.py` (A: mr values per step,
            B: nr values per step, aligned), for large products;
    direct: reads op(A) through its strides and rows of B in place (B's rows
            contiguous), for small products, where packing costs more than
            it saves.

Rows of op(A) past `mr` read the last row (in bounds) and columns of B past
`nr` are masked loads; results outside `mr x nr` are never stored. The
write-back stores whole vectors into C for a full tile and goes through a
small buffer for an edge tile; with beta = 0, C is not read.
"""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from ._ir import (
    DOUBLE,
    DOUBLE_PTR,
    I8_PTR,
    I32,
    I64,
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


@dataclass(frozen=True)
class Blocking:
    """Register and cache blocking of the product for one vector width."""

    width: int  # doubles per vector
    mr: int  # rows of a register tile
    nr: int  # columns of a register tile (a multiple of width)
    mc: int  # rows of a packed A panel (a multiple of mr)
    kc: int  # depth of packed panels
    nc: int  # columns of a packed B panel (a multiple of nr)


def blocking_for(width: int) -> Blocking:
    """The blocking for `<width x double>` vectors (2: SSE, 4: AVX2, 8: AVX-512).

    A tile takes `mr * nr / width` accumulators plus `nr / width + 1`
    registers for operands: 15 of AVX2's 16, 27 of AVX-512's 32. An A panel
    (`mc x kc`, 240 KB) fits half of a 512 KB L2; a B micro-panel
    (`kc x nr`, 16 KB at width 4) fits L1.
    """
    if width not in (2, 4, 8):
        raise ValueError(f"vector width {width} is not supported; use 2, 4 or 8 doubles")
    mr = 12 if width == 8 else 6
    return Blocking(width=width, mr=mr, nr=2 * width, mc=120, kc=256, nc=4080)


def store_scaled(b: ir.IRBuilder, fma: ir.Function, value: ir.Value, where: ir.Value, beta: ir.Value) -> None:
    """`*where = value + beta * *where`, or `value` when beta is 0 (so NaN in C does not propagate)."""
    old = b.load(where)
    beta_zero = b.fcmp_ordered("==", beta, ir.Constant(DOUBLE, 0.0))
    b.store(b.select(beta_zero, value, b.call(fma, [beta, old, value])), where)


def emit_packed_kernel(module: ir.Module, prefix: str, blk: Blocking) -> ir.Function:
    """`void micro(kc, ap, bp, c, ldc, mr, nr, alpha, beta)`: C[:mr, :nr] = alpha Ap Bp + beta C (kc >= 1)."""
    arguments = [("kc", I64), ("ap", DOUBLE_PTR), ("bp", DOUBLE_PTR), ("c", DOUBLE_PTR), ("ldc", I64),
                 ("mr", I64), ("nr", I64), ("alpha", DOUBLE), ("beta", DOUBLE)]
    fn, b = function(module, f"{prefix}micro", arguments, attributes=())
    kc, ap, bp, c, ldc, mr, nr, alpha, beta = fn.args
    tile = _Tile(b, blk)
    tile.prefetch(c, ldc, mr)

    def a_value(p, i):
        return b.load(at(b, ap, b.add(b.mul(p, const(blk.mr)), const(i))))

    def b_vectors(p):
        step = at(b, bp, b.mul(p, const(blk.nr)))
        return [b.load(tile.vector_pointer(step, v * blk.width), align=8 * blk.width) for v in range(tile.lanes)]

    tile.store(tile.loop(kc, a_value, b_vectors), c, ldc, mr, nr, alpha, beta)
    b.ret_void()
    return fn


def emit_direct_kernel(module: ir.Module, prefix: str, blk: Blocking) -> ir.Function:
    """`void direct_tile(k, a, rsa, csa, b, rsb, c, ldc, mr, nr, alpha, beta)`: one tile from unpacked
    operands, op(A)[i, p] = a[i rsa + p csa], op(B)[p, j] = b[p rsb + j] (k >= 1)."""
    arguments = [("k", I64), ("a", DOUBLE_PTR), ("rsa", I64), ("csa", I64), ("b", DOUBLE_PTR), ("rsb", I64),
                 ("c", DOUBLE_PTR), ("ldc", I64), ("mr", I64), ("nr", I64), ("alpha", DOUBLE), ("beta", DOUBLE)]
    fn, b = function(module, f"{prefix}direct_tile", arguments, attributes=())
    k, a, rsa, csa, bm, rsb, c, ldc, mr, nr, alpha, beta = fn.args
    tile = _Tile(b, blk)
    rows = [at(b, a, b.mul(smin(b, const(i), b.sub(mr, const(1))), rsa)) for i in range(blk.mr)]
    load_masked = declare_masked(module, "load", blk.width)
    lanes = ir.Constant(ir.VectorType(I64, blk.width), [const(lane) for lane in range(blk.width)])
    masks = [b.icmp_signed("<", b.add(lanes, splat(b, const(v * blk.width), blk.width)), splat(b, nr, blk.width))
             for v in range(tile.lanes)]

    def a_value(p, i):
        return b.load(at(b, rows[i], b.mul(p, csa)))

    def b_row(p):
        return at(b, bm, b.mul(p, rsb))

    def whole(p):
        return [b.load(tile.vector_pointer(b_row(p), v * blk.width), align=8) for v in range(tile.lanes)]

    def partial(p):
        return [b.call(load_masked, [tile.vector_pointer(b_row(p), v * blk.width), ir.Constant(I32, 8), masks[v],
                                     tile.zero]) for v in range(tile.lanes)]

    full = b.icmp_signed("==", nr, const(blk.nr))
    results = []
    with b.if_else(full, likely=True) as (then, otherwise):
        for branch, loads in ((then, whole), (otherwise, partial)):
            with branch:
                sums = tile.loop(k, a_value, loads)
                results.append((sums, b.block))
    (then_sums, then_end), (else_sums, else_end) = results
    merged = []
    for then_row, else_row in zip(then_sums, else_sums):
        merged.append([])
        for first, second in zip(then_row, else_row):
            merged[-1].append(phi := b.phi(tile.vector))
            phi.add_incoming(first, then_end)
            phi.add_incoming(second, else_end)
    tile.store(merged, c, ldc, mr, nr, alpha, beta)
    b.ret_void()
    return fn


class _Tile:
    """The accumulating loop and the write-back of one register tile, emitted with builder `b`."""

    def __init__(self, b: ir.IRBuilder, blk: Blocking):
        self.b, self.blk = b, blk
        self.lanes = blk.nr // blk.width
        self.vector = ir.VectorType(DOUBLE, blk.width)
        self.zero = ir.Constant(self.vector, [ir.Constant(DOUBLE, 0.0)] * blk.width)
        self.fma = declare(b.module, f"{fma_name()}.v{blk.width}f64", self.vector, [self.vector] * 3)
        self.buffer = b.alloca(DOUBLE, size=const(blk.mr * blk.nr), name="tile")

    def prefetch(self, c: ir.Value, ldc: ir.Value, mr: ir.Value) -> None:
        """Ask for the tile's rows of C now: in a large product they come from L3 or memory, and
        waiting for them after the loop cost a quarter of the kernel's speed."""
        b = self.b
        fetch = declare(b.module, "llvm.prefetch.p0", ir.VoidType(), [I8_PTR, I32, I32, I32])
        last_row = b.sub(mr, const(1))
        for i in range(self.blk.mr):
            row = at(b, c, b.mul(smin(b, const(i), last_row), ldc))
            for column in (0, self.blk.nr - 1):  # a row of the tile may straddle two cache lines
                where = b.bitcast(at(b, row, column), I8_PTR)
                b.call(fetch, [where, ir.Constant(I32, 1), ir.Constant(I32, 3), ir.Constant(I32, 1)])

    def vector_pointer(self, base: ir.Value, offset: int | ir.Value) -> ir.Value:
        return self.b.bitcast(at(self.b, base, offset), self.vector.as_pointer())

    def loop(self, k: ir.Value, a_value, b_vectors) -> list[list[ir.Value]]:
        """sum over p < k of a_value(p, i) * b_vectors(p)[v], for each row i and vector v (k >= 1)."""
        b, blk = self.b, self.blk
        entry = b.block
        body = b.append_basic_block("p")
        done = b.append_basic_block("p.end")
        b.branch(body)
        b.position_at_end(body)
        p = b.phi(I64, name="p")
        p.add_incoming(const(0), entry)
        accumulators = [[b.phi(self.vector) for _ in range(self.lanes)] for _ in range(blk.mr)]
        columns = b_vectors(p)
        sums = []
        for i, row in enumerate(accumulators):
            x = splat(b, a_value(p, i), blk.width)
            sums.append([b.call(self.fma, [x, column, acc]) for column, acc in zip(columns, row)])
        following = b.add(p, const(1))
        end = b.block
        p.add_incoming(following, end)
        for row, new_row in zip(accumulators, sums):
            for acc, new in zip(row, new_row):
                acc.add_incoming(self.zero, entry)
                acc.add_incoming(new, end)
        b.cbranch(b.icmp_signed("<", following, k), body, done)
        b.position_at_end(done)
        return sums

    def store(self, sums, c, ldc, mr, nr, alpha, beta) -> None:
        """C[:mr, :nr] = alpha * sums + beta * C."""
        b, blk, w = self.b, self.blk, self.blk.width
        alpha_vector = splat(b, alpha, w)
        scaled = [[b.fmul(alpha_vector, s) for s in row] for row in sums]
        full = b.and_(b.icmp_signed("==", mr, const(blk.mr)), b.icmp_signed("==", nr, const(blk.nr)))
        with b.if_else(full, likely=True) as (whole, edge):
            with whole:
                beta_vector = splat(b, beta, w)
                beta_zero = b.fcmp_ordered("==", beta, ir.Constant(DOUBLE, 0.0))
                with b.if_else(beta_zero) as (overwrite, update):
                    with overwrite:
                        for i, row in enumerate(scaled):
                            for v, value in enumerate(row):
                                b.store(value, self._c_vector(c, i, ldc, v * w), align=8)
                    with update:
                        for i, row in enumerate(scaled):
                            for v, value in enumerate(row):
                                where = self._c_vector(c, i, ldc, v * w)
                                b.store(b.call(self.fma, [beta_vector, b.load(where, align=8), value]), where,
                                        align=8)
            with edge:
                for i, row in enumerate(scaled):
                    for v, value in enumerate(row):
                        b.store(value, self.vector_pointer(self.buffer, i * blk.nr + v * w), align=8)
                scalar_fma = declare(b.module, f"{fma_name()}.f64", DOUBLE, [DOUBLE] * 3)
                with counted_loop(b, 0, mr, 1, "ei") as i:
                    with counted_loop(b, 0, nr, 1, "ej") as j:
                        value = b.load(at(b, self.buffer, b.add(b.mul(i, const(blk.nr)), j)))
                        store_scaled(b, scalar_fma, value, at(b, c, b.add(b.mul(i, ldc), j)), beta)

    def _c_vector(self, c: ir.Value, row: int, ldc: ir.Value, column: int) -> ir.Value:
        return self.vector_pointer(c, self.b.add(self.b.mul(const(row), ldc), const(column)))
