"""symgrad's own kernels shared between threads: products by blocks of C, matrix-vector products
by rows or by ranges of the sum, batches by products.

Each entry runs serially below its policy's threshold; above it, the work
is cut into about `CHUNKS_PER_THREAD` chunks per thread, taken dynamically
(`_threads.run_chunks`), so a thread that gets less of a core takes fewer.
Chunks are not cut finer than the policy's `min_chunk` rows or columns:
each chunk packs its own copy of the other operand.
"""

from __future__ import annotations

from llvmlite import ir

from ._ir import DOUBLE, DOUBLE_PTR, I8_PTR, I64, accumulate, at, const, counted_loop, declare, fma_name, function, smin
from ._threads import emit_chunk_task, pack_words, run_chunks
from .gemm import STRIDED_ARGUMENTS, emit_naive
from .gemv import emit_axpys, emit_dots
from .micro import Blocking, store_scaled
from .policy import Policy, at_least, volume

CHUNKS_PER_THREAD = 4
# Where the vector case is laid out: output i, step p of the sum read mat[i * s_out + p * s_sum].
VECTOR_ARGUMENTS = [("outputs", I64), ("k", I64), ("alpha", DOUBLE), ("mat", DOUBLE_PTR), ("s_out", I64),
                    ("s_sum", I64), ("x", DOUBLE_PTR), ("incx", I64), ("beta", DOUBLE), ("y", DOUBLE_PTR),
                    ("incy", I64)]


