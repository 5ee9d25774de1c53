"""Share a loop of chunks between threads from LLVM code: a pool of sleeping workers (Linux futex).

`run_chunks(task, words, chunks)` runs `task(words, c)` for every chunk c.
The caller hands the job to each idle worker of the module's pool, wakes
it, and takes chunks itself from the same atomic counter; a worker that
wakes late (its core busy) finds fewer chunks or none. The caller then
waits only for chunks already taken, never for a worker to wake.

Why a pool: on this machine a new thread starts running ~4 ms after
`pthread_create` when the other core is busy (the scheduler makes new
threads wait), while a sleeping thread woken through a futex runs within
~20 us. Workers sleep in the kernel between jobs: they never spin, so
they take no core from the code that follows (OpenBLAS's spinning idle
threads halve the speed of the next threaded loop).

Protocol. A job record (heap) holds the next chunk, the number of chunks,
how many workers are working on it (`busy`), how many threads hold the
record (the last one frees it), the words and the task. A worker's slot
holds the job handed to it (claimed with a compare-and-swap, so two
callers never hand it two jobs; a worker still busy with an older job is
skipped). A worker registers as busy before taking a chunk, and reads the
caller's words (on the caller's stack) only after taking one; the caller
waits until no worker is busy once the chunks have run out, so the words
outlive every use. Workers are started on the first job and live as long
as the process; a worker that cannot be started leaves its chunks to the
others.
"""

from __future__ import annotations

from llvmlite import ir

from ._ir import DOUBLE, I8_PTR, I32, I64, at, const, counted_loop, declare, function

WORDS = I64.as_pointer()
TASK = ir.FunctionType(ir.VoidType(), [WORDS, I64])
# The job record: next chunk, chunks, busy workers, holders, words, task.
_NEXT, _CHUNKS, _BUSY, _HOLDERS, _WORDS_AT, _TASK_AT, _JOB_SIZE = range(7)
_SYS_FUTEX, _FUTEX_WAIT_PRIVATE, _FUTEX_WAKE_PRIVATE = 202, 128, 129
# Pool states: not started, starting, started.
_IDLE, _STARTING, _STARTED = 0, 1, 2
_DEAD = 1  # a slot whose worker could not be started (no job pointer is 1)


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
    """The values as an array of 64-bit words on the stack (pointers and doubles by their bits)."""
    words = b.alloca(I64, size=const(len(values)), name="words")
    for k, value in enumerate(values):
        if value.type == DOUBLE:
            value = b.bitcast(value, I64)
        elif isinstance(value.type, ir.PointerType):
            value = b.ptrtoint(value, I64)
        b.store(value, at(b, words, k))
    return words


def run_chunks(b: ir.IRBuilder, task: ir.Value, words: ir.Value, chunks: ir.Value, threads: int) -> None:
    """Run `task(words, c)` for c in 0..chunks-1 here and on up to `threads - 1` workers."""
    pool = _Pool.of(b.module, threads - 1)
    job = b.bitcast(b.call(declare(b.module, "malloc", I8_PTR, [I64]), [const(8 * _JOB_SIZE)]), WORDS)
    with b.if_then(b.icmp_unsigned("==", job, ir.Constant(WORDS, None)), likely=False):
        with counted_loop(b, 0, chunks, 1, "chunk") as chunk:
            b.call(task, [words, chunk])
        b.ret_void()
    for field, value in ((_NEXT, const(0)), (_CHUNKS, chunks), (_BUSY, const(0)), (_HOLDERS, const(1)),
                         (_WORDS_AT, b.ptrtoint(words, I64)), (_TASK_AT, b.ptrtoint(task, I64))):
        b.store(value, at(b, job, field))
    b.call(pool.start, [])
    for worker in range(pool.workers):
        # The worker's hold is counted before it can see the job.
        b.atomic_rmw("add", at(b, job, _HOLDERS), const(1), "seq_cst")
        slot = pool.slot(b, worker)
        handed = b.extract_value(b.cmpxchg(slot, ir.Constant(WORDS, None), job, "seq_cst", "seq_cst"), 1)
        with b.if_else(handed) as (given, skipped):
            with given:
                doorbell = pool.doorbell(b, worker)
                b.atomic_rmw("add", doorbell, ir.Constant(I32, 1), "seq_cst")
                _futex(b, doorbell, _FUTEX_WAKE_PRIVATE, ir.Constant(I32, 1))
            with skipped:
                b.atomic_rmw("sub", at(b, job, _HOLDERS), const(1), "seq_cst")
    _take_chunks(b, job, words, task)
    # Only a worker that said it was busy before the chunks ran out can still be reading `words`.
    check = b.append_basic_block("wait")
    pause = b.append_basic_block("yield")
    done = b.append_basic_block("waited")
    b.branch(check)
    b.position_at_end(check)
    busy = b.load_atomic(at(b, job, _BUSY), "seq_cst", 8)
    b.cbranch(b.icmp_signed("!=", busy, const(0)), pause, done)
    b.position_at_end(pause)
    b.call(declare(b.module, "sched_yield", I32, []), [])
    b.branch(check)
    b.position_at_end(done)
    _let_go(b, job)


