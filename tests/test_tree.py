"""Pytrees (`symgrad/tree.py`): one registry of node types, JAX's rules, and no silent pass-through."""

import dataclasses
import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

import symgrad as sg


@dataclasses.dataclass
class Unregistered:
    w: float


@sg.register_dataclass
@dataclasses.dataclass
class Params:
    w: np.ndarray
    b: float
    name: str = dataclasses.field(default="layer", metadata={"static": True})


class Pair:
    def __init__(self, first, second):
        self.first, self.second = first, second


sg.register_pytree_node(Pair, lambda p: ((p.first, p.second), "pair"), lambda aux, children: Pair(*children))


@pytest.mark.parametrize("transform", [sg.grad, sg.jacobian, sg.hessian, sg.jit], ids=lambda t: t.__name__)
def test_an_unregistered_class_as_argument_is_refused_with_how_to_register_it(transform):
    with pytest.raises(TypeError) as info:
        transform(lambda p: p.w ** 2)(Unregistered(3.0))
    message = str(info.value)
    assert "Unregistered" in message
    assert "register_dataclass(Unregistered)" in message and "register_pytree_node" in message


def test_an_unregistered_class_as_result_is_refused():
    with pytest.raises(TypeError, match="Unregistered"):
        sg.jit(lambda x: Unregistered(x))(1.0)


def test_a_registered_dataclass_has_a_gradient_of_the_same_class_with_static_fields_kept():
    p = Params(np.array([1.0, 2.0]), 0.5, "dense")
    g = sg.grad(lambda p: (p.w ** 2).sum() * p.b)(p)
    assert isinstance(g, Params) and g.name == "dense"
    np.testing.assert_array_equal(g.w, [1.0, 2.0])
    assert g.b == 5.0
    assert "dp.w[0]" in str(sg.grad(lambda p: (p.w ** 2).sum() * p.b).formula(p))
    # the static field is part of the signature: another value traces again
    f = sg.jit(lambda p: p.b * (2.0 if p.name == "dense" else 3.0))
    assert f(p) == 1.0 and f(Params(p.w, 0.5, "other")) == 1.5


def test_register_pytree_node_lets_a_class_through_every_transformation():
    f = lambda p: p.first * p.second ** 2
    g = sg.grad(f)(Pair(2.0, 3.0))
    assert isinstance(g, Pair) and (g.first, g.second) == (9.0, 12.0)
    out, tangent = sg.jvp(f, (Pair(2.0, 3.0),), (Pair(1.0, 0.0),))
    assert (out, tangent) == (18.0, 9.0)
    batched = sg.vmap(sg.grad(f))(Pair(np.array([1.0, 2.0]), np.array([3.0, 4.0])))
    np.testing.assert_array_equal(batched.second, [6.0, 16.0])


def test_register_dataclass_refuses_a_class_that_is_not_a_dataclass():
    with pytest.raises(TypeError, match="dataclass"):
        sg.register_dataclass(Pair)


@pytest.mark.parametrize("value", [Fraction(3, 2), Decimal("1.5")], ids=["Fraction", "Decimal"])
def test_other_real_numbers_are_converted_to_float64_as_numpy_would(value):
    f = lambda x: sg.sin(x) * x ** 3
    expected = math.cos(1.5) * 1.5 ** 3 + 3 * 1.5 ** 2 * math.sin(1.5)  # 6.97...
    assert sg.grad(f)(value) == pytest.approx(expected, rel=1e-15)
    assert sg.jit(f)(value) == pytest.approx(f(1.5), rel=1e-15)


def test_a_decimal_that_is_no_float_is_refused():
    with pytest.raises(ValueError, match="float64"):
        sg.grad(lambda x: x * 2)(Decimal("sNaN"))


@pytest.mark.parametrize("transform", [sg.grad, sg.jacobian, sg.jacfwd, sg.hessian, sg.value_and_grad],
                         ids=lambda t: t.__name__)
@pytest.mark.parametrize("value", ["abc", ("abc", 1.0), {"name": "abc"}], ids=["str", "tuple", "dict"])
def test_derivatives_with_respect_to_strings_are_type_errors(transform, value):
    with pytest.raises(TypeError, match="str"):
        transform(lambda s: 1.0)(value)


def test_strings_pass_unchanged_through_jit_and_unmapped_arguments():
    assert sg.jit(lambda x, mode: x * (2.0 if mode == "double" else 1.0))(3.0, "double") == 6.0
    assert sg.grad(lambda x, mode: x * (2.0 if mode == "double" else 1.0))(3.0, "double") == 2.0


def test_none_is_an_empty_subtree():
    assert sg.grad(lambda x, nothing: x * 2)(1.0, None) == 2.0
    assert sg.grad(lambda p: p[0] * 2)((3.0, None)) == (2.0, None)
    assert sg.grad(lambda p: p["x"] ** 2)({"x": 3.0, "unused": None}) == {"x": 6.0, "unused": None}


def test_jvp_of_a_tuple_primal_whose_leaves_have_different_shapes():
    f = lambda p: p[0].sum() * (p[1] ** 2).sum()
    primal = (np.ones(3), np.ones((2, 2)))
    out, tangent = sg.jvp(f, (primal,), ((np.zeros(3), np.ones((2, 2))),))
    assert out == 12.0 and tangent == 24.0
    with pytest.raises(ValueError, match="tangent has shape"):
        sg.jvp(f, (primal,), ((np.ones(3), np.ones(4)),))
    with pytest.raises(ValueError, match="has 2 arrays but its tangent has 1"):
        sg.jvp(f, (primal,), ((np.ones(3),),))


def test_vmap_with_a_dict_in_axes_maps_the_leaves_it_names():
    f = lambda p: (p["w"] * p["x"]).sum()
    X = np.arange(6.0).reshape(3, 2)
    p = {"w": np.array([1.0, 2.0]), "x": X}
    np.testing.assert_array_equal(sg.vmap(f, in_axes=({"w": None, "x": 0},))(p), X @ p["w"])
    grads = sg.vmap(sg.grad(f), in_axes=({"w": None, "x": 0},))(p)
    np.testing.assert_array_equal(grads["w"], X)
    np.testing.assert_array_equal(grads["x"], np.tile(p["w"], (3, 1)))
    # inside a traced function too (a sum over data)
    np.testing.assert_array_equal(
        sg.grad(lambda w: sg.vmap(f, in_axes=({"w": None, "x": 0},))({"w": w, "x": X}).sum())(p["w"]),
        X.sum(0))


def test_vmap_in_axes_that_do_not_fit_the_argument_say_so():
    f = lambda p: (p["w"] * p["x"]).sum()
    p = {"w": np.ones(2), "x": np.ones((3, 2))}
    with pytest.raises(ValueError, match="pytree prefix"):
        sg.vmap(f, in_axes=({"w": None},))(p)
    with pytest.raises(ValueError, match="pytree prefix"):
        sg.vmap(f, in_axes=("zero",))(p)