def _ceil_div(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.sdiv(b.add(x, b.sub(y, const(1))), y)


def _max(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed(">", x, y), x, y)


def _chunk_size(b: ir.IRBuilder, size: ir.Value, threads: int, minimum: ir.Value, multiple: ir.Value) -> ir.Value:
    """About `CHUNKS_PER_THREAD` chunks per thread, each at least `minimum`, a multiple of `multiple`."""
    chunk = _max(b, _ceil_div(b, size, const(CHUNKS_PER_THREAD * threads)), minimum)
    return b.mul(_ceil_div(b, chunk, multiple), multiple)


def emit_matrix(module: ir.Module, prefix: str, product: ir.Function, blocking: Blocking,
                policy: Policy) -> ir.Function:
    """`void matrix(STRIDED_ARGUMENTS, threads)`: the product, by blocks of columns (or rows) of C when large."""
    fn, b = function(module, f"{prefix}matrix", STRIDED_ARGUMENTS + [("threads", I64)])
    m, n, k, alpha, a, rsa, csa, bm, rsb, csb, beta, c, ldc, threads = fn.args
    count = policy.threads
    if count > 1:
        task = emit_chunk_task(module, f"{prefix}matrix_chunk", [t for _, t in STRIDED_ARGUMENTS] + [I64, I64],
                               lambda tb, args, chunk: _matrix_chunk(tb, product, args, chunk))
        flops = b.fmul(ir.Constant(DOUBLE, 2.0), volume(b, m, n, k))
        by_columns = b.icmp_signed(">=", n, m)
        size = b.select(by_columns, n, m)
        # Chunks start on tile boundaries, so only the last has edge tiles.
        chunk = _chunk_size(b, size, count, const(policy.min_chunk),
                            b.select(by_columns, const(blocking.nr), const(blocking.mr)))
        chunks = _ceil_div(b, size, chunk)
        split = b.and_(b.and_(b.icmp_signed(">", threads, const(1)), at_least(b, flops, policy.parallel_min_flops)),
                       b.icmp_signed(">", chunks, const(1)))
        with b.if_then(split):
            words = pack_words(b, [*fn.args[:13], b.zext(by_columns, I64), chunk])
            run_chunks(b, task, words, chunks, count)
            b.ret_void()
    b.call(product, list(fn.args[:13]))
    b.ret_void()
    return fn


def _matrix_chunk(b: ir.IRBuilder, product: ir.Function, args: list[ir.Value], chunk: ir.Value) -> None:
    m, n, k, alpha, a, rsa, csa, bm, rsb, csb, beta, c, ldc, by_columns, chunk_size = args
    by_columns = b.icmp_signed("!=", by_columns, const(0))
    start = b.mul(chunk, chunk_size)
    length = smin(b, b.sub(b.select(by_columns, n, m), start), chunk_size)
    sub_m, sub_n = b.select(by_columns, m, length), b.select(by_columns, length, n)
    a_part = at(b, a, b.select(by_columns, const(0), b.mul(start, rsa)))
    b_part = at(b, bm, b.select(by_columns, b.mul(start, csb), const(0)))
    c_part = at(b, c, b.select(by_columns, start, b.mul(start, ldc)))
    b.call(product, [sub_m, sub_n, k, alpha, a_part, rsa, csa, b_part, rsb, csb, beta, c_part, ldc])


def emit_vector(module: ir.Module, prefix: str, width: int, policy: Policy) -> ir.Function:
    """`void vector(VECTOR_ARGUMENTS, threads)`: one output per row of mat (`dots`) or per column (`axpys`)."""
    dots, axpys = emit_dots(module, prefix, width), emit_axpys(module, prefix, width)
    fn, b = function(module, f"{prefix}vector", VECTOR_ARGUMENTS + [("threads", I64)])
    outputs, k, alpha, mat, s_out, s_sum, x, incx, beta, y, incy, threads = fn.args
    count = policy.threads
    large = at_least(b, volume(b, outputs, k), policy.parallel_min_vector)
    split = b.and_(b.icmp_signed(">", threads, const(1)), large)
    # A chunk of dots is rows of k elements; a chunk of axpys is rows of `outputs` elements.
    row = b.select(b.icmp_signed("==", s_sum, const(1)), k, outputs)
    least = _ceil_div(b, const(policy.min_chunk_elements), _max(b, row, const(1)))
    with b.if_then(b.icmp_signed("==", s_sum, const(1))):
        # dots reads x as a vector: a strided x is copied first.
        contiguous = b.alloca(DOUBLE_PTR, name="contiguous")
        b.store(x, contiguous)
        copy = b.icmp_signed("!=", incx, const(1))
        with b.if_then(copy):
            buffer = b.bitcast(b.call(declare(module, "malloc", I8_PTR, [I64]), [b.mul(k, const(8))]), DOUBLE_PTR)
            with b.if_then(b.icmp_unsigned("==", buffer, ir.Constant(DOUBLE_PTR, None)), likely=False):
                b.call(emit_naive(module, prefix), [outputs, const(1), k, alpha, mat, s_out, s_sum, x, incx,
                                                   const(0), beta, y, incy])
                b.ret_void()
            with counted_loop(b, 0, k, 1, "p") as p:
                b.store(b.load(at(b, x, b.mul(p, incx))), at(b, buffer, p))
            b.store(buffer, contiguous)
        x_row = b.load(contiguous)
        arguments = [outputs, k, mat, s_out, x_row, alpha, beta, y, incy]
        if count > 1:
            task = emit_chunk_task(module, f"{prefix}dots_chunk", [a.type for a in arguments] + [I64],
                                   lambda tb, args, chunk: _dots_chunk(tb, dots, args, chunk))
            chunk = _chunk_size(b, outputs, count, least, const(1))
            chunks = _ceil_div(b, outputs, chunk)
            with b.if_else(b.and_(split, b.icmp_signed(">", chunks, const(1)))) as (parallel, serial):
                with parallel:
                    run_chunks(b, task, pack_words(b, arguments + [chunk]), chunks, count)
                with serial:
                    b.call(dots, arguments)
        else:
            b.call(dots, arguments)
        with b.if_then(copy):
            b.call(declare(module, "free", ir.VoidType(), [I8_PTR]), [b.bitcast(x_row, I8_PTR)])
        b.ret_void()
    if count > 1:
        chunk = _chunk_size(b, k, count, least, const(1))
        chunks = _ceil_div(b, k, chunk)
        with b.if_then(b.and_(split, b.icmp_signed(">", chunks, const(1)))):
            # Each chunk sums a range of p into a row of `partial`; the rows are added at the end.
            partial = b.bitcast(b.call(declare(module, "malloc", I8_PTR, [I64]),
                                       [b.mul(b.mul(outputs, chunks), const(8))]), DOUBLE_PTR)
            with b.if_then(b.icmp_unsigned("!=", partial, ir.Constant(DOUBLE_PTR, None))):
                arguments = [outputs, k, x, incx, mat, s_sum, partial, chunk]
                task = emit_chunk_task(module, f"{prefix}axpys_chunk", [a.type for a in arguments],
                                       lambda tb, args, chunk: _axpys_chunk(tb, axpys, args, chunk))
                run_chunks(b, task, pack_words(b, arguments), chunks, count)
                scalar_fma = declare(module, f"{fma_name()}.f64", DOUBLE, [DOUBLE] * 3)
                with counted_loop(b, 0, outputs, 1, "j") as j:
                    def add(part, sums, j=j):
                        return [b.fadd(sums[0], b.load(at(b, partial, b.add(b.mul(part, outputs), j))))]

                    total = accumulate(b, 0, chunks, 1, [ir.Constant(DOUBLE, 0.0)], add, "part")[0]
                    store_scaled(b, scalar_fma, b.fmul(alpha, total), at(b, y, b.mul(j, incy)), beta)
                b.call(declare(module, "free", ir.VoidType(), [I8_PTR]), [b.bitcast(partial, I8_PTR)])
                b.ret_void()
    b.call(axpys, [outputs, const(0), k, x, incx, mat, s_sum, alpha, beta, y, incy])
    b.ret_void()
    return fn


def _dots_chunk(b: ir.IRBuilder, dots: ir.Function, args: list[ir.Value], chunk: ir.Value) -> None:
    rows, k, mat, ldm, x, alpha, beta, y, incy, chunk_size = args
    start = b.mul(chunk, chunk_size)
    length = smin(b, b.sub(rows, start), chunk_size)
    b.call(dots, [length, k, at(b, mat, b.mul(start, ldm)), ldm, x, alpha, beta, at(b, y, b.mul(start, incy)), incy])


def _axpys_chunk(b: ir.IRBuilder, axpys: ir.Function, args: list[ir.Value], chunk: ir.Value) -> None:
    cols, k, x, incx, mat, ldm, partial, chunk_size = args
    start = b.mul(chunk, chunk_size)
    stop = smin(b, b.add(start, chunk_size), k)
    b.call(axpys, [cols, start, stop, x, incx, mat, ldm, ir.Constant(DOUBLE, 1.0), ir.Constant(DOUBLE, 0.0),
                   at(b, partial, b.mul(chunk, cols)), const(1)])


def emit_batched(module: ir.Module, prefix: str, policy: Policy, contract: ir.Function,
                 arguments: list[tuple[str, ir.Type]]) -> ir.Function:
    """`void batched(arguments, mode, threads)`: a large batch is shared between threads by products
    (each product on one thread); a small one runs in order."""
    span_arguments = arguments[:13] + [("start", I64), ("stop", I64)] + arguments[14:] + [("mode", I64),
                                                                                       ("threads", I64)]
    span, b = function(module, f"{prefix}batch_span", span_arguments)
    *gemm, start, stop, sa, sb, sc, mode, threads = span.args
    ta, tb, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc = gemm
    with counted_loop(b, start, stop, 1, "item") as item:
        b.call(contract, [ta, tb, m, n, k, alpha, at(b, a, b.mul(item, sa)), lda, at(b, bm, b.mul(item, sb)), ldb,
                          beta, at(b, c, b.mul(item, sc)), ldc, mode, threads])
    b.ret_void()
    fn, b = function(module, f"{prefix}batched", arguments + [("mode", I64), ("threads", I64)])
    *gemm, batch, sa, sb, sc, mode, threads = fn.args
    count = policy.threads
    if count > 1:
        total = b.fmul(volume(b, gemm[2], gemm[3], gemm[4], batch), ir.Constant(DOUBLE, 2.0))
        split = b.and_(b.and_(b.icmp_signed(">", threads, const(1)), b.icmp_signed(">=", batch, const(2))),
                       at_least(b, total, policy.parallel_min_flops))
        with b.if_then(split):
            words = [*gemm, batch, sa, sb, sc, mode]
            chunk = _chunk_size(b, batch, count, const(1), const(1))
            task = emit_chunk_task(module, f"{prefix}batch_chunk", [w.type for w in words] + [I64],
                                   lambda tb, args, index: _batch_chunk(tb, span, args, index))
            run_chunks(b, task, pack_words(b, words + [chunk]), _ceil_div(b, batch, chunk), count)
            b.ret_void()
    b.call(span, [*gemm, const(0), batch, sa, sb, sc, mode, threads])
    b.ret_void()
    return fn


def _batch_chunk(b: ir.IRBuilder, span: ir.Function, args: list[ir.Value], chunk: ir.Value) -> None:
    *gemm, batch, sa, sb, sc, mode, chunk_size = args
    start = b.mul(chunk, chunk_size)
    b.call(span, [*gemm, start, smin(b, b.add(start, chunk_size), batch), sa, sb, sc, mode, const(1)])
