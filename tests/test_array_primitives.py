"""Every array primitive: value, JVP, VJP (transpose), second order and batching, against oracles.

Each case builds an array graph from symbols. It is checked
- expanded into scalars (`symgrad.scalarize`) against NumPy's evaluation of the array graph;
- its JVP against central differences;
- its VJP against its JVP (the adjoint identity <u, J v> = <J^T u, v>);
- second order: the JVP of the VJP against central differences of the VJP;
- both derivatives expanded into scalars against their array evaluation (the two lowerings agree);
- batched (`symgrad.vectorize`) against a loop over the batch.
"""

import numpy as np
import pytest
from array_specs import CASES

from symgrad.diff import jvp, vjp
from symgrad.evaluate import evaluate
from symgrad.ir import topological_order
from symgrad.primitives import (
    array_const,
    broadcast_in_dim,
    is_structural_zero,
    reduce_sum,
    symbol,
)
from symgrad.primitives import elementwise as E
from symgrad.scalarize import scalarize
from symgrad.vectorize import batched_output, vectorize


def _symbols(shapes, tag):
    return [symbol(f"v{i}", tag, shape) for i, shape in enumerate(shapes)]


def _values(shapes, rng):
    return [rng.uniform(-1.5, 1.5, size=shape) for shape in shapes]


def _eval(outputs, symbols, values):
    return evaluate(outputs, dict(zip(symbols, values)))


def _scalarized_eval(outputs, symbols, values):
    from symgrad.scalarize import symbol_elements

    scalars = scalarize(outputs)
    mapping = {}
    for s, v in zip(symbols, values):
        for node, x in zip(symbol_elements(s.param[0], s.shape, s.param[1]).flat, np.asarray(v).flat):
            mapping[node] = x
    results = []
    for array in scalars:
        flat = [n for n in array.flat]
        got = evaluate(flat, mapping) if flat else []
        results.append(np.array([float(g) for g in got]).reshape(array.shape))
    return results


@pytest.fixture(params=sorted(CASES), ids=str)
def case(request):
    build, shapes = CASES[request.param]
    tag = abs(hash(request.param)) % 10**6 + 10**6
    symbols = _symbols(shapes, tag)
    return build, symbols, shapes, np.random.default_rng(len(request.param))


def test_value_expanded_into_scalars_equals_the_array_evaluation(case):
    build, symbols, shapes, rng = case
    out = build(*symbols)
    values = _values(shapes, rng)
    expected = _eval([out], symbols, values)[0]
    assert expected.shape == out.shape
    np.testing.assert_allclose(_scalarized_eval([out], symbols, values)[0], expected, rtol=1e-12, atol=1e-12)


def _directional(build, symbols, values, tangents):
    out = build(*symbols)
    return _eval(jvp([out], symbols, [array_like(t) for t in tangents]), symbols, values)[0]


def array_like(t):
    return array_const(t, "t")


def test_jvp_matches_central_differences(case):
    build, symbols, shapes, rng = case
    values, tangents = _values(shapes, rng), _values(shapes, rng)
    out = build(*symbols)
    got = _eval(jvp([out], symbols, [array_like(t) for t in tangents]), symbols, values)[0]
    h = 1e-6
    plus = _eval([out], symbols, [v + h * t for v, t in zip(values, tangents)])[0]
    minus = _eval([out], symbols, [v - h * t for v, t in zip(values, tangents)])[0]
    np.testing.assert_allclose(got, (plus - minus) / (2 * h), rtol=1e-6, atol=1e-7)


def test_vjp_is_the_transpose_of_the_jvp(case):
    build, symbols, shapes, rng = case
    values, tangents = _values(shapes, rng), _values(shapes, rng)
    out = build(*symbols)
    u = rng.normal(size=out.shape)
    jv = _eval(jvp([out], symbols, [array_like(t) for t in tangents]), symbols, values)[0]
    cotangents = _eval(vjp([out], [array_like(u)], symbols), symbols, values)
    lhs = float(np.sum(u * jv))
    rhs = sum(float(np.sum(c * t)) for c, t in zip(cotangents, tangents))
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-10)


