"""`jvp` and `vjp`: agreement with the Jacobian, the adjoint identity, `vjp_fn`'s contract,
and a fourth derivative through a deep composition checked against SymPy."""

import numpy as np
import pytest
import sympy

import symgrad as sg

RNG_SEED = 20240611


def _f_trig(x):  # (4,) -> (3,)
    return np.stack([np.sin(x[0]) * x[1], np.cos(x[2] * x[3]) + x[0] ** 2, np.tanh(x.sum())])


def _f_matrix(w):  # (2, 3) -> (2, 2)
    return np.tanh(w @ w.T) + np.exp(w[:, :2] / 3)


def _f_reduce(x):  # (5,) -> ()
    return np.log(1 + (x**2).sum()) * np.sin(x[0])


def _f_scalar(x):  # () -> (2,)
    return np.stack([np.exp(np.sin(x)), x**3])


FUNCTIONS = [(_f_trig, (4,)), (_f_matrix, (2, 3)), (_f_reduce, (5,)), (_f_scalar, ())]


def _random(rng, shape):
    value = rng.normal(size=shape)
    return float(value) if shape == () else value


@pytest.mark.parametrize("f, shape", FUNCTIONS, ids=lambda v: getattr(v, "__name__", ""))
def test_jvp_and_vjp_agree_with_the_jacobian_and_each_other(f, shape):
    rng = np.random.default_rng(RNG_SEED)
    jacobian = sg.jacobian(f)
    for _ in range(3):
        x, t = _random(rng, shape), _random(rng, shape)
        J = np.asarray(jacobian(x))
        out_shape = J.shape[: J.ndim - len(shape)]
        flat_J = J.reshape(int(np.prod(out_shape)), int(np.prod(shape)))
        u = _random(rng, out_shape)

        out, out_tangent = sg.jvp(f, (x,), (t,))
        np.testing.assert_allclose(out, sg.jit(f)(x), rtol=1e-15, atol=0)
        np.testing.assert_allclose(np.ravel(out_tangent), flat_J @ np.ravel(t), rtol=1e-12, atol=1e-13)

        out2, vjp_fn = sg.vjp(f, x)
        np.testing.assert_allclose(out2, out, rtol=1e-15, atol=0)
        (ct,) = vjp_fn(u)
        assert np.shape(ct) == shape
        np.testing.assert_allclose(np.ravel(ct), np.ravel(u) @ flat_J, rtol=1e-12, atol=1e-13)

        # the adjoint identity <u, J t> == <J^T u, t>
        assert np.vdot(u, out_tangent) == pytest.approx(np.vdot(ct, t), rel=1e-12, abs=1e-13)