def _take_chunks(b: ir.IRBuilder, job: ir.Value, words: ir.Value, task: ir.Value) -> None:
    """Take chunks from the job's counter and run them until none is left."""
    loop = b.append_basic_block("take")
    run = b.append_basic_block("run")
    done = b.append_basic_block("taken")
    b.branch(loop)
    b.position_at_end(loop)
    chunk = b.atomic_rmw("add", at(b, job, _NEXT), const(1), "seq_cst")
    b.cbranch(b.icmp_signed("<", chunk, b.load(at(b, job, _CHUNKS))), run, done)
    b.position_at_end(run)
    b.call(task, [words, chunk])
    b.branch(loop)
    b.position_at_end(done)


def _let_go(b: ir.IRBuilder, job: ir.Value) -> None:
    """Drop one hold on the job record; the last holder frees it."""
    before = b.atomic_rmw("sub", at(b, job, _HOLDERS), const(1), "seq_cst")
    with b.if_then(b.icmp_signed("==", before, const(1))):
        b.call(declare(b.module, "free", ir.VoidType(), [I8_PTR]), [b.bitcast(job, I8_PTR)])


def _futex(b: ir.IRBuilder, word: ir.Value, operation: int, value: ir.Value) -> None:
    syscall = b.module.globals.get("syscall") or ir.Function(
        b.module, ir.FunctionType(I64, [I64], var_arg=True), "syscall")
    b.call(syscall, [const(_SYS_FUTEX), word, ir.Constant(I32, operation), value, ir.Constant(I8_PTR, None)])


