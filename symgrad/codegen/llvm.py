"""Lower a `Graph` to an `llvmlite.ir.Module`.

Two functions per graph:

    void NAME(const double *in, double *out)
        one point: `in` holds the inputs flattened in graph order (C order
        inside each array), `out` the outputs likewise;
    void NAME_batch(const double **in, const int64 *in_stride, double **out, int64 n)
        n points: input scalar k of point i is `in[k][i * in_stride[k]]`
        (a stride of 0 broadcasts one value to every point), and output
        scalar k goes to `out[k][i * size]`, `size` being the number of
        scalars in its output (point-major, C-contiguous output arrays). Any NumPy layout of the inputs maps
        onto this without copying; each batch function is specialised to a
        layout (which inputs are shared, unit-stride or strided), so that
        unit-stride inputs and all outputs move as whole vectors.

The batch function evaluates `VECTOR_WIDTH` points at once in LLVM vector
types (the batch axis is the SIMD axis): 8 with AVX-512, 4 with AVX2, else
2, or fewer when `SYMGRAD_VECTOR_WIDTH` (2, 4 or 8) is set before import,
which lets tests run other machines' code paths. Stack arrays are reserved
in a function's entry block, once per call, never inside its loops. In a last, partial block the lanes
past the end are masked (loads and stores) or clamped to the last point
(strided loads), so no scalar tail loop is needed (one body to compile,
not two). Transcendental
functions go to glibc's vector math library (libmvec, documented at most
4 ulp) unless strict math is set (`SYMGRAD_STRICT_MATH=1` or
`set_strict_math(True)`), in which case each lane calls libm.
 Each node is lowered once, in topological order,
by reading its primitive's `llvm` facet, or by lowering its `decompose`
facet when it has no `llvm`. Emitted IR is deterministic.
"""

from __future__ import annotations

import math
import os
import re
import zlib

from llvmlite import binding, ir

from ..errors import UnsupportedPrimitiveError
from ..ir import Graph, Node, topological_order
from ..primitives import const_p, symbol_p
from ..primitives import symbol as symbol_node
from ..primitives.registry import Compare, Identity, Instruction, Intrinsic, Libm, Native, Power, Select
from ..reduction import RowSum

DOUBLE = ir.DoubleType()
I64 = ir.IntType(64)
I32 = ir.IntType(32)
DOUBLE_PTR = DOUBLE.as_pointer()
I8_PTR = ir.IntType(8).as_pointer()

# Operations per function: larger bodies are split into functions of this size.
CHUNK_SIZE = 1500
# A decomposition of more operations than this is lowered as a function of its own, called per element.
OUTLINE_MIN = 40
# Row loops of reductions at least this long are split between threads (one per core).
PARALLEL_MIN_ROWS = 16_384
ROW_THREADS = max(1, min(os.cpu_count() or 1, 8))

# Intrinsics LLVM lowers to vector instructions; the others become vector math calls.
_VECTOR_INTRINSICS = {"llvm.sqrt", "llvm.fabs", "llvm.floor", "llvm.ceil", "llvm.trunc", "llvm.rint", "llvm.maximum",
                      "llvm.minimum"}
# The functions glibc's libmvec has vector variants of (2.35 and later); others are called lane by lane.
_LIBMVEC = {"acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "cos", "cosh", "erf", "erfc", "exp",
            "exp10", "exp2", "expm1", "hypot", "log", "log10", "log1p", "log2", "pow", "sin", "sinh", "tan", "tanh"}


# libmvec's ISA letter for each vector width: SSE4 (2 lanes), AVX2 (4), AVX-512 (8).
_ISA_OF_WIDTH = {2: "b", 4: "d", 8: "e"}


def _host_vector_isa() -> tuple[str, int]:
    """libmvec's ISA letter and the lanes of a double vector on this CPU.

    `SYMGRAD_VECTOR_WIDTH=2` (or 4) set before import asks for narrower
    vectors than the CPU has, so that tests can run the code paths of other
    machines; a width the CPU lacks is refused.
    """
    features = binding.get_host_cpu_features()
    widest = 8 if features.get("avx512f") else 4 if features.get("avx2") else 2
    forced = os.environ.get("SYMGRAD_VECTOR_WIDTH", "")
    if not forced:
        return _ISA_OF_WIDTH[widest], widest
    if forced not in ("2", "4", "8"):
        raise ValueError(f"SYMGRAD_VECTOR_WIDTH must be 2, 4 or 8 (doubles per vector), got {forced!r}")
    if int(forced) > widest:
        raise ValueError(f"SYMGRAD_VECTOR_WIDTH={forced}: this CPU's vectors hold at most {widest} doubles")
    return _ISA_OF_WIDTH[int(forced)], int(forced)