def test_jvp_and_vjp_with_several_primals():
    rng = np.random.default_rng(RNG_SEED + 1)

    def f(a, b, c):  # (3,), (3, 2), () -> (2,)
        return np.sin(a @ b) * c + b.sum(axis=0) ** 2

    a, b, c = rng.normal(size=3), rng.normal(size=(3, 2)), 0.7
    ta, tb, tc = rng.normal(size=3), rng.normal(size=(3, 2)), -0.3
    u = rng.normal(size=2)
    ja, jb, jc = sg.jacobian(f, argnums=(0, 1, 2))(a, b, c)

    out, tangent = sg.jvp(f, (a, b, c), (ta, tb, tc))
    expected_tangent = ja @ ta + np.einsum("kij,ij->k", jb, tb) + jc * tc
    np.testing.assert_allclose(tangent, expected_tangent, rtol=1e-12, atol=1e-13)

    out2, vjp_fn = sg.vjp(f, a, b, c)
    np.testing.assert_allclose(out2, out, rtol=1e-15)
    cotangents = vjp_fn(u)
    # one entry per primal, like the `grad_outputs` result of torch.autograd.grad
    assert isinstance(cotangents, tuple) and len(cotangents) == 3
    ca, cb, cc = cotangents
    assert np.shape(ca) == (3,) and np.shape(cb) == (3, 2) and np.shape(cc) == ()
    np.testing.assert_allclose(ca, u @ ja, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(cb, np.einsum("k,kij->ij", u, jb), rtol=1e-12, atol=1e-13)
    assert cc == pytest.approx(u @ jc, rel=1e-12)
    lhs = u @ tangent
    rhs = ca @ ta + (cb * tb).sum() + cc * tc
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_vjp_fn_returns_a_tuple_even_for_one_scalar_primal():
    out, vjp_fn = sg.vjp(lambda x: x**3, 2.0)
    assert out == 8.0
    result = vjp_fn(1.0)
    assert isinstance(result, tuple) and len(result) == 1
    assert result[0] == pytest.approx(12.0, rel=1e-15)


def test_vjp_fn_returns_a_tuple_on_every_call_with_float_primals():
    def cube(x):
        return x**3

    _, vjp_fn = sg.vjp(cube, 2.0)
    results = [vjp_fn(1.0), vjp_fn(2.0), sg.vjp(cube, 1.0)[1](1.0)]
    assert results == [(12.0,), (24.0,), (3.0,)]
    # the same for any transformation returning a 1-tuple of floats
    grads = sg.grad(lambda x, y: x * y, argnums=(0,))
    assert [grads(2.0, 3.0), grads(2.0, 3.0)] == [(3.0,), (3.0,)]


def test_vjp_fn_can_be_called_many_times_with_different_cotangents():
    x = np.array([0.3, -1.2, 2.0])
    out, vjp_fn = sg.vjp(lambda x: np.stack([x[0] * x[1], np.exp(x[2]), x.sum()]), x)
    J = np.array([[x[1], x[0], 0.0], [0.0, 0.0, np.exp(x[2])], [1.0, 1.0, 1.0]])
    rng = np.random.default_rng(RNG_SEED + 2)
    for _ in range(20):
        u = rng.normal(size=3)
        (ct,) = vjp_fn(u)
        np.testing.assert_allclose(ct, u @ J, rtol=1e-14, atol=1e-15)
    # the basis cotangents give the rows of the Jacobian
    rows = np.stack([vjp_fn(e)[0] for e in np.eye(3)])
    np.testing.assert_allclose(rows, J, rtol=1e-14, atol=0)


def test_vjp_fn_rejects_a_cotangent_with_the_wrong_number_of_elements():
    _, vjp_fn = sg.vjp(lambda x: x**2, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="cotangent"):
        vjp_fn(np.ones(3))
    _, vjp_fn = sg.vjp(lambda x, y: x * y, 2.0, 3.0)
    with pytest.raises(ValueError, match="cotangent"):
        vjp_fn(np.ones(2))


def test_vjp_fn_rejects_a_cotangent_of_the_right_size_but_wrong_shape():
    _, vjp_fn = sg.vjp(lambda x: x**2, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="cotangent"):
        vjp_fn(np.ones((2, 1)))


def test_jvp_rejects_tangents_that_do_not_match_the_primals():
    with pytest.raises(ValueError, match="shape"):
        sg.jvp(lambda x: x * 2, (np.ones(3),), (np.ones(4),))
    with pytest.raises(ValueError):
        sg.jvp(lambda x, y: x * y, (1.0, 2.0), (1.0,))


def test_fourth_derivative_of_a_deep_composition_matches_sympy():
    def f(x, m):
        return m.sin(m.cos(m.sin(m.cos(m.sin(x))))) * m.exp(x / 3) + x**2

    d4 = sg.grad(sg.grad(sg.grad(sg.grad(lambda x: f(x, sg)))))
    X = sympy.Symbol("x")
    exact = sympy.diff(f(X, sympy), X, 4)
    for point in [-1.3, 0.0, 0.4, 2.1]:
        expected = float(exact.evalf(40, subs={X: sympy.Float(point, 40)}))
        assert d4(point) == pytest.approx(expected, rel=1e-8)


def test_jvp_of_a_gradient_is_a_hessian_vector_product():
    rng = np.random.default_rng(RNG_SEED + 3)

    def f(x):
        return (np.sin(x) * x[::-1]).sum() + (x**4).sum()

    x, t = rng.normal(size=4), rng.normal(size=4)
    _, hvp = sg.jvp(sg.grad(f), (x,), (t,))
    np.testing.assert_allclose(hvp, sg.hessian(f)(x) @ t, rtol=1e-12, atol=1e-13)