class _Pool:
    """The module's workers: a slot (job pointer) and a doorbell (futex word) each, and `start`."""

    @staticmethod
    def of(module: ir.Module, workers: int) -> _Pool:
        pool = getattr(module, "_symgrad_pool", None)
        if pool is None:
            pool = module._symgrad_pool = _Pool(module, workers)
        assert pool.workers == workers, (pool.workers, workers)
        return pool

    def __init__(self, module: ir.Module, workers: int):
        self.workers = workers
        self.slots = self._global(module, "pool_slots", ir.ArrayType(WORDS, workers))
        self.doorbells = self._global(module, "pool_doorbells", ir.ArrayType(I32, workers))
        self.state = self._global(module, "pool_state", I32)
        self.worker = self._emit_worker(module)
        self.start = self._emit_start(module)

    @staticmethod
    def _global(module: ir.Module, name: str, kind: ir.Type) -> ir.GlobalVariable:
        variable = ir.GlobalVariable(module, kind, name)
        variable.linkage = "internal"
        variable.initializer = ir.Constant(kind, None)
        variable.align = 64
        return variable

    def slot(self, b: ir.IRBuilder, worker: ir.Value | int) -> ir.Value:
        index = const(worker) if isinstance(worker, int) else worker
        return b.gep(self.slots, [const(0), index], inbounds=True)

    def doorbell(self, b: ir.IRBuilder, worker: ir.Value | int) -> ir.Value:
        index = const(worker) if isinstance(worker, int) else worker
        return b.gep(self.doorbells, [const(0), index], inbounds=True)

    def _emit_start(self, module: ir.Module) -> ir.Function:
        """`void pool_start()`: the first caller starts the workers; the others wait until it has."""
        fn, b = function(module, "pool_start", [])
        state = b.load_atomic(self.state, "acquire", 4)
        with b.if_then(b.icmp_signed("==", state, ir.Constant(I32, _STARTED)), likely=True):
            b.ret_void()
        won = b.extract_value(b.cmpxchg(self.state, ir.Constant(I32, _IDLE), ir.Constant(I32, _STARTING),
                                        "seq_cst", "seq_cst"), 1)
        with b.if_then(won):
            create = declare(module, "pthread_create", I32, [WORDS, I8_PTR, self.worker.type, I8_PTR])
            detach = declare(module, "pthread_detach", I32, [I64])
            handle = b.alloca(I64)
            with counted_loop(b, 0, const(self.workers), 1, "worker") as worker:
                code = b.call(create, [handle, ir.Constant(I8_PTR, None), self.worker, b.inttoptr(worker, I8_PTR)])
                with b.if_else(b.icmp_signed("==", code, ir.Constant(I32, 0))) as (created, failed):
                    with created:
                        b.call(detach, [b.load(handle)])
                    with failed:
                        b.store_atomic(b.inttoptr(const(_DEAD), WORDS), self.slot(b, worker), "seq_cst", 8)
            b.store_atomic(ir.Constant(I32, _STARTED), self.state, "seq_cst", 4)
            b.ret_void()
        # Another thread is starting the workers: jobs handed out before it is done would be lost.
        check = b.append_basic_block("starting")
        pause = b.append_basic_block("yield")
        done = b.append_basic_block("started")
        b.branch(check)
        b.position_at_end(check)
        started = b.icmp_signed("==", b.load_atomic(self.state, "acquire", 4), ir.Constant(I32, _STARTED))
        b.cbranch(started, done, pause)
        b.position_at_end(pause)
        b.call(declare(module, "sched_yield", I32, []), [])
        b.branch(check)
        b.position_at_end(done)
        b.ret_void()
        return fn

    def _emit_worker(self, module: ir.Module) -> ir.Function:
        """`void *pool_worker(void *index)`: sleeps until a job is in its slot, works on it, forever."""
        fn = ir.Function(module, ir.FunctionType(I8_PTR, [I8_PTR]), "pool_worker")
        fn.linkage = "internal"
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        index = b.ptrtoint(fn.args[0], I64)
        slot, doorbell = self.slot(b, index), self.doorbell(b, index)
        wait = b.append_basic_block("wait")
        sleep = b.append_basic_block("sleep")
        work = b.append_basic_block("work")
        b.branch(wait)
        b.position_at_end(wait)
        # Read the doorbell before the slot: a job handed after this read rings it, so the futex wakes.
        ring = b.load_atomic(doorbell, "seq_cst", 4)
        job = b.load_atomic(slot, "seq_cst", 8)
        b.cbranch(b.icmp_unsigned("==", job, ir.Constant(WORDS, None)), sleep, work)
        b.position_at_end(sleep)
        _futex(b, doorbell, _FUTEX_WAIT_PRIVATE, ring)
        b.branch(wait)
        b.position_at_end(work)
        b.atomic_rmw("add", at(b, job, _BUSY), const(1), "seq_cst")
        words = b.inttoptr(b.load(at(b, job, _WORDS_AT)), WORDS)
        task = b.inttoptr(b.load(at(b, job, _TASK_AT)), TASK.as_pointer())
        _take_chunks(b, job, words, task)
        b.atomic_rmw("sub", at(b, job, _BUSY), const(1), "seq_cst")
        b.store_atomic(ir.Constant(WORDS, None), slot, "seq_cst", 8)
        _let_go(b, job)
        b.branch(wait)
        return fn
