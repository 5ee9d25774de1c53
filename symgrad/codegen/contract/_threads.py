"""Share a loop of chunks between threads from LLVM code (POSIX threads, dynamic scheduling).

`run_chunks` starts `threads - 1` detached threads and then works itself:
every thread takes the next chunk from an atomic counter until none is
left, so a thread that starts late or shares its core with another
process takes fewer chunks instead of holding everyone up. The caller
then waits only for chunks already taken (never for a thread to be
scheduled at all): on this loaded 2-core machine, waiting for a new
thread made a 128 x 128 product 6x slower than one thread. A thread that
cannot be created is not an error: the others take its chunks.

A chunk task is an internal `void task(i64 *words, i64 chunk)`; `words`
holds its arguments (pointers and doubles by their bits) and lives on
the caller's stack, which a thread reads only after taking a chunk,
while the caller waits. The shared job record is on the heap, freed by
whichever thread lets go of it last.
"""

from __future__ import annotations

from llvmlite import ir

from ._ir import DOUBLE, I8_PTR, I32, I64, at, const, declare, function

WORDS = I64.as_pointer()
# The job: next chunk, number of chunks, threads working on a chunk, holders of the record, the words.
_NEXT, _CHUNKS, _BUSY, _HOLDERS, _WORDS_AT, _JOB_SIZE = 0, 1, 2, 3, 4, 5


def emit_chunk_task(module: ir.Module, name: str, types: list[ir.Type], body) -> ir.Function:
    """`void name(i64 *words, i64 chunk)`, running `body(builder, arguments, chunk)` with the
    arguments (of `types`) read from `words`."""
    fn, b = function(module, name, [("words", WORDS), ("chunk", I64)])
    words, chunk = fn.args
    arguments = []
    for k, kind in enumerate(types):
        word = b.load(at(b, words, k))
        if kind == I64:
            arguments.append(word)
        elif kind == DOUBLE:
            arguments.append(b.bitcast(word, DOUBLE))
        else:
            arguments.append(b.inttoptr(word, kind))
    body(b, arguments, chunk)
    b.ret_void()
    return fn


def pack_words(b: ir.IRBuilder, values: list[ir.Value]) -> ir.Value:
    """The values as an array of 64-bit words on the stack."""
    words = b.alloca(I64, size=const(len(values)), name="words")
    for k, value in enumerate(values):
        if value.type == DOUBLE:
            value = b.bitcast(value, I64)
        elif isinstance(value.type, ir.PointerType):
            value = b.ptrtoint(value, I64)
        b.store(value, at(b, words, k))
    return words


def run_chunks(b: ir.IRBuilder, task: ir.Function, words: ir.Value, chunks: ir.Value, threads: int) -> None:
    """Run `task(words, c)` for c in 0..chunks-1 on up to `threads` threads, this one included."""
    module = b.module
    worker = _emit_worker(module, task)
    job = b.bitcast(b.call(declare(module, "malloc", I8_PTR, [I64]), [const(8 * _JOB_SIZE)]), WORDS)
    with b.if_then(b.icmp_unsigned("==", job, ir.Constant(WORDS, None)), likely=False):
        _take_chunks_from(b, task, words, None, chunks)
        b.ret_void()
    for field, value in ((_NEXT, const(0)), (_CHUNKS, chunks), (_BUSY, const(0)), (_HOLDERS, const(threads)),
                         (_WORDS_AT, b.ptrtoint(words, I64))):
        b.store(value, at(b, job, field))
    create = declare(module, "pthread_create", I32, [WORDS, I8_PTR, worker.type, I8_PTR])
    detach = declare(module, "pthread_detach", I32, [I64])
    handle = b.alloca(I64, name="thread")
    for _ in range(threads - 1):
        code = b.call(create, [handle, ir.Constant(I8_PTR, None), worker, b.bitcast(job, I8_PTR)])
        with b.if_else(b.icmp_signed("==", code, ir.Constant(I32, 0))) as (created, failed):
            with created:
                b.call(detach, [b.load(handle)])
            with failed:
                _let_go(b, job)
    _take_chunks_from(b, task, words, job, chunks)
    # Only a thread that said it was busy before the chunks ran out can still be reading `words`.
    check = b.append_basic_block("wait")
    pause = b.append_basic_block("yield")
    done = b.append_basic_block("waited")
    b.branch(check)
    b.position_at_end(check)
    busy = b.load_atomic(at(b, job, _BUSY), "seq_cst", 8)
    b.cbranch(b.icmp_signed("!=", busy, const(0)), pause, done)
    b.position_at_end(pause)
    b.call(declare(module, "sched_yield", I32, []), [])
    b.branch(check)
    b.position_at_end(done)
    _let_go(b, job)


def _take_chunks_from(b: ir.IRBuilder, task: ir.Function, words: ir.Value, job: ir.Value | None,
                      chunks: ir.Value) -> None:
    """Take chunks (from the job's counter, or all of them without a job) and run them."""
    before = b.block
    loop = b.append_basic_block("take")
    run = b.append_basic_block("run")
    done = b.append_basic_block("taken")
    b.branch(loop)
    b.position_at_end(loop)
    if job is None:
        chunk = b.phi(I64, name="chunk")
        chunk.add_incoming(const(0), before)
        following = b.add(chunk, const(1))
    else:
        chunk = b.atomic_rmw("add", at(b, job, _NEXT), const(1), "seq_cst")
    b.cbranch(b.icmp_signed("<", chunk, chunks), run, done)
    b.position_at_end(run)
    b.call(task, [words, chunk])
    if job is None:
        chunk.add_incoming(following, b.block)
    b.branch(loop)
    b.position_at_end(done)


def _let_go(b: ir.IRBuilder, job: ir.Value) -> None:
    """Drop one hold on the job record; the last holder frees it."""
    before = b.atomic_rmw("sub", at(b, job, _HOLDERS), const(1), "seq_cst")
    with b.if_then(b.icmp_signed("==", before, const(1))):
        b.call(declare(b.module, "free", ir.VoidType(), [I8_PTR]), [b.bitcast(job, I8_PTR)])


def _emit_worker(module: ir.Module, task: ir.Function) -> ir.Function:
    """`void *worker(void *job)`: takes chunks of the job until none is left."""
    name = f"{task.name}_thread"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, ir.FunctionType(I8_PTR, [I8_PTR]), name)
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    job = b.bitcast(fn.args[0], WORDS)
    b.atomic_rmw("add", at(b, job, _BUSY), const(1), "seq_cst")
    chunks = b.load(at(b, job, _CHUNKS))
    words = b.inttoptr(b.load(at(b, job, _WORDS_AT)), WORDS)
    _take_chunks_from(b, task, words, job, chunks)
    b.atomic_rmw("sub", at(b, job, _BUSY), const(1), "seq_cst")
    _let_go(b, job)
    b.ret(ir.Constant(I8_PTR, None))
    return fn
