"""Run a native function on several threads from LLVM code (POSIX threads).

A task is an internal `void task(i64 *words)` that unpacks its arguments
from words and calls the real function; `run_tasks` starts one thread per
task but the first (which runs on the calling thread) and joins them. A
thread that cannot be created is not an error: its task runs on the
calling thread instead, as in `codegen.llvm`'s row sums.
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
    """Run `task(words[0])` here and `task(words[t])` for each active t > 0 on a thread of its own."""
    module = b.module
    worker = _emit_worker(module, task)
    create = declare(module, "pthread_create", I32, [_WORDS, I8_PTR, worker.type, I8_PTR])
    join = declare(module, "pthread_join", I32, [I64, I8_PTR.as_pointer()])
    started = []
    for t in range(1, len(words)):
        handle = b.alloca(I64, name=f"thread{t}")
        code = b.alloca(I32, name=f"created{t}")
        b.store(ir.Constant(I32, 1), code)
        with b.if_then(active[t]):
            b.store(b.call(create, [handle, ir.Constant(I8_PTR, None), worker, b.bitcast(words[t], I8_PTR)]), code)
        started.append((t, handle, code))
    b.call(task, [words[0]])
    for t, handle, code in started:
        with b.if_then(active[t]):
            with b.if_else(b.icmp_signed("==", b.load(code), ir.Constant(I32, 0))) as (joined, failed):
                with joined:
                    b.call(join, [b.load(handle), ir.Constant(I8_PTR.as_pointer(), None)])
                with failed:  # no thread to be had: this thread does that part too
                    b.call(task, [words[t]])


def _emit_worker(module: ir.Module, task: ir.Function) -> ir.Function:
    name = f"{task.name}_thread"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, ir.FunctionType(I8_PTR, [I8_PTR]), name)
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    b.call(task, [b.bitcast(fn.args[0], _WORDS)])
    b.ret(ir.Constant(I8_PTR, None))
    return fn
