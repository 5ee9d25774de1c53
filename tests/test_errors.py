"""Every error users can provoke: its type, and a message that says what to do.

Each case runs in this process, so a crash in native code would take the
test run down with it; after the bad calls, the kernels still give right
answers.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import symgrad as sg

# ----- Python control flow on traced values -----


def branch_on_input(x):
    if x > 0:
        return x
    return -x


def loop_on_input(x):
    while x > 1.0:
        x = x / 2
    return x


def bool_of_input(x):
    return x * 2 if bool(x) else x


def float_of_input(x):
    return float(x) * 2


def _line_of(fun, text: str) -> int:
    lines, first = inspect.getsourcelines(fun)
    return first + next(i for i, line in enumerate(lines) if text in line)


@pytest.mark.parametrize("fun, text, kind", [
    (branch_on_input, "if x > 0:", "bool"),
    (loop_on_input, "while x > 1.0:", "bool"),
    (bool_of_input, "return x * 2 if bool(x) else x", "bool"),
    (float_of_input, "return float(x) * 2", "float"),
], ids=["if", "while", "bool", "float"])
@pytest.mark.parametrize("transform", [sg.grad, sg.jit], ids=["grad", "jit"])
def test_control_flow_on_a_traced_value_raises_tracing_error(fun, text, kind, transform):
    with pytest.raises(sg.TracingError) as info:
        transform(fun)(2.0)
    message = str(info.value)
    assert isinstance(info.value, TypeError) and isinstance(info.value, sg.SymgradError)
    assert f"Python {kind}" in message
    assert f"`{fun.__name__}`" in message
    assert f"test_errors.py:{_line_of(fun, text)}" in message
    assert f"`{text}`" in message
    assert "where" in message


def test_tracing_error_inside_nested_grad_names_the_function():
    with pytest.raises(sg.TracingError, match="branch_on_input"):
        sg.grad(sg.grad(branch_on_input))(2.0)


# ----- Gradients -----


def test_gradient_of_non_scalar_output_names_the_shape_and_the_fixes():
    with pytest.raises(TypeError) as info:
        sg.grad(lambda x: x * 2)(np.ones(3))
    message = str(info.value)
    assert "scalar" in message and "(3,)" in message
    assert ".sum()" in message and "jacobian" in message


def test_argnums_out_of_range():
    with pytest.raises(ValueError, match=r"argnums 2 is out of range .* 2 positional arguments"):
        sg.grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)
    with pytest.raises(ValueError, match="argnums -3"):
        sg.grad(lambda x, y: x * y, argnums=(0, -3))(1.0, 2.0)


def test_argnums_must_be_ints():
    with pytest.raises(TypeError, match="argnums must be an int"):
        sg.grad(lambda x: x, argnums="0")(1.0)


def test_gradient_with_respect_to_an_int_argument():
    with pytest.raises(TypeError) as info:
        sg.grad(lambda x, n: x * n, argnums=1)(1.0, 2)
    message = str(info.value)
    assert "argument 1" in message and "int" in message and "float" in message


def test_int_arguments_are_constants():
    assert sg.grad(lambda x, n: x**n)(2.0, 3) == 12.0


def test_has_aux_requires_a_pair():
    with pytest.raises(TypeError, match=r"has_aux=True.*pair"):
        sg.grad(lambda x: x**2, has_aux=True)(1.0)


def test_transforming_a_non_callable():
    with pytest.raises(TypeError, match="expects a callable"):
        sg.grad(3.0)


def test_complex_argument_is_refused():
    with pytest.raises(TypeError, match="complex"):
        sg.grad(lambda x: x * 2)(1.0 + 2.0j)


def test_wrong_argument_count_to_transformed_function():
    with pytest.raises(TypeError, match="missing a required argument"):
        sg.grad(lambda x, y: x * y)(1.0)


# ----- Compiled kernels -----


def _kernel():
    return sg.jit(lambda x, w: (x * w).sum()).compile(1.0, np.ones(3))


def test_kernel_wrong_argument_count():
    kernel = _kernel()
    with pytest.raises(TypeError, match=r"takes 2 arguments \(x, w\), got 1"):
        kernel(1.0)
    with pytest.raises(TypeError, match="got 3"):
        kernel(1.0, np.ones(3), 2.0)


@pytest.mark.parametrize("name, args, expected, given", [
    ("w", (1.0, np.ones(4)), "(3,)", "(4,)"),
    ("w", (1.0, np.ones((3, 1))), "(3,)", "(3, 1)"),
    ("x", (np.ones(2), np.ones(3)), "()", "(2,)"),
])
def test_kernel_wrong_shape_names_argument_and_both_shapes(name, args, expected, given):
    with pytest.raises(ValueError) as info:
        _kernel()(*args)
    message = str(info.value)
    assert f"`{name}`" in message
    assert f"expected shape {expected}" in message and f"got shape {given}" in message


@pytest.mark.parametrize("value, kind", [
    (np.ones(3, dtype=complex), "complex128"),
    (np.array(["a", "b", "c"]), "<U1"),
    ("abc", "str"),
    (None, "object"),
    ([1.0, [2.0], 3.0], "list"),
], ids=["complex", "strings", "str", "None", "ragged"])
def test_kernel_wrong_dtype_names_argument(value, kind):
    with pytest.raises(TypeError) as info:
        _kernel()(1.0, value)
    message = str(info.value)
    assert "`w`" in message and kind in message


def test_kernel_still_works_after_bad_calls_and_does_not_modify_inputs():
    kernel = _kernel()
    for bad in [(1.0,), (1.0, np.ones(4)), (1.0, "abc"), (np.ones(2), np.ones(3))]:
        with pytest.raises((TypeError, ValueError)):
            kernel(*bad)
    w = np.array([1.0, 2.0, 3.0])
    assert kernel(2.0, w) == [12.0]
    np.testing.assert_array_equal(w, [1.0, 2.0, 3.0])
    # ints and int arrays are converted, as NumPy would
    assert kernel(2, np.array([1, 2, 3])) == [12.0]
