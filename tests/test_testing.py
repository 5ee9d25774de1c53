"""`symgrad.testing.check_grads`: it passes on correct derivatives and catches wrong ones."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import symgrad as sg
import symgrad.testing
from symgrad.testing import check_grads


def test_docstring_examples():
    failures, tried = doctest.testmod(symgrad.testing, raise_on_error=False)
    assert tried > 0 and failures == 0


@pytest.mark.parametrize("f, args, order", [
    (lambda x: sg.sin(x) * sg.exp(-x * x), (0.3,), 3),
    (lambda x, y: sg.hypot(x, y) + sg.arctan2(y, x), (1.2, -0.7), 2),
    (lambda w, x: sg.logsumexp(np.tanh(x @ w), axis=1), (np.full((3, 2), 0.3), np.eye(3)[:2] + 0.1), 2),
    (lambda x: np.stack([x.prod(), (x**3).sum(), sg.sigmoid(x[0])]), (np.array([0.5, -1.5, 2.0]),), 2),
], ids=["unary-order3", "binary", "matrix", "vector-out"])
def test_check_grads_passes_on_correct_derivatives(f, args, order):
    check_grads(f, args, order=order)  # raises AssertionError on a mismatch


@pytest.mark.parametrize("modes", [("rev",), ("fwd",), ("fwd", "rev")])
def test_check_grads_catches_a_wrong_derivative(modes):
    @sg.custom_vjp
    def square(x):
        return x * x

    square.defvjp(lambda x: (x * x, x), lambda x, g: (3.0 * x * g,))  # wrong: should be 2 x g
    with pytest.raises(AssertionError, match="disagrees with central finite differences"):
        check_grads(lambda x: square(x) + x, (1.5,), order=1, modes=("rev",))
    # stop_gradient hides part of the dependence from every mode
    with pytest.raises(AssertionError, match=r"order 1"):
        check_grads(lambda x: x * sg.stop_gradient(x), (1.5,), order=1, modes=modes)


def test_check_grads_catches_a_wrong_second_derivative():
    # first derivative right (x * x), second wrong: stop_gradient on the derivative's own input
    def f(x):
        return x**3 / 3 + (x - sg.stop_gradient(x)) ** 2

    check_grads(f, (0.8,), order=1)
    with pytest.raises(AssertionError, match=r"order 2"):
        check_grads(f, (0.8,), order=2, modes=("rev",))


def test_check_grads_rejects_bad_options():
    with pytest.raises(ValueError, match="modes"):
        check_grads(sg.sin, (1.0,), modes=("sideways",))
    with pytest.raises(ValueError, match="order"):
        check_grads(sg.sin, (1.0,), order=0)
