"""Lower a `Graph` to an `llvmlite.ir.Module`.

Two functions per graph:

    void NAME(const double *in, double *out)                   one point
    void NAME_batch(const double *in, double *out, int64 n)    n points, row after row

`in` holds the inputs flattened in graph order (C order inside each array),
`out` the outputs likewise. Each node is lowered once, in topological order,
by reading its primitive's `llvm` facet, or by lowering its `decompose`
facet when it has no `llvm`. Emitted IR is deterministic.
"""

from __future__ import annotations

from llvmlite import ir

from ..errors import UnsupportedPrimitiveError
from ..ir import Graph, Node, topological_order
from ..primitives import const_p, symbol_p
from ..primitives.registry import Compare, Identity, Instruction, Intrinsic, Libm, Power, Select

DOUBLE = ir.DoubleType()
I64 = ir.IntType(64)
I32 = ir.IntType(32)
DOUBLE_PTR = DOUBLE.as_pointer()

_FCMP = {">": "ogt", ">=": "oge", "<": "olt", "<=": "ole", "==": "oeq", "!=": "une"}


def lower(graph: Graph, name: str) -> ir.Module:
    """The LLVM module of `graph`, with functions `name` and `name_batch`."""
    module = ir.Module(name=name)
    point = _lower_point(module, graph, name)
    _lower_batch(module, point, len(graph.inputs), len(graph.outputs))
    return module


def _lower_point(module: ir.Module, graph: Graph, name: str) -> ir.Function:
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [DOUBLE_PTR, DOUBLE_PTR]), name)
    fn.args[0].name, fn.args[1].name = "in", "out"
    for arg in fn.args:
        arg.add_attribute("noalias")
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    lowering = _Lowering(module, builder)
    for i, symbol in enumerate(graph.inputs):
        ptr = builder.gep(fn.args[0], [ir.Constant(I64, i)], inbounds=True)
        lowering.values[symbol] = builder.load(ptr, name=f"in{i}")
    results = lowering.lower_all(graph.outputs)
    for i, value in enumerate(results):
        ptr = builder.gep(fn.args[1], [ir.Constant(I64, i)], inbounds=True)
        builder.store(value, ptr)
    builder.ret_void()
    return fn


def _lower_batch(module: ir.Module, point: ir.Function, n_in: int, n_out: int) -> None:
    fn_type = ir.FunctionType(ir.VoidType(), [DOUBLE_PTR, DOUBLE_PTR, I64])
    fn = ir.Function(module, fn_type, point.name + "_batch")
    src, dst, n = fn.args
    src.name, dst.name, n.name = "in", "out", "n"
    entry = fn.append_basic_block("entry")
    loop = fn.append_basic_block("loop")
    done = fn.append_basic_block("done")
    builder = ir.IRBuilder(entry)
    builder.cbranch(builder.icmp_signed(">", n, ir.Constant(I64, 0)), loop, done)
    builder.position_at_end(loop)
    i = builder.phi(I64, name="i")
    i.add_incoming(ir.Constant(I64, 0), entry)
    row_in = builder.gep(src, [builder.mul(i, ir.Constant(I64, n_in))], inbounds=True)
    row_out = builder.gep(dst, [builder.mul(i, ir.Constant(I64, n_out))], inbounds=True)
    builder.call(point, [row_in, row_out])
    following = builder.add(i, ir.Constant(I64, 1))
    i.add_incoming(following, loop)
    builder.cbranch(builder.icmp_signed("<", following, n), loop, done)
    builder.position_at_end(done)
    builder.ret_void()


class _Lowering:
    """The values of nodes already lowered, and how to lower one more."""

    def __init__(self, module: ir.Module, builder: ir.IRBuilder):
        self.module = module
        self.builder = builder
        self.values: dict[Node, ir.Value] = {}

    def lower_all(self, outputs) -> list[ir.Value]:
        for node in topological_order(outputs):
            if node not in self.values:
                self.values[node] = self._lower(node)
        return [self.values[o] for o in outputs]

    def _lower(self, node: Node) -> ir.Value:
        op = node.op
        if op is const_p:
            return ir.Constant(DOUBLE, node.param)
        if op is symbol_p:
            raise UnsupportedPrimitiveError(
                f"symbol `{node.param[0]}` is used but is not an input of the compiled function"
            )
        if op.llvm is None:
            if op.decompose is None:
                raise UnsupportedPrimitiveError(
                    f"no LLVM lowering for primitive `{op.name}` (and no decomposition)"
                )
            return self.lower_all([op.decompose(*node.args)])[0]
        args = [self.values[a] for a in node.args]
        return self._emit(op.llvm, node, args)

    def _emit(self, how, node: Node, args: list[ir.Value]) -> ir.Value:
        b = self.builder
        if isinstance(how, Instruction):
            return getattr(b, how.opcode)(*args)
        if isinstance(how, Intrinsic):
            return b.call(self._declare(how.name + ".f64", [DOUBLE] * len(args)), args)
        if isinstance(how, Libm):
            return b.call(self._declare(how.name, [DOUBLE] * len(args)), args)
        if isinstance(how, Compare):
            if how.op == "!=":
                flag = b.fcmp_unordered("!=", *args)
            else:
                flag = b.fcmp_ordered(how.op, *args)
            return b.uitofp(flag, DOUBLE)
        if isinstance(how, Select):
            c, x, y = args
            return b.select(b.fcmp_unordered("!=", c, ir.Constant(DOUBLE, 0.0)), x, y)
        if isinstance(how, Power):
            return self._power(node, *args)
        if isinstance(how, Identity):
            return args[0]
        raise UnsupportedPrimitiveError(f"unknown lowering {how!r} of `{node.op.name}`")

    def _power(self, node: Node, x: ir.Value, y: ir.Value) -> ir.Value:
        b = self.builder
        exponent = node.args[1]
        if exponent.op is const_p:
            e = exponent.param
            if e == int(e) and abs(e) <= 64:
                powi = self._declare("llvm.powi.f64.i32", [DOUBLE, I32])
                return b.call(powi, [x, ir.Constant(I32, int(e))])
            if e in (0.5, -0.5):
                root = b.call(self._declare("llvm.sqrt.f64", [DOUBLE]), [x])
                return root if e > 0 else b.fdiv(ir.Constant(DOUBLE, 1.0), root)
        return b.call(self._declare("llvm.pow.f64", [DOUBLE, DOUBLE]), [x, y])

    def _declare(self, name: str, operands: list[ir.Type]) -> ir.Function:
        """An intrinsic or C function `double name(operands...)`, declared once."""
        existing = self.module.globals.get(name)
        if existing is not None:
            return existing
        fn = ir.Function(self.module, ir.FunctionType(DOUBLE, operands), name)
        fn.attributes.add("nounwind")
        return fn
