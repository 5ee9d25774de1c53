"""Small llvmlite builder helpers shared by the contraction emitters."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from llvmlite import binding, ir

from ..llvm import DOUBLE, DOUBLE_PTR, I8_PTR, I32, I64, _declare, _declare_masked, _splat

__all__ = ["DOUBLE", "DOUBLE_PTR", "I8_PTR", "I32", "I64", "declare", "splat", "const", "counted_loop",
           "function", "at", "smin", "fma_name", "declare_masked", "accumulate"]

declare = _declare
declare_masked = _declare_masked
splat = _splat


def const(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


@functools.cache
def fma_name() -> str:
    """`llvm.fma` where the CPU fuses multiply-add; elsewhere `llvm.fmuladd`, which LLVM may split
    into a multiply and an add (`llvm.fma` would become a call to libm's exact `fma`, per lane)."""
    return "llvm.fma" if binding.get_host_cpu_features().get("fma") else "llvm.fmuladd"


def function(module: ir.Module, name: str, arguments: list[tuple[str, ir.Type]],
             internal: bool = True, attributes: tuple[str, ...] = ("optsize",)) -> tuple[ir.Function, ir.IRBuilder]:
    """A new `void name(arguments...)`, and a builder at its entry.

    Internal functions are `noinline`: each is optimised once, not again in
    every caller (inlining the packing loops into the driver doubled the
    module's compile time), and they run long enough for a call not to count.
    `optsize` (the default) keeps LLVM from versioning, vectorising and
    unrolling loops whose vector code is written here by hand, or that only
    move data: that tripled the module's compile time and did not make it
    faster. Only the two tile kernels are left to the full pipeline.
    """
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [t for _, t in arguments]), name)
    for arg, (arg_name, _) in zip(fn.args, arguments):
        arg.name = arg_name
    fn.attributes.add("nounwind")
    for attribute in attributes:
        fn.attributes.add(attribute)
    if internal:
        fn.linkage = "internal"
        fn.attributes.add("noinline")
    return fn, ir.IRBuilder(fn.append_basic_block("entry"))


def at(b: ir.IRBuilder, pointer: ir.Value, offset: ir.Value | int) -> ir.Value:
    """`pointer + offset` (in elements)."""
    return b.gep(pointer, [const(offset) if isinstance(offset, int) else offset], inbounds=True)


def smin(b: ir.IRBuilder, x: ir.Value, y: ir.Value | int) -> ir.Value:
    y = const(y) if isinstance(y, int) else y
    return b.select(b.icmp_signed("<", x, y), x, y)


@contextmanager
def counted_loop(b: ir.IRBuilder, start: ir.Value | int, stop: ir.Value, step: int = 1,
                 name: str = "i") -> Iterator[ir.Value]:
    """`for (i = start; i < stop; i += step) { body }`; yields `i`, the builder positioned in the body."""
    start = const(start) if isinstance(start, int) else start
    before = b.block
    head = b.append_basic_block(f"{name}.head")
    body = b.append_basic_block(f"{name}.body")
    after = b.append_basic_block(f"{name}.end")
    b.branch(head)
    b.position_at_end(head)
    index = b.phi(I64, name=name)
    index.add_incoming(start, before)
    b.cbranch(b.icmp_signed("<", index, stop), body, after)
    b.position_at_end(body)
    yield index
    index.add_incoming(b.add(index, const(step)), b.block)
    b.branch(head)
    b.position_at_end(after)


def accumulate(b: ir.IRBuilder, start: ir.Value | int, stop: ir.Value, step: int, initial: list[ir.Value],
               body, name: str = "p") -> list[ir.Value]:
    """A loop `for (i = start; i < stop; i += step) values = body(i, values)`; returns the final values."""
    start = const(start) if isinstance(start, int) else start
    before = b.block
    head = b.append_basic_block(f"{name}.head")
    loop = b.append_basic_block(f"{name}.body")
    after = b.append_basic_block(f"{name}.end")
    b.branch(head)
    b.position_at_end(head)
    index = b.phi(I64, name=name)
    index.add_incoming(start, before)
    values = [b.phi(value.type) for value in initial]
    for value, first in zip(values, initial):
        value.add_incoming(first, before)
    b.cbranch(b.icmp_signed("<", index, stop), loop, after)
    b.position_at_end(loop)
    following = body(index, values)
    index.add_incoming(b.add(index, const(step)), b.block)
    for value, new in zip(values, following):
        value.add_incoming(new, b.block)
    b.branch(head)
    b.position_at_end(after)
    return values