def _load_libmvec() -> bool:
    try:
        binding.load_library_permanently("libmvec.so.1")
        return True
    except RuntimeError:
        return False


VECTOR_ISA, VECTOR_WIDTH = _host_vector_isa()
HAVE_LIBMVEC = _load_libmvec()
_strict_math = os.environ.get("SYMGRAD_STRICT_MATH", "") not in ("", "0")


def set_strict_math(strict: bool) -> None:
    """Call libm lane by lane (True) or libmvec (False) in kernels compiled from now on."""
    global _strict_math
    _strict_math = bool(strict)


def strict_math() -> bool:
    return _strict_math or not HAVE_LIBMVEC


def settings() -> tuple:
    """What lowering depends on besides its graph (the compile cache keys code by it)."""
    return (VECTOR_ISA, VECTOR_WIDTH, HAVE_LIBMVEC, strict_math(), CHUNK_SIZE, PARALLEL_MIN_ROWS, ROW_THREADS)


def module_source(module: ir.Module) -> str:
    """LLVM IR text of a module, with vector functions allowed full-width registers."""
    source = str(module)
    if "<" + str(VECTOR_WIDTH) + " x double>" not in source:
        return source
    # Without these, LLVM may split 512-bit vectors and break libmvec's calling convention.
    width = str(64 * VECTOR_WIDTH)
    source = re.sub(r"^(define [^\n]*(?:_batch|_vloop\d+)\([^\n]*\))", r"\1 #7", source, flags=re.M)
    return source + (f'\nattributes #7 = {{ "min-legal-vector-width"="{width}" '
                     f'"prefer-vector-width"="{width}" }}\n')


PYTHON_API = ("PyFloat_Type", "_Py_NotImplementedStruct", "_Py_NoneStruct", "PyFloat_AsDouble",
              "PyFloat_FromDouble", "PyTuple_New", "PyTuple_SetItem", "Py_IncRef")
# The NumPy objects the CPython entry compares against, as external symbols: generated code
# holds no address of this process, so its object code can be cached and loaded by another.
NUMPY_OBJECTS = ("symgrad_ndarray_type", "symgrad_float64_dtype")


def lower_point(graph: Graph, name: str, python_entry: bool = False, datasets: list | None = None) -> ir.Module:
    """A module with the one-point function `name`, and, with `python_entry`, `name_py`.

    `name_py` is a CPython METH_FASTCALL function: one argument per input
    (an exact Python float for a scalar, a C-contiguous float64 NumPy array
    of the declared shape otherwise) and, when any input or output is an
    array, a last argument: the output array (float64, C-contiguous, all
    outputs flattened in order). It returns the float (or a tuple of floats)
    for all-scalar graphs, None after filling the output array otherwise, and
    `NotImplemented` for any argument it does not take, so that the caller
    can take the general path. It finds `numpy.ndarray` and the float64
    dtype through the symbols `NUMPY_OBJECTS`. `datasets` numbers the data
    the code reads (see `rows.data_symbols`); by default, as `rows.datasets`
    finds them in `graph`.
    """
    module = _module(graph, name, datasets)
    _lower_point(module, graph, name)
    if python_entry:
        from .entry import lower_python_entry

        lower_python_entry(module, graph, name + "_py")
    return module


def lower_batch(graph: Graph, name: str, layout: tuple[str, ...] | None = None,
                datasets: list | None = None) -> ir.Module:
    """A module with the batch function `name` (see the module docstring).

    `layout` says, per input scalar, how it is laid out along the batch:
    `"shared"` (stride 0), `"unit"` (stride 1) or `"strided"` (the default).
    """
    module = _module(graph, name, datasets)
    _lower_batch(module, graph, name, layout or (STRIDED,) * len(graph.inputs))
    return module


def _module(graph: Graph, name: str, datasets: list | None = None) -> ir.Module:
    module = ir.Module(name=name)
    if datasets is None:
        from .rows import datasets as datasets_of

        datasets = datasets_of(graph)
    # Which dataset is which in the data symbols (see `rows.data_symbols`).
    module.dataset_numbers = {id(dataset): k for k, dataset in enumerate(datasets)}
    return module


