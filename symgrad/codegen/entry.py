"""The native CPython entry of per-point kernels: a METH_FASTCALL function reading floats and arrays.

`PythonObjects` reads CPython objects from native code (exact floats,
C-contiguous aligned float64 NumPy arrays of a given shape); every check
branches to a block that returns `NotImplemented`, so that the caller takes
the general, fully checked path. The loop lowering's entry uses it too.
"""

from __future__ import annotations

import math

from llvmlite import ir

from ..ir import Graph
from .llvm import DOUBLE, DOUBLE_PTR, I8_PTR, I32, I64, NUMPY_OBJECTS, _declare, _element, _stack_array

_ARRAY_DATA, _ARRAY_NDIM, _ARRAY_DIMS, _ARRAY_DESCR, _ARRAY_FLAGS = 16, 24, 32, 56, 64
_C_CONTIGUOUS_AND_ALIGNED = 0x0001 | 0x0100




class PythonObjects:
    """Reading CPython objects from native code: every check branches to `refuse` when it fails.

    A METH_FASTCALL entry receives `(self, args, nargs)`; it takes floats and
    float64 arrays it can read in place, and answers `NotImplemented` for
    anything else, so that the caller takes the general (checked) path.
    """

    def __init__(self, module: ir.Module, builder: ir.IRBuilder, refuse: ir.Block):
        self.module, self.b, self.refuse = module, builder, refuse
        self.float_type = ir.GlobalVariable(module, ir.IntType(8), "PyFloat_Type")
        self.ndarray_type, self.float64 = (ir.GlobalVariable(module, ir.IntType(8), symbol)
                                           for symbol in NUMPY_OBJECTS)

    def field(self, obj, offset, kind):
        b = self.b
        return b.load(b.bitcast(b.gep(obj, [ir.Constant(I64, offset)]), kind.as_pointer()))

    def require(self, condition) -> None:
        following = self.b.append_basic_block("checked")
        self.b.cbranch(condition, following, self.refuse)
        self.b.position_at_end(following)

    def float_object(self, obj) -> None:
        """`obj` must be an exact Python float."""
        self.require(self.b.icmp_unsigned("==", self.field(obj, 8, I8_PTR), self.float_type))

    def array_data(self, obj, shape, dtype=None):
        """The data of `obj`, which must be a C-contiguous, aligned ndarray of `shape` (float64 by default)."""
        b = self.b
        # ob_type follows the 8-byte reference count in every PyObject.
        self.require(b.icmp_unsigned("==", self.field(obj, 8, I8_PTR), self.ndarray_type))
        if dtype is None:
            self.require(b.icmp_unsigned("==", self.field(obj, _ARRAY_DESCR, I8_PTR), self.float64))
        self.require(b.icmp_signed("==", self.field(obj, _ARRAY_NDIM, I32), ir.Constant(I32, len(shape))))
        flags = b.and_(self.field(obj, _ARRAY_FLAGS, I32), ir.Constant(I32, _C_CONTIGUOUS_AND_ALIGNED))
        self.require(b.icmp_signed("==", flags, ir.Constant(I32, _C_CONTIGUOUS_AND_ALIGNED)))
        dims = self.field(obj, _ARRAY_DIMS, I64.as_pointer())
        for axis, size in enumerate(shape):
            self.require(b.icmp_signed("==", b.load(_element(b, dims, axis)), ir.Constant(I64, size)))
        return self.field(obj, _ARRAY_DATA, DOUBLE_PTR)


def fastcall_function(module: ir.Module, name: str) -> tuple[ir.Function, ir.IRBuilder, ir.Block]:
    """A METH_FASTCALL function `name(self, args, nargs)`, its builder at entry, and its `refuse` block
    (which returns `NotImplemented`)."""
    fn = ir.Function(module, ir.FunctionType(I8_PTR, [I8_PTR, I8_PTR.as_pointer(), I64]), name)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    refuse = fn.append_basic_block("refuse")
    with b.goto_block(refuse):
        not_implemented = ir.GlobalVariable(module, ir.IntType(8), "_Py_NotImplementedStruct")
        b.call(_declare(module, "Py_IncRef", ir.VoidType(), [I8_PTR]), [not_implemented])
        b.ret(not_implemented)
    return fn, b, refuse


def return_none(module: ir.Module, b: ir.IRBuilder) -> None:
    none = module.globals.get("_Py_NoneStruct") or ir.GlobalVariable(module, ir.IntType(8), "_Py_NoneStruct")
    b.call(_declare(module, "Py_IncRef", ir.VoidType(), [I8_PTR]), [none])
    b.ret(none)


def lower_python_entry(module: ir.Module, graph: Graph, name: str) -> None:
    fn, b, refuse = fastcall_function(module, name)
    _, args, nargs = fn.args
    objects_of = PythonObjects(module, b, refuse)
    as_double = _declare(module, "PyFloat_AsDouble", DOUBLE, [I8_PTR])
    from_double = _declare(module, "PyFloat_FromDouble", I8_PTR, [DOUBLE])
    scalar = all(shape == () for shape in graph.input_shapes + graph.output_shapes)
    require, array_data = objects_of.require, objects_of.array_data

    count = len(graph.input_shapes) + (0 if scalar else 1)
    require(b.icmp_signed("==", nargs, ir.Constant(I64, count)))
    objects = [b.load(_element(b, args, k)) for k in range(count)]
    inputs = []
    for obj, shape in zip(objects, graph.input_shapes):
        if shape == ():
            objects_of.float_object(obj)
            inputs.append(obj)
        else:
            inputs.append(array_data(obj, shape))
    out_shape = graph.output_shapes[0] if len(graph.output_shapes) == 1 else (len(graph.outputs),)
    out = None if scalar else array_data(objects[-1], out_shape)
    # Gather the arguments into one input buffer and call the point function
    # (the body is compiled once, not once per entry).
    buffer = _stack_array(b, DOUBLE, len(graph.inputs), name="in")
    position = 0
    for value, shape in zip(inputs, graph.input_shapes):
        if shape == ():
            b.store(b.call(as_double, [value]), _element(b, buffer, position))
            position += 1
        else:
            for k in range(math.prod(shape)):
                b.store(b.load(_element(b, value, k)), _element(b, buffer, position))
                position += 1
    point = module.globals[name.removesuffix("_py")]
    if out is not None:
        b.call(point, [buffer, out])
        return_none(module, b)
    else:
        results_buffer = _stack_array(b, DOUBLE, len(graph.outputs), name="out")
        b.call(point, [buffer, results_buffer])
        results = [b.load(_element(b, results_buffer, j)) for j in range(len(graph.outputs))]
        if len(results) == 1:
            b.ret(b.call(from_double, results))
        else:
            new_tuple = _declare(module, "PyTuple_New", I8_PTR, [I64])
            set_item = _declare(module, "PyTuple_SetItem", I32, [I8_PTR, I64, I8_PTR])
            result = b.call(new_tuple, [ir.Constant(I64, len(results))])
            for j, value in enumerate(results):
                b.call(set_item, [result, ir.Constant(I64, j), b.call(from_double, [value])])
            b.ret(result)
