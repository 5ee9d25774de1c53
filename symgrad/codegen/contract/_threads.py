"""Run a native function on several threads from LLVM code (POSIX threads).

A task is an internal `void task(i64 *words)` that unpacks its arguments
from words and calls the real function; `run_tasks` starts one thread per
task but the first (which runs on the calling thread). A thread that cannot
be created is not an error: its task runs on the calling thread instead,
as in `codegen.llvm`'s row sums.
"""

from __future__ import annotations

from llvmlite import ir

from ._ir import DOUBLE, I8_PTR, I32, I64, at, const, declare, function

_WORDS = I64.as_pointer()


def emit_task(module: ir.Module, target: ir.Function) -> ir.Function:
    """`void {target}_task(i64 *words)`: calls `target` with its arguments read from `words`."""
    fn, b = function(module, f"{target.name}_task", [("words", _WORDS)])
    arguments = []
    for k, argument in enumerate(target.args):
        word = b.load(at(b, fn.args[0], k))
        if argument.type == I64:
            arguments.append(word)
        elif argument.type == DOUBLE:
            arguments.append(b.bitcast(word, DOUBLE))
        else:
            arguments.append(b.inttoptr(word, argument.type))
    b.call(target, arguments)
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


def run_tasks(b: ir.IRBuilder, task: ir.Function, words: list[ir.Value], active: list[ir.Value]) -> None:
    """Run `task(words[0])` here and `task(words[t])` for each active t > 0 on a thread of its own.

    A task goes to whichever thread claims it first: when this thread has
    done its own part, it takes every part whose thread has not started
    yet, and leaves that thread detached instead of waiting for it to be
    scheduled. On a loaded machine a new thread may wait milliseconds for a
    core; waiting for it made a 128 x 128 product 6x slower than one thread.
    """
    module = b.module
    worker = _emit_worker(module, task)
    create = declare(module, "pthread_create", I32, [_WORDS, I8_PTR, worker.type, I8_PTR])
    join = declare(module, "pthread_join", I32, [I64, I8_PTR.as_pointer()])
    detach = declare(module, "pthread_detach", I32, [I64])
    allocate = declare(module, "malloc", I8_PTR, [I64])
    started = []
    for t in range(1, len(words)):
        handle = b.alloca(I64, name=f"thread{t}")
        ticket = b.alloca(_WORDS, name=f"ticket{t}")
        b.store(ir.Constant(_WORDS, None), ticket)
        with b.if_then(active[t]):
            # The ticket outlives this call when the thread is left detached: it is on the heap.
            block = b.bitcast(b.call(allocate, [const(8 * _TICKET_WORDS)]), _WORDS)
            with b.if_then(b.icmp_unsigned("!=", block, ir.Constant(_WORDS, None))):
                b.store(const(_UNCLAIMED), at(b, block, _CLAIM))
                b.store(const(2), at(b, block, _REFERENCES))
                b.store(b.ptrtoint(words[t], I64), at(b, block, _TASK_WORDS))
                code = b.call(create, [handle, ir.Constant(I8_PTR, None), worker, b.bitcast(block, I8_PTR)])
                with b.if_else(b.icmp_signed("==", code, ir.Constant(I32, 0))) as (created, failed):
                    with created:
                        b.store(block, ticket)
                    with failed:
                        b.call(declare(module, "free", ir.VoidType(), [I8_PTR]), [b.bitcast(block, I8_PTR)])
        started.append((t, handle, ticket))
    b.call(task, [words[0]])
    for t, handle, ticket in started:
        with b.if_then(active[t]):
            block = b.load(ticket)
            with b.if_else(b.icmp_unsigned("==", block, ir.Constant(_WORDS, None))) as (no_thread, thread):
                with no_thread:
                    b.call(task, [words[t]])
                with thread:
                    mine = _claim(b, block, _BY_CALLER)
                    with b.if_else(mine) as (taken, theirs):
                        with taken:
                            b.call(task, [words[t]])
                            b.call(detach, [b.load(handle)])
                            _release(b, block)
                        with theirs:
                            b.call(join, [b.load(handle), ir.Constant(I8_PTR.as_pointer(), None)])
                            _release(b, block)


# A ticket: who claimed the task, how many of the two threads still hold it, and the task's words.
_CLAIM, _REFERENCES, _TASK_WORDS, _TICKET_WORDS = 0, 1, 2, 3
_UNCLAIMED, _BY_WORKER, _BY_CALLER = 0, 1, 2


def _claim(b: ir.IRBuilder, ticket: ir.Value, who: int) -> ir.Value:
    result = b.cmpxchg(at(b, ticket, _CLAIM), const(_UNCLAIMED), const(who), "seq_cst", "seq_cst")
    return b.extract_value(result, 1)


def _release(b: ir.IRBuilder, ticket: ir.Value) -> None:
    """Drop one hold on the ticket; the last holder frees it."""
    before = b.atomic_rmw("sub", at(b, ticket, _REFERENCES), const(1), "seq_cst")
    with b.if_then(b.icmp_signed("==", before, const(1))):
        b.call(declare(b.module, "free", ir.VoidType(), [I8_PTR]), [b.bitcast(ticket, I8_PTR)])


def _emit_worker(module: ir.Module, task: ir.Function) -> ir.Function:
    """`void *worker(void *ticket)`: runs the ticket's task unless the caller claimed it first."""
    name = f"{task.name}_thread"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, ir.FunctionType(I8_PTR, [I8_PTR]), name)
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    ticket = b.bitcast(fn.args[0], _WORDS)
    with b.if_then(_claim(b, ticket, _BY_WORKER)):
        b.call(task, [b.inttoptr(b.load(at(b, ticket, _TASK_WORDS)), _WORDS)])
    _release(b, ticket)
    b.ret(ir.Constant(I8_PTR, None))
    return fn