def _lower_point(module: ir.Module, graph: Graph, name: str) -> None:
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [DOUBLE_PTR, DOUBLE_PTR]), name)
    src, dst = fn.args
    src.name, dst.name = "in", "out"
    for arg in fn.args:
        arg.add_attribute("noalias")
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    inputs = [builder.load(_element(builder, src, k), name=f"in{k}") for k in range(len(graph.inputs))]
    results = _Lowering(module, builder).body(graph, inputs)
    for k, value in enumerate(results):
        builder.store(value, _element(builder, dst, k))
    builder.ret_void()


SHARED, UNIT, STRIDED = "shared", "unit", "strided"


def _lower_batch(module: ir.Module, graph: Graph, name: str, layout: tuple[str, ...]) -> None:
    pointers = DOUBLE_PTR.as_pointer()
    fn_type = ir.FunctionType(ir.VoidType(), [pointers, I64.as_pointer(), pointers, I64])
    fn = ir.Function(module, fn_type, name)
    src, src_stride, dst, n = fn.args
    for arg, arg_name in zip(fn.args, ("in", "in_stride", "out", "n")):
        arg.name = arg_name
    entry = fn.append_basic_block("entry")
    loop = fn.append_basic_block("loop")
    done = fn.append_basic_block("done")
    builder = ir.IRBuilder(entry)
    width = VECTOR_WIDTH
    vector = ir.VectorType(DOUBLE, width)
    # Base pointers, strides and shared inputs are loop-invariant: read them once.
    in_base = [builder.load(_element(builder, src, k)) for k in range(len(graph.inputs))]
    in_step = [builder.load(_element(builder, src_stride, k)) for k in range(len(graph.inputs))]
    out_base = [builder.load(_element(builder, dst, k)) for k in range(len(graph.outputs))]
    shared = {k: _splat(builder, builder.load(in_base[k]), width)
              for k, kind in enumerate(layout) if kind == SHARED}
    last = builder.sub(n, ir.Constant(I64, 1), name="last")
    builder.cbranch(builder.icmp_signed(">", n, ir.Constant(I64, 0)), loop, done)
    builder.position_at_end(loop)
    i = builder.phi(I64, name="i")
    i.add_incoming(ir.Constant(I64, 0), entry)
    lane_numbers = ir.Constant(ir.VectorType(I64, width), [ir.Constant(I64, lane) for lane in range(width)])
    index = builder.add(_splat(builder, i, width), lane_numbers)
    in_range = builder.icmp_signed("<", index, _splat(builder, n, width), name="in_range")
    index = builder.select(in_range, index, _splat(builder, last, width), name="lanes")
    lanes = [builder.extract_element(index, ir.Constant(I32, lane)) for lane in range(width)]
    masked_load = _declare_masked(module, "load", width)
    inputs = []
    for k, (base, step) in enumerate(zip(in_base, in_step)):
        if layout[k] == SHARED:
            inputs.append(shared[k])
        elif layout[k] == UNIT:
            block = builder.bitcast(builder.gep(base, [i], inbounds=True), vector.as_pointer())
            inputs.append(builder.call(masked_load, [block, ir.Constant(I32, 8), in_range,
                                                     ir.Constant(vector, [ir.Constant(DOUBLE, 0.0)] * width)]))
        else:
            # One scalar load per lane: on CPUs with gather mitigations a vector
            # gather costs ~3x more (measured on Rosenbrock-100).
            elements = [builder.load(builder.gep(base, [builder.mul(position, step)], inbounds=True))
                        for position in lanes]
            inputs.append(_vector_of(builder, elements, width))
    results = _Lowering(module, builder, width).body(graph, inputs)
    masked_store = _declare_masked(module, "store", width)
    scatter = _declare_masked(module, "scatter", width)
    steps = [math.prod(shape) for shape in graph.output_shapes for _ in range(math.prod(shape))]
    for value, base, step in zip(results, out_base, steps):
        if step == 1:
            block = builder.bitcast(builder.gep(base, [i], inbounds=True), vector.as_pointer())
            builder.call(masked_store, [value, block, ir.Constant(I32, 8), in_range])
        else:
            # Point-major: one block of points fills one contiguous stretch of the output.
            addresses = _addresses(builder, base, ir.Constant(I64, step), index, width)
            builder.call(scatter, [value, addresses, ir.Constant(I32, 8), in_range])
    following = builder.add(i, ir.Constant(I64, width))
    i.add_incoming(following, builder.block)
    builder.cbranch(builder.icmp_signed("<", following, n), loop, done)
    builder.position_at_end(done)
    builder.ret_void()


