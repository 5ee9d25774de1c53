"""The array primitive cases: one graph builder per primitive (and a few compositions), with input shapes.

Used by `test_array_primitives.py` (derivatives against oracles) and `test_loops.py` (the loop lowering).
"""

import numpy as np

from symgrad.primitives import (
    array_const,
    broadcast_in_dim,
    broadcast_to,
    concatenate,
    dot_general,
    element,
    gather,
    pack,
    pad,
    reduce_max,
    reduce_min,
    reduce_sum,
    reshape,
    scatter_add,
    slice_,
    transpose,
)
from symgrad.primitives import elementwise as E
from symgrad.primitives.layout import Indices

IDX = np.array([[0, 4], [2, 2]])

CASES = {
    "broadcast_in_dim": (lambda x: broadcast_in_dim(x, (2, 3, 4), (1,)), [(3,)]),
    "broadcast_in_dim_expand": (lambda x: broadcast_in_dim(x, (3, 5), (0, 1)), [(3, 1)]),
    "broadcast_to": (lambda x: broadcast_to(x, (4, 3)), [(1, 3)]),
    "reshape": (lambda x: reshape(x, (3, 2)), [(2, 3)]),
    "reshape_rank": (lambda x: reshape(x, (1, 2, 3)), [(6,)]),
    "transpose": (lambda x: transpose(x, (2, 0, 1)), [(2, 3, 4)]),
    "slice_steps": (lambda x: slice_(x, (1, 0), (5, 6), (2, 3)), [(5, 6)]),
    "slice_of_slice": (lambda x: slice_(slice_(x, (1,), (9,), (2,)), (1,), (4,), (2,)), [(9,)]),
    "pad": (lambda x: pad(x, (1, 0), (0, 2), (1, 1)), [(2, 3)]),
    "concatenate": (lambda x, y: concatenate([x, y], 0), [(2, 3), (4, 3)]),
    "concatenate_axis1": (lambda x, y: concatenate([x, y, x], 1), [(2, 3), (2, 1)]),
    "gather": (lambda x: gather(x, IDX, 0), [(5, 3)]),
    "gather_axis1": (lambda x: gather(x, np.array([2, 0, 2]), 1), [(2, 3)]),
    "scatter_add": (lambda x: scatter_add(x, Indices(IDX), 0, 5), [(2, 2, 3)]),
    "element_pack": (lambda x: pack([element(x, 3), E.sin(element(x, 0)), element(x, 0), E.mul(element(x, 1),
                                                                                             element(x, 2))],
                                    (2, 2)), [(4,)]),
    "reduce_sum": (lambda x: reduce_sum(x, (0, 2)), [(2, 3, 4)]),
    "reduce_sum_all": (lambda x: reduce_sum(x, (0, 1)), [(3, 4)]),
    "reduce_max": (lambda x: reduce_max(x, (1,)), [(3, 4)]),
    "reduce_min_all": (lambda x: reduce_min(x, (0, 1)), [(3, 4)]),
    "matmul": (lambda x, y: dot_general(x, y, "ij,jk->ik"), [(3, 4), (4, 2)]),
    "matmul_transposed": (lambda x, y: dot_general(x, y, "ji,jk->ik"), [(4, 3), (4, 2)]),
    "batched_matmul": (lambda x, y: dot_general(x, y, "bij,bjk->bik"), [(2, 3, 4), (2, 4, 2)]),
    "outer": (lambda x, y: dot_general(x, y, "i,j->ij"), [(3,), (2,)]),
    "inner": (lambda x, y: dot_general(x, y, "i,i->"), [(5,), (5,)]),
    "matvec": (lambda x, y: dot_general(x, y, "ij,j->i"), [(3, 4), (4,)]),
    "tensordot": (lambda x, y: dot_general(x, y, "ijk,jkl->il"), [(2, 3, 2), (3, 2, 2)]),
    "mul_broadcast": (lambda x, y: E.mul(x, y), [(3, 1), (4,)]),
    "add_scalar": (lambda x, y: E.add(x, y), [(), (2, 3)]),
    "pow_arrays": (lambda x, y: E.power(E.exp(x), y), [(2, 3), (3,)]),
    "maximum": (lambda x, y: E.maximum(x, y), [(4,), (3, 1)]),
    "where_sqrt": (lambda x: E.where(E.greater(x, 0.0), E.sqrt(x), 0.0), [(6,)]),
    "tanh_matmul_sum": (lambda x, y: reduce_sum(E.tanh(dot_general(x, y, "ij,jk->ik")), (0, 1)), [(3, 4), (4, 3)]),
    "constant_data": (lambda x: E.mul(x, array_const(np.arange(6.0).reshape(2, 3), "c")), [(2, 3)]),
}


