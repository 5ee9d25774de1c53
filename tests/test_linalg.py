"""Linear algebra: `np.linalg` on traced arrays and the primitives under it (`symgrad.primitives.linalg`).

On random well-conditioned and symmetric positive-definite matrices:
- values against `numpy.linalg`, in both lowerings (the scalar one unrolls Cholesky, triangular solves,
  and solves and determinants up to 3x3; the others go to loops, which call LAPACK);
- first and second derivatives against central differences (`check_grads`);
- each primitive at the array level: JVP against differences, VJP against the JVP (adjoint identity),
  second order, the batching rule against a loop, and the scalar expansion where there is one;
- failures give NaN (not positive definite, singular, complex eigenvalues), never a crash.
"""

import numpy as np
import pytest

import symgrad as sg
import symgrad.lowering as lowering
from symgrad.diff import jvp, vjp
from symgrad.evaluate import evaluate
from symgrad.primitives import array_const, reduce_sum, symbol
from symgrad.primitives import elementwise as E
from symgrad.primitives import linalg as L
from symgrad.primitives import spectral as S
from symgrad.testing import check_grads
from symgrad.vectorize import vectorize

RNG = np.random.default_rng(3)


def _spd(n, rng=RNG):
    a = rng.normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


def _well_conditioned(n, rng=RNG):
    return rng.normal(size=(n, n)) + 2.0 * n**0.5 * np.eye(n)


A3, A4, S3, S4 = _well_conditioned(3), _well_conditioned(4), _spd(3), _spd(4)
B = RNG.normal(size=(4, 2))
TALL = RNG.normal(size=(5, 3))
REAL_SPECTRUM = S4 + 0.3 * np.triu(np.ones((4, 4)), 1)  # not symmetric, real distinct eigenvalues
STACK = np.stack([_spd(3), _spd(3)])

# name: (function of one array, argument, derivative order checked)
FUNCTIONS = {
    "cholesky": (np.linalg.cholesky, S4, 2),
    "cholesky_3x3": (np.linalg.cholesky, S3, 2),
    "cholesky_upper": (lambda a: np.linalg.cholesky(a, upper=True), S3, 1),
    "solve": (lambda a: np.linalg.solve(a, B), A4, 2),
    "solve_vector": (lambda a: np.linalg.solve(a, B[:, 0]), A4, 2),
    "solve_3x3": (lambda a: np.linalg.solve(a, B[:3]), A3, 2),
    "solve_right_side": (lambda b: np.linalg.solve(A4, b), B, 1),
    "inv": (np.linalg.inv, A4, 2),
    "inv_2x2": (lambda a: np.linalg.inv(a[:2, :2]), A3, 2),
    "det": (np.linalg.det, A4, 2),
    "det_3x3": (np.linalg.det, A3, 2),
    "slogdet": (lambda a: np.linalg.slogdet(a)[1] * np.linalg.slogdet(a)[0], A4, 2),
    "eigvalsh": (np.linalg.eigvalsh, S4, 2),
    "eigh_vectors": (lambda a: np.abs(np.linalg.eigh(a)[1]), S4, 2),
    "eigh_upper": (lambda a: np.linalg.eigh(a, UPLO="U")[0], S3 + np.triu(np.ones((3, 3)), 1), 1),
    "svd_values": (lambda a: np.linalg.svd(a, compute_uv=False), TALL, 2),
    "svd_u": (lambda a: np.abs(np.linalg.svd(a, full_matrices=False)[0]), TALL, 1),
    "svd_vh_wide": (lambda a: np.abs(np.linalg.svd(a.T, full_matrices=False)[2]), TALL, 1),
    "svd_square": (lambda a: np.abs(np.linalg.svd(a)[2]) + np.abs(np.linalg.svd(a)[0]), A3, 1),
    "pinv": (np.linalg.pinv, TALL, 2),
    "eig_values": (lambda a: np.linalg.eig(a)[0], REAL_SPECTRUM, 2),
    "eig_vectors": (lambda a: np.abs(np.linalg.eig(a)[1]), REAL_SPECTRUM, 1),
    "norm_2": (lambda a: np.linalg.norm(a, 2), A4, 2),
    "norm_nuc": (lambda a: np.linalg.norm(a, "nuc"), A4, 2),
    "norm_fro": (lambda a: np.linalg.norm(a, "fro") + np.linalg.norm(a), A4, 2),
    "norm_1_inf": (lambda a: np.linalg.norm(a, 1) + np.linalg.norm(a, -np.inf), A4, 1),
    "vector_norms": (lambda a: np.linalg.norm(a[0], 3) + np.linalg.norm(a[1], np.inf) + np.linalg.norm(a[2], 1),
                     A4, 1),
    "matrix_power": (lambda a: np.linalg.matrix_power(a, 3) + np.linalg.matrix_power(a, -2), A3, 2),
    "multi_dot": (lambda a: np.linalg.multi_dot([a[0], a, a.T, a[1]]), A4, 2),
    "stack_of_matrices": (lambda s: np.linalg.det(s) + np.linalg.cholesky(s).sum((1, 2)), STACK, 2),
}


