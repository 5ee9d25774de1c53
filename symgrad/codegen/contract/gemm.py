"""symgrad's own matrix product in LLVM IR: packed panels and a register-blocked micro-kernel.

The loop structure is GotoBLAS/BLIS's. For each block of `nc` columns of
C and `kc` steps of the sum, a `kc x nc` panel of op(B) is packed into a
contiguous buffer as micro-panels `nr` columns wide; for each block of `mc`
rows, an `mc x kc` panel of op(A) is packed as micro-panels `mr` rows tall.
The micro-kernel multiplies one A micro-panel by one B micro-panel into an
`mr x nr` tile held in `mr * nr / W` vector registers of `<W x double>`
(`nr = 2 W`), one `llvm.fma` per register and step of the sum. Packing pads
partial micro-panels with zeros, so the micro-kernel always runs a full
tile; only the write-back of an edge tile goes through a small buffer, and
no load or store leaves the caller's matrices.

Operands come as strides, which covers both transposes:
op(A)[i, p] = a[i * rsa + p * csa], op(B)[p, j] = b[p * rsb + j * csb],
C[i, j] = c[i * ldc + j]. The first block of the sum applies `beta` (not
reading C when it is 0, as BLAS does); later blocks add to C.

Products of at most `DIRECT_MAX_VOLUME` multiply-adds whose op(B) rows are
contiguous skip packing (and its buffer): the direct tile kernel reads the
operands in place (8^3: 6.6 GFLOP/s against OpenBLAS's 4.0).
"""

from __future__ import annotations

from llvmlite import ir

from ._ir import DOUBLE, DOUBLE_PTR, I8_PTR, I64, at, const, counted_loop, declare, fma_name, function, smin
from .micro import Blocking, emit_direct_kernel, emit_packed_kernel, store_scaled

# (name, type) of the arguments of the serial product, after the transposes became strides.
STRIDED_ARGUMENTS = [("m", I64), ("n", I64), ("k", I64), ("alpha", DOUBLE),
                     ("a", DOUBLE_PTR), ("rsa", I64), ("csa", I64),
                     ("b", DOUBLE_PTR), ("rsb", I64), ("csb", I64),
                     ("beta", DOUBLE), ("c", DOUBLE_PTR), ("ldc", I64)]
_BUFFER_ALIGNMENT = 64
# Products of at most this many multiply-adds (m n k), with rows of op(B) contiguous, skip packing.
DIRECT_MAX_VOLUME = 64**3