def test_second_order_jvp_of_vjp_matches_differences_of_the_vjp(case):
    build, symbols, shapes, rng = case
    values, tangents = _values(shapes, rng), _values(shapes, rng)
    out = build(*symbols)
    # A scalar that is not linear in the output, so that second derivatives do not vanish.
    weights = array_like(rng.normal(size=out.shape))
    scalar = reduce_sum(E.mul(E.sin(out), weights), tuple(range(out.ndim)))
    grads = vjp([scalar], [1.0], symbols)
    second = _eval(jvp(grads, symbols, [array_like(t) for t in tangents]), symbols, values)
    h = 1e-5
    plus = _eval(grads, symbols, [v + h * t for v, t in zip(values, tangents)])
    minus = _eval(grads, symbols, [v - h * t for v, t in zip(values, tangents)])
    for s, p, m in zip(second, plus, minus):
        np.testing.assert_allclose(s, (p - m) / (2 * h), rtol=1e-5, atol=1e-6)


def test_derivatives_expanded_into_scalars_equal_their_array_evaluation(case):
    build, symbols, shapes, rng = case
    values, tangents = _values(shapes, rng), _values(shapes, rng)
    out = build(*symbols)
    u = array_like(rng.normal(size=out.shape))
    derivatives = [*jvp([out], symbols, [array_like(t) for t in tangents]), *vjp([out], [u], symbols)]
    for got, expected in zip(_scalarized_eval(derivatives, symbols, values), _eval(derivatives, symbols, values)):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch_all", [True, False], ids=["all_batched", "first_batched"])
def test_batching_rule_equals_a_loop_over_the_batch(case, batch_all):
    build, symbols, shapes, rng = case
    size = 3
    out = build(*symbols)
    flags = [batch_all or i == 0 for i in range(len(symbols))]
    batched_symbols = {s: symbol(f"b{i}", s.param[1], (size, *s.shape))
                       for i, (s, f) in enumerate(zip(symbols, flags)) if f}
    (result, is_batched), = vectorize([out], batched_symbols)
    result = batched_output(result, is_batched, size)
    values = [rng.uniform(-1.5, 1.5, size=((size,) + shape) if f else shape) for shape, f in zip(shapes, flags)]
    got = evaluate([result], {batched_symbols.get(s, s): v for s, v in zip(symbols, values)})[0]
    for k in range(size):
        row = [v[k] if f else v for v, f in zip(values, flags)]
        np.testing.assert_allclose(got[k], _eval([out], symbols, row)[0], rtol=1e-12, atol=1e-12)


def test_where_derivative_does_not_leak_nan_from_the_branch_not_taken():
    x = symbol("x", 7, (4,))
    f = reduce_sum(E.where(E.greater(x, 0.0), E.sqrt(x), 0.0), (0,))
    (g,) = vjp([f], [1.0], [x])
    values = np.array([-1.0, 0.0, 4.0, -2.0])
    got = _eval([g], [x], [values])[0]
    np.testing.assert_array_equal(got, [0.0, 0.0, 0.25, 0.0])
    np.testing.assert_array_equal(_scalarized_eval([g], [x], [values])[0], got)


def test_structural_zeros_vanish_from_products_and_sums():
    x = symbol("x", 8, ())
    from symgrad.primitives import ZERO

    assert E.mul(ZERO, E.sin(x)) is ZERO
    assert E.add(ZERO, x) is x
    assert is_structural_zero(E.neg(ZERO))
    assert not is_structural_zero(E.mul(0.0, 1.0))
    # An IEEE zero times a value is kept: it is NaN for an infinite value.
    assert E.mul(0.0, x).op is E.mul_p


def test_sum_of_a_broadcast_is_a_product_not_a_loop():
    x = symbol("x", 9, (3,))
    summed = reduce_sum(broadcast_in_dim(x, (4, 3), (1,)), (0,))
    assert all(n.op.name != "reduce_sum" for n in topological_order([summed]))
    np.testing.assert_allclose(_eval([summed], [x], [np.array([1.0, 2.0, 3.0])])[0], [4.0, 8.0, 12.0])