def _compute(name, budget, monkeypatch, transform=sg.jit):
    monkeypatch.setattr(lowering, "_FORCED", budget)
    f, x, _ = FUNCTIONS[name]
    return transform(f)(x)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_values_match_numpy_in_both_lowerings(name, monkeypatch):
    f, x, _ = FUNCTIONS[name]
    for budget in ("inf", "0"):
        np.testing.assert_allclose(_compute(name, budget, monkeypatch), f(x), rtol=1e-10, atol=1e-12,
                                   err_msg=f"budget {budget}")


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_derivatives_match_finite_differences(name):
    f, x, order = FUNCTIONS[name]
    check_grads(lambda a: (f(a) * np.cos(np.arange(np.size(f(x)))).reshape(np.shape(f(x)))).sum(), (x,),
                order=order, modes=("rev",), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["cholesky", "solve_3x3", "det_3x3", "inv_2x2", "stack_of_matrices"])
def test_gradients_agree_across_lowerings(name, monkeypatch):
    def grad(f):
        return sg.grad(lambda a: (f(a) ** 2).sum())

    scalar = _compute(name, "inf", monkeypatch, grad)
    loops = _compute(name, "0", monkeypatch, grad)
    np.testing.assert_allclose(loops, scalar, rtol=1e-10, atol=1e-12)


def test_small_solves_unroll_and_large_ones_call_lapack():
    assert sg.grad(lambda a: np.linalg.det(a)).formula(A3).lowering == "scalar"
    assert sg.grad(lambda a: np.linalg.cholesky(a).sum()).formula(S4).lowering == "scalar"
    assert sg.jit(lambda a: np.linalg.eigvalsh(a)).formula(S3).lowering == "loops"
    assert sg.jit(lambda a: np.linalg.det(a)).formula(A4).lowering == "loops"


@pytest.mark.parametrize("budget", ["inf", "0"])
def test_failures_give_nan_not_an_exception(budget, monkeypatch):
    monkeypatch.setattr(lowering, "_FORCED", budget)
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert np.all(np.isnan(sg.jit(np.linalg.cholesky)(indefinite)))
    assert np.all(np.isnan(sg.jit(lambda a: np.linalg.solve(a, np.ones(2)))(singular)))
    assert sg.jit(np.linalg.det)(singular) == 0.0
    assert np.all(np.isnan(sg.jit(lambda a: np.linalg.eig(a)[0])(np.array([[0.0, 1.0], [-1.0, 0.0]]))))


def test_batched_calls_through_vmap_loop_over_the_matrices():
    stack = np.stack([_well_conditioned(3) for _ in range(6)])
    np.testing.assert_allclose(sg.vmap(np.linalg.det)(stack), np.linalg.det(stack), rtol=1e-12)
    np.testing.assert_allclose(sg.vmap(sg.grad(lambda a: np.linalg.slogdet(a)[1]))(stack),
                               np.linalg.inv(stack).transpose(0, 2, 1), rtol=1e-10)


def test_unsupported_linear_algebra_is_refused_with_what_to_use():
    with pytest.raises(TypeError, match=r"`np\.linalg\.lstsq` is not supported.*pinv"):
        sg.jit(lambda a: np.linalg.lstsq(a, B[:, 0])[0])(A4)
    with pytest.raises(TypeError, match=r"full_matrices=True.*full_matrices=False"):
        sg.jit(lambda a: np.linalg.svd(a)[0])(TALL)


def test_outside_a_trace_the_functions_are_numpys():
    np.testing.assert_array_equal(sg.linalg.cholesky(S3), np.linalg.cholesky(S3))
    assert sg.linalg.det(A3) == np.linalg.det(A3)


def test_array_formulas_name_the_factorisations():
    text = str(sg.grad(lambda a: np.linalg.slogdet(a)[1]).formula(A4))
    assert "solve(a, I4).T" in text
    assert "cholesky(a)" in str(sg.jit(lambda a: np.linalg.cholesky(a).sum()).formula(np.eye(30)))


# ----- the primitives at the array level -----

