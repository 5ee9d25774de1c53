"""`custom_vjp` and `custom_jvp`: the hand-written rule is the one used, in every mode and
at higher order, and mistakes in defining it are reported."""

import numpy as np
import pytest

import symgrad as sg


def _line_with(bwd):
    @sg.custom_vjp
    def line(w, x, b):
        return w * x + b

    def line_fwd(w, x, b):
        return w * x + b, (w, x)

    line.defvjp(line_fwd, bwd)
    return line


def _line_bwd(res, g):
    w, x = res
    return g * x, g * w, g


# ----- custom_vjp -----


def test_line_with_a_hand_written_backward_rule():
    line = _line_with(_line_bwd)
    assert line(2.0, 3.0, 1.0) == 7.0
    assert sg.jit(lambda w, x, b: line(w, x, b) * 2)(2.0, 3.0, 1.0) == 14.0
    dw, dx, db = sg.grad(line, argnums=(0, 1, 2))(2.0, 3.0, 1.0)
    assert (dw, dx, db) == (3.0, 2.0, 1.0)
    # composed with other operations, the chain rule passes through the rule
    loss = sg.grad(lambda w, x, b: (line(w, x, b) - 10.0) ** 2, argnums=(0, 1, 2))
    assert loss(2.0, 3.0, 1.0) == (2 * (7.0 - 10.0) * 3.0, 2 * (7.0 - 10.0) * 2.0, 2 * (7.0 - 10.0))


def test_line_on_arrays():
    line = _line_with(_line_bwd)
    rng = np.random.default_rng(0)
    w, x, b = rng.normal(size=4), rng.normal(size=4), rng.normal(size=4)
    np.testing.assert_allclose(sg.jit(line)(w, x, b), w * x + b, rtol=1e-15)
    gw, gx, gb = sg.grad(lambda w, x, b: (line(w, x, b) ** 2).sum(), argnums=(0, 1, 2))(w, x, b)
    y = w * x + b
    np.testing.assert_allclose(gw, 2 * y * x, rtol=1e-14)
    np.testing.assert_allclose(gx, 2 * y * w, rtol=1e-14)
    np.testing.assert_allclose(gb, 2 * y, rtol=1e-14)


def test_a_deliberately_different_backward_rule_is_used():
    def wrong_bwd(res, g):
        w, x = res
        return 2 * g * x, g * w**2, 0.0 * g

    line = _line_with(wrong_bwd)
    assert line(2.0, 3.0, 1.0) == 7.0  # the value is the function's
    dw, dx, db = sg.grad(line, argnums=(0, 1, 2))(2.0, 3.0, 1.0)
    assert (dw, dx, db) == (6.0, 4.0, 0.0)  # not (3, 2, 1): the rule wins
    # in reverse-mode Jacobians and in forward mode alike
    np.testing.assert_array_equal(
        sg.jacrev(lambda v: line(v[0], v[1], v[2]))(np.array([2.0, 3.0, 1.0])), [6.0, 4.0, 0.0]
    )
    np.testing.assert_array_equal(
        sg.jacfwd(lambda v: line(v[0], v[1], v[2]))(np.array([2.0, 3.0, 1.0])), [6.0, 4.0, 0.0]
    )
    assert sg.jvp(line, (2.0, 3.0, 1.0), (1.0, 0.0, 0.0))[1] == 6.0


def test_higher_order_through_a_vjp_rule():
    @sg.custom_vjp
    def my_sin(x):
        return np.sin(x)

    my_sin.defvjp(lambda x: (np.sin(x), x), lambda x, g: (g * np.cos(x),))
    for point in [-1.0, 0.3, 2.0]:
        assert sg.grad(my_sin)(point) == pytest.approx(np.cos(point), rel=1e-15)
        assert sg.grad(sg.grad(my_sin))(point) == pytest.approx(-np.sin(point), rel=1e-15)
        assert sg.grad(sg.grad(sg.grad(my_sin)))(point) == pytest.approx(-np.cos(point), rel=1e-14)
        assert sg.hessian(my_sin)(point) == pytest.approx(-np.sin(point), rel=1e-15)

    # a rule that differs from the true derivative is differentiated as written
    @sg.custom_vjp
    def odd(x):
        return np.sin(x)

    odd.defvjp(lambda x: (np.sin(x), x), lambda x, g: (g * x**3,))
    assert sg.grad(odd)(2.0) == 8.0
    assert sg.grad(sg.grad(odd))(2.0) == 12.0
    assert sg.grad(sg.grad(sg.grad(odd)))(2.0) == 12.0


