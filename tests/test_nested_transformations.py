"""A transformed function called inside another trace: with traced arguments it returns traced
results, and with concrete arguments it still runs symbolically, because it may close over the
outer trace's values (JAX gives the same numbers)."""

import numpy as np

import symgrad as sg


def test_inner_gradient_called_with_a_number_may_close_over_the_outer_variable():
    # x * d(x*y)/dy = x**2, whose derivative at 1 is 2 (JAX 0.10: 2.0)
    assert sg.grad(lambda x: x * sg.grad(lambda y: x * y)(2.0))(1.0) == 2.0
    # x * d(x*y**2)/dy at y = 2 is 4*x**2: derivative 8*x
    assert sg.grad(lambda x: x * sg.grad(lambda y: x * y ** 2)(2.0))(1.5) == 12.0


def test_inner_jacobian_and_vmap_closing_over_the_outer_variable():
    inner = lambda x: sg.jacobian(lambda y: x * y ** 2)(np.ones(2)).sum()  # 4*x
    assert sg.hessian(lambda x: x * inner(x))(1.5) == 8.0
    batched = lambda x: sg.vmap(sg.grad(lambda y: x * y ** 3))(np.array([1.0, 2.0])).sum()  # 15*x
    assert sg.grad(lambda x: x * batched(x))(2.0) == 60.0


def test_a_compiled_derivative_used_inside_a_trace_with_constants_gives_the_same_number():
    df = sg.grad(lambda y: y ** 3)
    assert df(2.0) == 12.0  # compiled and cached before the outer trace
    assert sg.grad(lambda x: x * df(2.0))(1.0) == 12.0
    assert sg.grad(lambda x: df(x))(2.0) == 12.0
    assert df(2.0) == 12.0


def test_a_custom_rule_called_with_a_number_inside_a_trace():
    @sg.custom_vjp
    def square(x):
        return x ** 2

    square.defvjp(lambda x: (x ** 2, x), lambda x, g: (2 * x * g,))
    # not called outside a trace first: the first call is the traced one
    assert sg.grad(lambda x: x * square(2.0))(1.0) == 4.0
    assert sg.grad(lambda x: square(x) * square(2.0))(1.5) == 12.0
    assert square(3.0) == 9.0