PRIMITIVES = {
    "cholesky": (lambda a, b: L.cholesky(a), "spd"),
    "triangular_solve": (lambda a, b: L.triangular_solve(E.add(a, array_const(4 * np.eye(3), "i")), b), "any"),
    "triangular_solve_upper_transposed": (
        lambda a, b: L.triangular_solve(E.add(a, array_const(4 * np.eye(3), "i")), b, False, True), "any"),
    "solve": (lambda a, b: L.solve(E.add(a, array_const(4 * np.eye(3), "i")), b), "any"),
    "slogdet": (lambda a, b: L.slogdet(E.add(a, array_const(4 * np.eye(3), "i"))), "any"),
    "eigh": (lambda a, b: S.eigh(a), "spd"),
    "svd": (lambda a, b: S.svd(a), "any"),
    "eig": (lambda a, b: S.eig(E.add(a, array_const(np.diag([0.0, 3.0, 6.0]), "d"))), "spd"),
}
SCALARISABLE = {"cholesky", "triangular_solve", "triangular_solve_upper_transposed", "solve", "slogdet"}


def _point(kind, rng):
    a = _spd(3, rng) if kind == "spd" else rng.uniform(-1.0, 1.0, (3, 3))
    return a, rng.uniform(-1.0, 1.0, (3, 2))


@pytest.fixture(params=sorted(PRIMITIVES), ids=str)
def primitive(request):
    build, kind = PRIMITIVES[request.param]
    a, b = symbol("pa", 7, (3, 3)), symbol("pb", 7, (3, 2))
    return request.param, build(a, b), (a, b), kind, np.random.default_rng(len(request.param))


def test_primitive_jvp_vjp_and_second_order(primitive):
    name, out, (a, b), kind, rng = primitive
    values = dict(zip((a, b), _point(kind, rng)))
    tangents = [rng.normal(size=(3, 3)), rng.normal(size=(3, 2))]
    tangent_nodes = [array_const(t, "t") for t in tangents]
    got = evaluate(jvp([out], [a, b], tangent_nodes), values)[0]
    h = 1e-6
    shifted = lambda s: evaluate([out], {a: values[a] + s * tangents[0], b: values[b] + s * tangents[1]})[0]  # noqa
    np.testing.assert_allclose(got, (shifted(h) - shifted(-h)) / (2 * h), rtol=1e-6, atol=1e-7)
    u = rng.normal(size=out.shape)
    cotangents = evaluate(vjp([out], [array_const(u, "u")], [a, b]), values)
    assert np.sum(u * got) == pytest.approx(sum(np.sum(c * t) for c, t in zip(cotangents, tangents)), rel=1e-10)
    scalar = reduce_sum(E.mul(E.sin(out), array_const(u, "w")), tuple(range(out.ndim)))
    grads = vjp([scalar], [1.0], [a, b])
    second = evaluate(jvp(grads, [a, b], tangent_nodes), values)
    plus = evaluate(grads, {a: values[a] + 1e-5 * tangents[0], b: values[b] + 1e-5 * tangents[1]})
    minus = evaluate(grads, {a: values[a] - 1e-5 * tangents[0], b: values[b] - 1e-5 * tangents[1]})
    for s, p, m in zip(second, plus, minus):
        np.testing.assert_allclose(s, (p - m) / 2e-5, rtol=1e-5, atol=1e-6)


def test_primitive_batching_rule_equals_a_loop(primitive):
    name, out, (a, b), kind, rng = primitive
    batched_a = symbol("qa", 7, (3, 3, 3))
    (result, is_batched), = vectorize([out], {a: batched_a})
    assert is_batched
    points = [_point(kind, rng) for _ in range(3)]
    b_value = points[0][1]
    got = evaluate([result], {batched_a: np.stack([p[0] for p in points]), b: b_value})[0]
    for k, (a_value, _) in enumerate(points):
        np.testing.assert_allclose(got[k], evaluate([out], {a: a_value, b: b_value})[0], rtol=1e-12, atol=1e-12)


def test_primitive_scalar_expansion_equals_the_array_evaluation(primitive):
    from symgrad.scalarize import scalarize, symbol_elements

    name, out, (a, b), kind, rng = primitive
    if name not in SCALARISABLE:
        pytest.skip(f"`{name}` has no expansion into scalars (lowered to loops)")
    values = _point(kind, rng)
    mapping = {}
    for s, v in zip((a, b), values):
        mapping.update(zip(symbol_elements(s.param[0], s.shape, s.param[1]).flat, v.flat))
    (elements,) = scalarize([out])
    got = np.array(evaluate(list(elements.flat), mapping), dtype=float).reshape(out.shape)
    np.testing.assert_allclose(got, evaluate([out], dict(zip((a, b), values)))[0], rtol=1e-12, atol=1e-12)