def test_custom_vjp_with_residuals_not_the_inputs_and_none_cotangent():
    @sg.custom_vjp
    def scaled_exp(x, n):
        return np.exp(x) * n

    def fwd(x, n):
        y = np.exp(x) * n
        return y, (y,)

    def bwd(res, g):
        (y,) = res
        return g * y, None  # no cotangent for the integer argument

    scaled_exp.defvjp(fwd, bwd)
    assert sg.grad(scaled_exp)(0.5, 3) == pytest.approx(3 * np.exp(0.5), rel=1e-15)


@pytest.mark.parametrize("decorator, method", [(sg.custom_vjp, "defvjp"), (sg.custom_jvp, "defjvp")])
def test_a_custom_rule_function_without_a_rule_is_an_error(decorator, method):
    f = decorator(lambda x: x * 2)
    with pytest.raises(TypeError, match=method):
        sg.grad(f)(1.0)


def test_bwd_returning_the_wrong_number_of_cotangents_is_an_error():
    too_few = _line_with(lambda res, g: (g * res[1], g * res[0]))
    with pytest.raises(TypeError, match="one cotangent per argument"):
        sg.grad(too_few)(2.0, 3.0, 1.0)
    not_a_tuple = _line_with(lambda res, g: g * res[1])
    with pytest.raises(TypeError, match="one cotangent per argument"):
        sg.grad(not_a_tuple)(2.0, 3.0, 1.0)


def test_bwd_returning_a_cotangent_of_the_wrong_shape_is_an_error():
    @sg.custom_vjp
    def f(x):
        return x.sum()

    f.defvjp(lambda x: (x.sum(), None), lambda res, g: (np.stack([g, g, g]),))
    with pytest.raises(ValueError, match="shape"):
        sg.grad(f)(np.ones(2))


# ----- custom_jvp -----


def _softplus_with(tangent_rule):
    @sg.custom_jvp
    def softplus(x):
        return np.log(1 + np.exp(x))

    @softplus.defjvp
    def softplus_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return np.log(1 + np.exp(x)), tangent_rule(x) * t

    return softplus


def test_custom_jvp_rule_is_used_forward_and_reverse():
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    softplus = _softplus_with(sigmoid)
    for point in [-2.0, 0.0, 1.5]:
        expected = sigmoid(point)
        assert softplus(point) == pytest.approx(np.log1p(np.exp(point)), rel=1e-15)
        assert sg.jvp(softplus, (point,), (1.0,))[1] == pytest.approx(expected, rel=1e-15)
        assert sg.grad(softplus)(point) == pytest.approx(expected, rel=1e-15)
        assert sg.jacfwd(softplus)(point) == pytest.approx(expected, rel=1e-15)
        assert sg.jacrev(softplus)(point) == pytest.approx(expected, rel=1e-15)


def test_a_deliberately_different_jvp_rule_is_used():
    softplus = _softplus_with(lambda x: 3 * x**2)
    assert sg.jvp(softplus, (2.0,), (0.5,))[1] == 6.0
    assert sg.grad(softplus)(2.0) == 12.0
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(sg.jacfwd(softplus)(x), np.diag(3 * x**2))
    np.testing.assert_array_equal(sg.jacrev(softplus)(x), np.diag(3 * x**2))
    # higher order differentiates the rule: d/dx 3 x^2 = 6 x
    assert sg.grad(sg.grad(softplus))(2.0) == 12.0
    assert sg.hessian(softplus)(2.0) == 12.0


def test_custom_jvp_rule_may_call_the_function_itself():
    # JAX's documented pattern: the rule computes the primal output by calling `f`.
    @sg.custom_jvp
    def f(x):
        return np.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), 2 * t

    assert sg.grad(f)(1.0) == 2.0


def test_custom_jvp_with_several_arguments():
    @sg.custom_jvp
    def mul(a, b):
        return a * b

    @mul.defjvp
    def mul_jvp(primals, tangents):
        (a, b), (ta, tb) = primals, tangents
        return a * b, 10 * ta * b + a * tb

    assert sg.grad(mul, argnums=(0, 1))(2.0, 3.0) == (30.0, 2.0)
    assert sg.jvp(mul, (2.0, 3.0), (1.0, 1.0))[1] == 32.0