def emit_product(module: ir.Module, prefix: str, blocking: Blocking) -> ir.Function:
    """Define `void {prefix}product(STRIDED_ARGUMENTS)`: C = alpha op(A) op(B) + beta C, on one thread.

    Requires m, n, k >= 1. Falls back to a plain triple loop if the packing
    buffers cannot be allocated.
    """
    micro = emit_packed_kernel(module, prefix, blocking)
    direct = _emit_direct(module, prefix, blocking)
    pack_a = _emit_pack_a(module, prefix, blocking)
    pack_b = _emit_pack_b(module, prefix, blocking)
    naive = emit_naive(module, prefix)
    fn, b = function(module, f"{prefix}product", STRIDED_ARGUMENTS)
    m, n, k, alpha, a, rsa, csa, bm, rsb, csb, beta, c, ldc = fn.args
    blk = blocking
    volume = b.fmul(b.fmul(b.sitofp(m, DOUBLE), b.sitofp(n, DOUBLE)), b.sitofp(k, DOUBLE))
    small = b.fcmp_ordered("<=", volume, ir.Constant(DOUBLE, float(DIRECT_MAX_VOLUME)))
    with b.if_then(b.and_(small, b.icmp_signed("==", csb, const(1)))):
        b.call(direct, list(fn.args))
        b.ret_void()
    rows = smin(b, _round_up(b, m, blk.mr), blk.mc)
    depth = smin(b, k, blk.kc)
    cols = smin(b, _round_up(b, n, blk.nr), blk.nc)
    # The B panel starts on a 64-byte boundary, so its micro-panels take aligned vector loads.
    a_size = _round_up(b, b.mul(rows, depth), _BUFFER_ALIGNMENT // 8)
    total = b.mul(b.add(a_size, b.mul(depth, cols)), const(8))
    allocate = declare(module, "aligned_alloc", I8_PTR, [I64, I64])
    buffer = b.call(allocate, [const(_BUFFER_ALIGNMENT), total])
    with b.if_then(b.icmp_unsigned("==", buffer, ir.Constant(I8_PTR, None)), likely=False):
        b.call(naive, list(fn.args))
        b.ret_void()
    packed_a = b.bitcast(buffer, DOUBLE_PTR)
    packed_b = at(b, packed_a, a_size)
    with counted_loop(b, 0, n, blk.nc, "jc") as jc:
        nc = smin(b, b.sub(n, jc), blk.nc)
        with counted_loop(b, 0, k, blk.kc, "pc") as pc:
            kc = smin(b, b.sub(k, pc), blk.kc)
            first = b.icmp_signed("==", pc, const(0))
            beta_here = b.select(first, beta, ir.Constant(DOUBLE, 1.0))
            b.call(pack_b, [kc, nc, at(b, bm, b.add(b.mul(pc, rsb), b.mul(jc, csb))), rsb, csb, packed_b])
            with counted_loop(b, 0, m, blk.mc, "ic") as ic:
                mc = smin(b, b.sub(m, ic), blk.mc)
                b.call(pack_a, [mc, kc, at(b, a, b.add(b.mul(ic, rsa), b.mul(pc, csa))), rsa, csa, packed_a])
                with counted_loop(b, 0, nc, blk.nr, "jr") as jr:
                    nr = smin(b, b.sub(nc, jr), blk.nr)
                    panel_b = at(b, packed_b, b.mul(jr, kc))
                    with counted_loop(b, 0, mc, blk.mr, "ir") as ir_:
                        mr = smin(b, b.sub(mc, ir_), blk.mr)
                        tile = at(b, c, b.add(b.mul(b.add(ic, ir_), ldc), b.add(jc, jr)))
                        b.call(micro, [kc, at(b, packed_a, b.mul(ir_, kc)), panel_b, tile, ldc, mr, nr,
                                       alpha, beta_here])
    b.call(declare(module, "free", ir.VoidType(), [I8_PTR]), [buffer])
    b.ret_void()
    return fn


def _emit_direct(module: ir.Module, prefix: str, blk: Blocking) -> ir.Function:
    """`void direct(STRIDED_ARGUMENTS)`: the product tile by tile from the operands in place (csb = 1)."""
    tile = emit_direct_kernel(module, prefix, blk)
    fn, b = function(module, f"{prefix}direct", STRIDED_ARGUMENTS)
    m, n, k, alpha, a, rsa, csa, bm, rsb, csb, beta, c, ldc = fn.args
    # Columns outside: a k x nr strip of B stays in L1 while the tiles below it use it.
    with counted_loop(b, 0, n, blk.nr, "j") as j:
        nr = smin(b, b.sub(n, j), blk.nr)
        with counted_loop(b, 0, m, blk.mr, "i") as i:
            mr = smin(b, b.sub(m, i), blk.mr)
            b.call(tile, [k, at(b, a, b.mul(i, rsa)), rsa, csa, at(b, bm, j), rsb,
                          at(b, c, b.add(b.mul(i, ldc), j)), ldc, mr, nr, alpha, beta])
    b.ret_void()
    return fn


def emit_naive(module: ir.Module, prefix: str) -> ir.Function:
    """`void {prefix}naive(STRIDED_ARGUMENTS)`: the product as a triple loop, with no buffer."""
    name = f"{prefix}naive"
    if name in module.globals:
        return module.globals[name]
    # Only used when memory runs out: small code matters more than speed.
    fn, b = function(module, name, STRIDED_ARGUMENTS, attributes=("minsize", "optsize"))
    m, n, k, alpha, a, rsa, csa, bm, rsb, csb, beta, c, ldc = fn.args
    fma = declare(module, f"{fma_name()}.f64", DOUBLE, [DOUBLE] * 3)
    with counted_loop(b, 0, m, 1, "i") as i:
        with counted_loop(b, 0, n, 1, "j") as j:
            before = b.block
            loop = b.append_basic_block("p")
            done = b.append_basic_block("p.end")
            b.cbranch(b.icmp_signed(">", k, const(0)), loop, done)
            b.position_at_end(loop)
            p = b.phi(I64)
            total = b.phi(DOUBLE)
            p.add_incoming(const(0), before)
            total.add_incoming(ir.Constant(DOUBLE, 0.0), before)
            x = b.load(at(b, a, b.add(b.mul(i, rsa), b.mul(p, csa))))
            y = b.load(at(b, bm, b.add(b.mul(p, rsb), b.mul(j, csb))))
            following = b.call(fma, [x, y, total])
            p.add_incoming(b.add(p, const(1)), loop)
            total.add_incoming(following, loop)
            b.cbranch(b.icmp_signed("<", b.add(p, const(1)), k), loop, done)
            b.position_at_end(done)
            result = b.phi(DOUBLE)
            result.add_incoming(ir.Constant(DOUBLE, 0.0), before)
            result.add_incoming(following, loop)
            store_scaled(b, fma, b.fmul(alpha, result), at(b, c, b.add(b.mul(i, ldc), j)), beta)
    b.ret_void()
    return fn


def _round_up(b: ir.IRBuilder, x: ir.Value, multiple: int) -> ir.Value:
    return b.mul(b.sdiv(b.add(x, const(multiple - 1)), const(multiple)), const(multiple))


def _emit_pack_a(module: ir.Module, prefix: str, blk: Blocking) -> ir.Function:
    """`void pack_a(mc, kc, a, rsa, csa, ap)`: ap[(i0 kc + p) mr + i] = op(A)[i0 + i, p], zero past mc."""
    arguments = [("mc", I64), ("kc", I64), ("a", DOUBLE_PTR), ("rsa", I64), ("csa", I64), ("ap", DOUBLE_PTR)]
    fn, b = function(module, f"{prefix}pack_a", arguments)
    mc, kc, a, rsa, csa, ap = fn.args
    zero = ir.Constant(DOUBLE, 0.0)
    with counted_loop(b, 0, mc, blk.mr, "ir") as i0:
        mr = smin(b, b.sub(mc, i0), blk.mr)
        panel = at(b, ap, b.mul(i0, kc))
        contiguous = b.and_(b.icmp_signed("==", rsa, const(1)), b.icmp_signed("==", mr, const(blk.mr)))
        with b.if_else(contiguous) as (columns, general):
            with columns:  # op(A) = A^T: a column of the panel is contiguous
                with counted_loop(b, 0, kc, 1, "p") as p:
                    source = at(b, a, b.add(i0, b.mul(p, csa)))
                    for i in range(blk.mr):
                        b.store(b.load(at(b, source, i)), at(b, panel, b.add(b.mul(p, const(blk.mr)), const(i))))
            with general:
                # Rows past the edge read the last row (in bounds) and store zero.
                rows = [at(b, a, b.mul(b.add(i0, smin(b, const(i), b.sub(mr, const(1)))), rsa))
                        for i in range(blk.mr)]
                keep = [b.icmp_signed("<", const(i), mr) for i in range(blk.mr)]
                with counted_loop(b, 0, kc, 1, "p") as p:
                    offset = b.mul(p, csa)
                    for i in range(blk.mr):
                        value = b.select(keep[i], b.load(at(b, rows[i], offset)), zero)
                        b.store(value, at(b, panel, b.add(b.mul(p, const(blk.mr)), const(i))))
    b.ret_void()
    return fn


def _emit_pack_b(module: ir.Module, prefix: str, blk: Blocking) -> ir.Function:
    """`void pack_b(kc, nc, b, rsb, csb, bp)`: bp[(j0 kc + p) nr + j] = op(B)[p, j0 + j], zero past nc."""
    arguments = [("kc", I64), ("nc", I64), ("b", DOUBLE_PTR), ("rsb", I64), ("csb", I64), ("bp", DOUBLE_PTR)]
    fn, b = function(module, f"{prefix}pack_b", arguments)
    kc, nc, bm, rsb, csb, bp = fn.args
    zero = ir.Constant(DOUBLE, 0.0)
    row_vector = ir.VectorType(DOUBLE, blk.nr)
    with counted_loop(b, 0, nc, blk.nr, "jr") as j0:
        nr = smin(b, b.sub(nc, j0), blk.nr)
        panel = at(b, bp, b.mul(j0, kc))
        contiguous = b.and_(b.icmp_signed("==", csb, const(1)), b.icmp_signed("==", nr, const(blk.nr)))
        with b.if_else(contiguous, likely=True) as (rows, general):
            with rows:  # a row of the micro-panel is contiguous in B: one vector copy
                with counted_loop(b, 0, kc, 1, "p") as p:
                    source = b.bitcast(at(b, bm, b.add(b.mul(p, rsb), j0)), row_vector.as_pointer())
                    target = b.bitcast(at(b, panel, b.mul(p, const(blk.nr))), row_vector.as_pointer())
                    b.store(b.load(source, align=8), target, align=8 * blk.width)
            with general:
                columns = [at(b, bm, b.mul(b.add(j0, smin(b, const(j), b.sub(nr, const(1)))), csb))
                           for j in range(blk.nr)]
                keep = [b.icmp_signed("<", const(j), nr) for j in range(blk.nr)]
                with counted_loop(b, 0, kc, 1, "p") as p:
                    offset = b.mul(p, rsb)
                    for j in range(blk.nr):
                        value = b.select(keep[j], b.load(at(b, columns[j], offset)), zero)
                        b.store(value, at(b, panel, b.add(b.mul(p, const(blk.nr)), const(j))))
    b.ret_void()
    return fn