def _declare(module: ir.Module, name: str, result: ir.Type, operands: list[ir.Type]) -> ir.Function:
    """The intrinsic or C function `result name(operands...)`, declared once per module."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    fn = ir.Function(module, ir.FunctionType(result, operands), name)
    fn.attributes.add("nounwind")
    return fn


def _vector_of(builder: ir.IRBuilder, elements: list[ir.Value], width: int) -> ir.Value:
    """A vector of the elements (or one element repeated to fill `width` lanes)."""
    if width == 1:
        return elements[0]
    if len(elements) == 1:
        return _splat(builder, elements[0], width)
    value = ir.Constant(ir.VectorType(DOUBLE, width), ir.Undefined)
    for lane, element in enumerate(elements):
        value = builder.insert_element(value, element, ir.Constant(I32, lane))
    return value


def _splat(builder: ir.IRBuilder, value: ir.Value, width: int) -> ir.Value:
    vector = ir.Constant(ir.VectorType(value.type, width), ir.Undefined)
    first = builder.insert_element(vector, value, ir.Constant(I32, 0))
    mask = ir.Constant(ir.VectorType(I32, width), [ir.Constant(I32, 0)] * width)
    return builder.shuffle_vector(first, vector, mask)


def _addresses(builder: ir.IRBuilder, base: ir.Value, step: ir.Value, index: ir.Value,
               width: int) -> ir.Value:
    """The vector of pointers `base + index * step` (in doubles)."""
    offsets = builder.mul(index, _splat(builder, builder.mul(step, ir.Constant(I64, 8)), width))
    start = _splat(builder, builder.ptrtoint(base, I64), width)
    return builder.inttoptr(builder.add(start, offsets), ir.VectorType(DOUBLE_PTR, width))


def _declare_masked(module: ir.Module, kind: str, width: int) -> ir.Function:
    """`llvm.masked.load`, `llvm.masked.store` or `llvm.masked.scatter` of a vector of doubles."""
    pointers = "p0" if kind != "scatter" else f"v{width}p0"
    name = f"llvm.masked.{kind}.v{width}f64.{pointers}"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    vector = ir.VectorType(DOUBLE, width)
    mask = ir.VectorType(ir.IntType(1), width)
    where = vector.as_pointer() if kind != "scatter" else ir.VectorType(DOUBLE_PTR, width)
    if kind == "load":
        fn_type = ir.FunctionType(vector, [where, I32, mask, vector])
    else:
        fn_type = ir.FunctionType(ir.VoidType(), [vector, where, I32, mask])
    return ir.Function(module, fn_type, name)


def _stack_array(builder: ir.IRBuilder, kind: ir.Type, count: int = 1, name: str = "") -> ir.Value:
    """An `alloca` of `count` values, placed at the top of the function's entry block.

    Stack space is then reserved once per call: an `alloca` emitted where the
    builder stands (inside the batch loop, say) would grow the stack on every
    iteration until the process dies of a stack overflow.
    """
    entry = builder.function.entry_basic_block
    top = ir.IRBuilder(entry)
    if entry.instructions:
        top.position_before(entry.instructions[0])
    array = top.alloca(kind, size=ir.Constant(I64, max(1, count)), name=name)
    if builder.block is entry:
        # Builders here append at the end of their block; keep `builder` there past the insertion.
        builder.position_at_end(entry)
    return array


def _element(builder: ir.IRBuilder, pointer: ir.Value, k: int) -> ir.Value:
    return builder.gep(pointer, [ir.Constant(I64, k)], inbounds=True)


class _Lowering:
    """The values of nodes already lowered, and how to lower one more."""

    def __init__(self, module: ir.Module, builder: ir.IRBuilder, width: int = 1):
        self.module = module
        self.builder = builder
        self.width = width
        self.type = DOUBLE if width == 1 else ir.VectorType(DOUBLE, width)
        self.suffix = "f64" if width == 1 else f"v{width}f64"
        self.values: dict[Node, ir.Value] = {}

    def body(self, graph: Graph, inputs: list[ir.Value]) -> list[ir.Value]:
        """The output values of `graph`, given the values of its inputs.

        A graph larger than `CHUNK_SIZE` operations is lowered as a sequence of
        `noinline` functions of at most that size, called in order: LLVM's
        instruction selection grows faster than linearly in the size of one
        basic block (a 75k-operation gradient took 14 s in one block).
        """
        self.values.update(zip(graph.inputs, inputs))
        order = [n for n in topological_order(graph.outputs) if n.args and n not in self.values]
        if len(order) <= CHUNK_SIZE:
            return self.lower_all(graph.outputs)
        return self._chunked(graph, order)

    def _chunked(self, graph: Graph, order: list[Node]) -> list[ir.Value]:
        b = self.builder
        chunks = [order[k:k + CHUNK_SIZE] for k in range(0, len(order), CHUNK_SIZE)]
        chunk_of = {node: k for k, chunk in enumerate(chunks) for node in chunk}
        # Values a later chunk (or the caller) needs live in a scratch array.
        slots: dict[Node, int] = {}
        for node in graph.inputs:
            slots.setdefault(node, len(slots))
        for k, chunk in enumerate(chunks):
            for node in chunk:
                for a in node.args:
                    if a.args and chunk_of.get(a, k) < k:
                        slots.setdefault(a, len(slots))
        for node in graph.outputs:
            if node.args:
                slots.setdefault(node, len(slots))
        scratch = _stack_array(b, self.type, len(slots), name="scratch")
        for node in graph.inputs:
            b.store(self.values[node], b.gep(scratch, [ir.Constant(I64, slots[node])], inbounds=True))
        chunk_type = ir.FunctionType(ir.VoidType(), [self.type.as_pointer()])
        for k, chunk in enumerate(chunks):
            fn = ir.Function(self.module, chunk_type, f"{b.function.name}_part{k}")
            fn.attributes.add("noinline")
            fn.linkage = "internal"
            inner = _Lowering(self.module, ir.IRBuilder(fn.append_basic_block("entry")), self.width)
            area = fn.args[0]
            members = set(chunk)
            for node in chunk:
                for a in node.args:
                    if a in slots and a not in members and a not in inner.values:
                        inner.values[a] = inner.builder.load(
                            inner.builder.gep(area, [ir.Constant(I64, slots[a])], inbounds=True))
            inner.lower_all(chunk)
            for node in chunk:
                if node in slots:
                    inner.builder.store(inner.values[node],
                                        inner.builder.gep(area, [ir.Constant(I64, slots[node])], inbounds=True))
            inner.builder.ret_void()
            b.call(fn, [scratch])
        results = []
        for node in graph.outputs:
            if node in slots:
                results.append(b.load(b.gep(scratch, [ir.Constant(I64, slots[node])], inbounds=True)))
            else:
                results.append(self.lower_all([node])[0])
        return results

    def lower_all(self, outputs) -> list[ir.Value]:
        order = topological_order(outputs, stop=self.values)
        for node in order:
            if node in self.values:
                continue
            if isinstance(node.op.llvm, RowSum):
                from .rows import lower_row_sums

                lower_row_sums(self, node.op.llvm.dataset, order)
            else:
                self.values[node] = self._lower(node)
        return [self.values[o] for o in outputs]

    def _lower(self, node: Node) -> ir.Value:
        op = node.op
        if op is const_p:
            return self._constant(node.param)
        if op is symbol_p:
            raise UnsupportedPrimitiveError(
                f"symbol `{node.param[0]}` is used but is not an input of the compiled function"
            )
        if op.llvm is None:
            if op.decompose is None:
                raise UnsupportedPrimitiveError(
                    f"no LLVM lowering for primitive `{op.name}` (and no decomposition)"
                )
            decomposition = op.decompose(*node.args)
            if len(topological_order([decomposition], stop=set(node.args))) > OUTLINE_MIN:
                return self._outlined(node)
            return self.lower_all([decomposition])[0]
        args = [self.values[a] for a in node.args]
        return self._emit(op.llvm, node, args)

    def _outlined(self, node: Node) -> ir.Value:
        """A call of one function per module computing a long decomposition (the Hurwitz zeta function's
        sum), so that an array of such elements does not repeat its code once per element. Constant
        operands are folded into the function."""
        op, b = node.op, self.builder
        constants = tuple(a.param if a.op is const_p else None for a in node.args)
        tag = zlib.crc32(repr((op.name, constants)).encode())
        name = f"symgrad_{op.name}_{tag:08x}_w{self.width}"
        fn = self.module.globals.get(name)
        variables = [a for a in node.args if a.op is not const_p]
        if fn is None:
            params = [symbol_node(f"_operand{k}", -2) for k in range(len(variables))]
            it = iter(params)
            body = op.decompose(*(a if a.op is const_p else next(it) for a in node.args))
            fn = ir.Function(self.module, ir.FunctionType(self.type, [self.type] * len(params)), name)
            fn.linkage = "internal"
            fn.attributes.add("noinline")
            inner = _Lowering(self.module, ir.IRBuilder(fn.append_basic_block("entry")), self.width)
            inner.values.update(zip(params, fn.args))
            inner.builder.ret(inner.lower_all([body])[0])
        return b.call(fn, [self.values[a] for a in variables])

    def _emit(self, how, node: Node, args: list[ir.Value]) -> ir.Value:
        b = self.builder
        if isinstance(how, Instruction):
            return getattr(b, how.opcode)(*args)
        if isinstance(how, Intrinsic):
            if self.width == 1 or how.name in _VECTOR_INTRINSICS:
                intrinsic = _declare(self.module, f"{how.name}.{self.suffix}", self.type, [self.type] * len(args))
                return b.call(intrinsic, args)
            return self._vector_math(how.name.removeprefix("llvm."), args)
        if isinstance(how, Libm):
            if self.width == 1:
                return b.call(_declare(self.module, how.name, DOUBLE, [DOUBLE] * len(args)), args)
            return self._vector_math(how.name, args)
        if isinstance(how, Native):
            from .native import symbol

            function = _declare(self.module, symbol(how), DOUBLE, [DOUBLE] * len(args) + [I32])
            return self._lanes(lambda *xs: b.call(function, [*xs, ir.Constant(I32, 0)]), args)
        if isinstance(how, Compare):
            if how.op == "!=":
                flag = b.fcmp_unordered("!=", *args)
            else:
                flag = b.fcmp_ordered(how.op, *args)
            return b.uitofp(flag, self.type)
        if isinstance(how, Select):
            c, x, y = args
            return b.select(b.fcmp_unordered("!=", c, self._constant(0.0)), x, y)
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
                powi = _declare(self.module, f"llvm.powi.{self.suffix}.i32", self.type, [self.type, I32])
                return b.call(powi, [x, ir.Constant(I32, int(e))])
            if e in (0.5, -0.5):
                root = b.call(_declare(self.module, f"llvm.sqrt.{self.suffix}", self.type, [self.type]), [x])
                return root if e > 0 else b.fdiv(self._constant(1.0), root)
        if self.width > 1:
            return self._vector_math("pow", [x, y])
        return b.call(_declare(self.module, "llvm.pow.f64", DOUBLE, [DOUBLE, DOUBLE]), [x, y])

    def _constant(self, value: float) -> ir.Constant:
        if self.width == 1:
            return ir.Constant(DOUBLE, value)
        return ir.Constant(self.type, [ir.Constant(DOUBLE, value)] * self.width)

    def _vector_math(self, name: str, args: list[ir.Value]) -> ir.Value:
        """`name` (a C math function) on every lane: one libmvec call, or one libm call per lane."""
        b = self.builder
        if not strict_math() and name in _LIBMVEC:
            mangled = f"_ZGV{VECTOR_ISA}N{self.width}{'v' * len(args)}_{name}"
            return b.call(_declare(self.module, mangled, self.type, [self.type] * len(args)), args)
        scalar = _declare(self.module, name, DOUBLE, [DOUBLE] * len(args))
        return self._lanes(lambda *xs: b.call(scalar, list(xs)), args)

    def _lanes(self, call, args: list[ir.Value]) -> ir.Value:
        """`call` (scalar operands -> scalar) on every lane."""
        if self.width == 1:
            return call(*args)
        b = self.builder
        result = ir.Constant(self.type, ir.Undefined)
        for lane in range(self.width):
            index = ir.Constant(I32, lane)
            value = call(*(b.extract_element(a, index) for a in args))
            result = b.insert_element(result, value, index)
        return result
