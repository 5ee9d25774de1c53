"""Scalar primitives: arithmetic, elementary functions, comparisons, `where`.

One `defprimitive` call per primitive. Derivatives are written with the
builders of this module (`mul`, `cos`, `where`, ...), so a derivative is a
graph of the same primitives and can be differentiated again. Conventions at
kinks follow JAX: `abs'(0) = 1` (the x >= 0 branch), `relu'(0) = 0`, `maximum`
splits ties evenly.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import Node
from .registry import (
    Compare,
    Identity,
    Instruction,
    Intrinsic,
    Libm,
    Power,
    Select,
    const,
    const_p,
    const_value,
    defprimitive,
    is_const,
    is_integer_const,
    is_structural_zero,
)

LN2 = math.log(2.0)
LN10 = math.log(10.0)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _as_float(fn):
    """Wrap a NumPy function returning bools so that it returns 1.0/0.0."""
    return lambda *xs: np.asarray(fn(*xs), dtype=np.float64)


_erf = np.vectorize(math.erf, otypes=[np.float64])

# ----- Arithmetic -----


def _add_simplify(x: Node, y: Node) -> Node | None:
    if is_const(x, 0.0):
        return y
    if is_const(y, 0.0):
        return x
    if y.op is neg_p:
        return sub(x, y.args[0])
    if x.op is neg_p:
        return sub(y, x.args[0])
    return None


def _sub_simplify(x: Node, y: Node) -> Node | None:
    if is_const(y, 0.0):
        return x
    if is_const(x, 0.0):
        return neg(y)
    if y.op is neg_p:
        return add(x, y.args[0])
    # -a - b is -(a + b), exactly: the negation then folds into a later sum as a subtraction.
    if x.op is neg_p:
        return neg(add(x.args[0], y))
    return None


def _mul_simplify(x: Node, y: Node) -> Node | None:
    # A structural zero absorbs (it stands for a product that was never built).
    if is_structural_zero(x):
        return x
    if is_structural_zero(y):
        return y
    if x.op is not const_p and y.op is const_p:
        x, y = y, x
    if x.op is const_p:
        c = const_value(x)
        if c == 1.0:
            return y
        if c == -1.0:
            return neg(y)
        # c1 * (c2 * z) -> (c1*c2) * z and c * (-z) -> (-c) * z: rounding may
        # differ in the last bit from the unfolded product (like -fassociative-math).
        if y.op is mul_p and y.args[0].op is const_p:
            return mul(c * const_value(y.args[0]), y.args[1])
        if y.op is neg_p:
            return mul(-c, y.args[0])
    if x.op is neg_p and y.op is neg_p:
        return mul(x.args[0], y.args[0])
    if x.op is neg_p:
        return neg(mul(x.args[0], y))
    if y.op is neg_p:
        return neg(mul(x, y.args[0]))
    return None


def _div_simplify(x: Node, y: Node) -> Node | None:
    if is_structural_zero(x):
        return x
    if is_const(y, 1.0):
        return x
    if is_const(y, -1.0):
        return neg(x)
    return None


def _neg_simplify(x: Node) -> Node | None:
    if is_structural_zero(x):
        return x
    if x.op is neg_p:
        return x.args[0]
    return None


def _pow_simplify(x: Node, y: Node) -> Node | None:
    if is_const(y, 1.0):
        return x
    if is_const(y, 0.0):
        return const(1.0)
    # (x**a)**b -> x**(a*b) holds for every real x when b is an integer.
    if x.op is pow_p and is_integer_const(y) and x.args[1].op is const_p:
        return power(x.args[0], const_value(x.args[1]) * const_value(y))
    return None


def _pow_partials(x: Node, y: Node):
    # d(x**y)/dx = y*x**(y-1); d(x**y)/dy = x**y*log(x) (only built when y varies).
    # At x = 0, x**y is 0 (y > 0) and the limit of x**y*log(x) is 0, which is what xlogy gives.
    dx = mul(y, power(x, sub(y, 1.0)))
    dy = None if y.op is const_p else xlogy(power(x, y), x)
    return dx, dy


def _xlogy_impl(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(x) == 0, 0.0, x * np.log(y))


def _xlogy_partials(x: Node, y: Node):
    # d/dx = log(y), taken as 0 at x = y = 0 (the 0*log(0) = 0 convention, so that the chain
    # through x**y*log(x) at x = 0 stays 0); d/dy = x/y, exactly 0 where x = 0 (xlogy(0, y) is 0).
    x_is_zero = equal(x, 0.0)
    dx = where(logical_and_p.bind(x_is_zero, equal(y, 0.0)), 0.0, log(y))
    dy = where(x_is_zero, 0.0, div(x, y))
    return dx, dy


add_p = defprimitive(
    "add", 2, impl=np.add, partials=lambda x, y: (1.0, 1.0), sympy="Add",
    llvm=Instruction("fadd"), simplify=_add_simplify, commutative=True, ufunc="add",
)
sub_p = defprimitive(
    "sub", 2, impl=np.subtract, partials=lambda x, y: (1.0, -1.0),
    sympy=lambda sp, x, y: x - y, llvm=Instruction("fsub"), simplify=_sub_simplify,
    ufunc="subtract",
)
mul_p = defprimitive(
    "mul", 2, impl=np.multiply, partials=lambda x, y: (y, x), sympy="Mul",
    llvm=Instruction("fmul"), simplify=_mul_simplify, commutative=True, ufunc="multiply",
)
div_p = defprimitive(
    "div", 2, impl=np.divide, partials=lambda x, y: (div(1.0, y), neg(div(x, mul(y, y)))),
    sympy=lambda sp, x, y: x / y, llvm=Instruction("fdiv"), simplify=_div_simplify,
    ufunc="divide",
)
neg_p = defprimitive(
    "neg", 1, impl=np.negative, partials=lambda x: (-1.0,), sympy=lambda sp, x: -x,
    llvm=Instruction("fneg"), simplify=_neg_simplify, ufunc="negative",
)
pow_p = defprimitive(
    "pow", 2, impl=np.power, partials=_pow_partials, sympy="Pow", llvm=Power(),
    simplify=_pow_simplify, ufunc="power",
)

# ----- Elementary functions -----

exp_p = defprimitive(
    "exp", 1, impl=np.exp, partials=lambda x: (exp(x),), sympy="exp", llvm=Intrinsic("llvm.exp"),
    ufunc="exp",
)
expm1_p = defprimitive(
    "expm1", 1, impl=np.expm1, partials=lambda x: (exp(x),),
    sympy=lambda sp, x: sp.exp(x) - 1, llvm=Libm("expm1"), ufunc="expm1",
)
log_p = defprimitive(
    "log", 1, impl=np.log, partials=lambda x: (div(1.0, x),), sympy="log",
    llvm=Intrinsic("llvm.log"), ufunc="log",
)
# x*log(y), and 0 where x = 0 whatever y is (SciPy's `xlogy`).
xlogy_p = defprimitive(
    "xlogy", 2, impl=_xlogy_impl, partials=_xlogy_partials, sympy=lambda sp, x, y: x * sp.log(y),
    decompose=lambda x, y: where(equal(x, 0.0), 0.0, mul(x, log(y))),
)
log1p_p = defprimitive(
    "log1p", 1, impl=np.log1p, partials=lambda x: (div(1.0, add(1.0, x)),),
    sympy=lambda sp, x: sp.log(1 + x), llvm=Libm("log1p"), ufunc="log1p",
)
log2_p = defprimitive(
    "log2", 1, impl=np.log2, partials=lambda x: (div(1.0 / LN2, x),),
    sympy=lambda sp, x: sp.log(x, 2), llvm=Intrinsic("llvm.log2"), ufunc="log2",
)
log10_p = defprimitive(
    "log10", 1, impl=np.log10, partials=lambda x: (div(1.0 / LN10, x),),
    sympy=lambda sp, x: sp.log(x, 10), llvm=Intrinsic("llvm.log10"), ufunc="log10",
)
sqrt_p = defprimitive(
    "sqrt", 1, impl=np.sqrt, partials=lambda x: (div(0.5, sqrt(x)),), sympy="sqrt",
    llvm=Intrinsic("llvm.sqrt"), ufunc="sqrt",
)
cbrt_p = defprimitive(
    "cbrt", 1, impl=np.cbrt, partials=lambda x: (div(1.0 / 3.0, power(cbrt(x), 2.0)),),
    sympy=lambda sp, x: sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 3), llvm=Libm("cbrt"),
    ufunc="cbrt",
)
sin_p = defprimitive(
    "sin", 1, impl=np.sin, partials=lambda x: (cos(x),), sympy="sin", llvm=Intrinsic("llvm.sin"),
    ufunc="sin",
)
cos_p = defprimitive(
    "cos", 1, impl=np.cos, partials=lambda x: (neg(sin(x)),), sympy="cos",
    llvm=Intrinsic("llvm.cos"), ufunc="cos",
)
tan_p = defprimitive(
    "tan", 1, impl=np.tan, partials=lambda x: (add(1.0, power(tan(x), 2.0)),), sympy="tan",
    llvm=Libm("tan"), ufunc="tan",
)
arcsin_p = defprimitive(
    "arcsin", 1, impl=np.arcsin, partials=lambda x: (div(1.0, sqrt(sub(1.0, mul(x, x)))),),
    sympy="asin", llvm=Libm("asin"), ufunc="arcsin",
)
arccos_p = defprimitive(
    "arccos", 1, impl=np.arccos, partials=lambda x: (div(-1.0, sqrt(sub(1.0, mul(x, x)))),),
    sympy="acos", llvm=Libm("acos"), ufunc="arccos",
)
arctan_p = defprimitive(
    "arctan", 1, impl=np.arctan, partials=lambda x: (div(1.0, add(1.0, mul(x, x))),),
    sympy="atan", llvm=Libm("atan"), ufunc="arctan",
)
arctan2_p = defprimitive(
    "arctan2", 2, impl=np.arctan2,
    # d atan2(y, x) = (x dy - y dx) / (x² + y²)
    partials=lambda y, x: (
        div(x, add(mul(x, x), mul(y, y))),
        neg(div(y, add(mul(x, x), mul(y, y)))),
    ),
    sympy="atan2", llvm=Libm("atan2"), ufunc="arctan2",
)
sinh_p = defprimitive(
    "sinh", 1, impl=np.sinh, partials=lambda x: (cosh(x),), sympy="sinh", llvm=Libm("sinh"),
    ufunc="sinh",
)
cosh_p = defprimitive(
    "cosh", 1, impl=np.cosh, partials=lambda x: (sinh(x),), sympy="cosh", llvm=Libm("cosh"),
    ufunc="cosh",
)
tanh_p = defprimitive(
    "tanh", 1, impl=np.tanh, partials=lambda x: (sub(1.0, power(tanh(x), 2.0)),), sympy="tanh",
    llvm=Libm("tanh"), ufunc="tanh",
)
arcsinh_p = defprimitive(
    "arcsinh", 1, impl=np.arcsinh, partials=lambda x: (div(1.0, sqrt(add(mul(x, x), 1.0))),),
    sympy="asinh", llvm=Libm("asinh"), ufunc="arcsinh",
)
arccosh_p = defprimitive(
    "arccosh", 1, impl=np.arccosh, partials=lambda x: (div(1.0, sqrt(sub(mul(x, x), 1.0))),),
    sympy="acosh", llvm=Libm("acosh"), ufunc="arccosh",
)
arctanh_p = defprimitive(
    "arctanh", 1, impl=np.arctanh, partials=lambda x: (div(1.0, sub(1.0, mul(x, x))),),
    sympy="atanh", llvm=Libm("atanh"), ufunc="arctanh",
)
erf_p = defprimitive(
    "erf", 1, impl=_erf, partials=lambda x: (mul(TWO_OVER_SQRT_PI, exp(neg(mul(x, x)))),),
    sympy="erf", llvm=Libm("erf"),
)
hypot_p = defprimitive(
    "hypot", 2, impl=np.hypot, partials=lambda x, y: (div(x, hypot(x, y)), div(y, hypot(x, y))),
    sympy=lambda sp, x, y: sp.sqrt(x**2 + y**2), llvm=Libm("hypot"), ufunc="hypot",
)
sigmoid_p = defprimitive(
    "sigmoid", 1, impl=lambda x: 1.0 / (1.0 + np.exp(-x)),
    partials=lambda x: (mul(sigmoid(x), sub(1.0, sigmoid(x))),),
    sympy=lambda sp, x: 1 / (1 + sp.exp(-x)),
    decompose=lambda x: div(1.0, add(1.0, exp(neg(x)))),
)
softplus_p = defprimitive(
    "softplus", 1, impl=lambda x: np.logaddexp(0.0, x), partials=lambda x: (sigmoid(x),),
    sympy=lambda sp, x: sp.log(1 + sp.exp(x)),
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|), which neither overflows nor cancels.
    decompose=lambda x: add(maximum(x, 0.0), log1p(exp(neg(absolute(x))))),
)

# log(exp(x) + exp(y)); d/dx = exp(x - out) = sigmoid(x - y). Declared with its own partials (as JAX's
# custom JVP does), so that neither the kink of its stable form nor abs'(0) enters the derivative.
logaddexp_p = defprimitive(
    "logaddexp", 2, impl=np.logaddexp,
    partials=lambda x, y: (sigmoid(sub(x, y)), sigmoid(sub(y, x))),
    sympy=lambda sp, x, y: sp.log(sp.exp(x) + sp.exp(y)),
    # max(x, y) + log1p(exp(-|x - y|)) neither overflows nor cancels; a tie (also ±inf) is x + log(2).
    decompose=lambda x, y: where(equal(x, y), add(x, LN2),
                                 add(maximum(x, y), log1p(exp(neg(absolute(sub(x, y))))))),
    commutative=True, ufunc="logaddexp",
)

# ----- Piecewise functions (derivative conventions at kinks follow JAX) -----

# abs'(x) is 1 for x >= 0 (also at the kink 0, as in JAX) and -1 below: with abs'(0) = 0, the
# second derivative of smooth functions written with abs (abs(x)**2) would be 0 at 0 instead of 2.
abs_p = defprimitive(
    "abs", 1, impl=np.abs, partials=lambda x: (where(greater_equal(x, 0.0), 1.0, -1.0),), sympy="Abs",
    llvm=Intrinsic("llvm.fabs"), ufunc="absolute",
)
sign_p = defprimitive(
    "sign", 1, impl=np.sign, partials=lambda x: (0.0,), sympy="sign",
    # NaN and ±0 pass through unchanged, as in NumPy.
    decompose=lambda x: where(greater(x, 0.0), 1.0, where(less(x, 0.0), -1.0, x)),
    ufunc="sign",
)
floor_p = defprimitive(
    "floor", 1, impl=np.floor, partials=lambda x: (0.0,), sympy="floor",
    llvm=Intrinsic("llvm.floor"), ufunc="floor",
)
ceil_p = defprimitive(
    "ceil", 1, impl=np.ceil, partials=lambda x: (0.0,), sympy="ceiling",
    llvm=Intrinsic("llvm.ceil"), ufunc="ceil",
)
relu_p = defprimitive(
    "relu", 1, impl=lambda x: np.maximum(x, 0.0),
    partials=lambda x: (where(greater(x, 0.0), 1.0, 0.0),),
    sympy=lambda sp, x: sp.Max(x, 0), decompose=lambda x: maximum(x, 0.0),
)


def _tie_split(x: Node, y: Node) -> Node:
    # d max(x, y)/dx: 1 where x wins, 0 where y wins, 1/2 on a tie.
    return where(greater(x, y), 1.0, where(equal(x, y), 0.5, 0.0))


maximum_p = defprimitive(
    "maximum", 2, impl=np.maximum, partials=lambda x, y: (_tie_split(x, y), _tie_split(y, x)),
    sympy="Max", llvm=Intrinsic("llvm.maximum"),
    simplify=lambda x, y: x if x is y else None, commutative=True, ufunc="maximum",
)
minimum_p = defprimitive(
    "minimum", 2, impl=np.minimum, partials=lambda x, y: (_tie_split(y, x), _tie_split(x, y)),
    sympy="Min", llvm=Intrinsic("llvm.minimum"),
    simplify=lambda x, y: x if x is y else None, commutative=True, ufunc="minimum",
)
stop_gradient_p = defprimitive(
    "stop_gradient", 1, impl=lambda x: x, partials=lambda x: (0.0,),
    sympy=lambda sp, x: x, llvm=Identity(),
    simplify=lambda x: x if x.op is const_p else None,
)

# ----- Comparisons and selection -----


def _compare(name: str, op: str, impl, sympy: str, ufunc: str):
    return defprimitive(
        name, 2, impl=_as_float(impl), partials=lambda x, y: (None, None), sympy=sympy,
        llvm=Compare(op), boolean=True, ufunc=ufunc,
    )


greater_p = _compare("greater", ">", np.greater, "Gt", "greater")
greater_equal_p = _compare("greater_equal", ">=", np.greater_equal, "Ge", "greater_equal")
less_p = _compare("less", "<", np.less, "Lt", "less")
less_equal_p = _compare("less_equal", "<=", np.less_equal, "Le", "less_equal")
equal_p = _compare("equal", "==", np.equal, "Eq", "equal")
not_equal_p = _compare("not_equal", "!=", np.not_equal, "Ne", "not_equal")


def _where_simplify(c: Node, a: Node, b: Node) -> Node | None:
    if c.op is const_p:
        return a if const_value(c) != 0.0 else b
    if a is b:
        return a
    # Both branches zero, one of them by structure: the value is that of the other.
    if is_structural_zero(a) and is_const(b, 0.0):
        return b
    if is_structural_zero(b) and is_const(a, 0.0):
        return a
    if a.op is where_p and a.args[0] is c:
        return where(c, a.args[1], b)
    if b.op is where_p and b.args[0] is c:
        return where(c, a, b.args[2])
    return None


where_p = defprimitive(
    "where", 3, impl=lambda c, a, b: np.where(np.asarray(c) != 0, a, b),
    partials=lambda c, a, b: (None, where(c, 1.0, 0.0), where(c, 0.0, 1.0)),
    sympy=lambda sp, c, a, b: sp.Piecewise((a, c), (b, True)),
    llvm=Select(), simplify=_where_simplify,
)
logical_and_p = defprimitive(
    "logical_and", 2, impl=_as_float(np.logical_and), partials=lambda x, y: (None, None),
    sympy="And", decompose=lambda x, y: where(x, not_equal(y, 0.0), 0.0), boolean=True,
    commutative=True, ufunc="logical_and",
)
logical_or_p = defprimitive(
    "logical_or", 2, impl=_as_float(np.logical_or), partials=lambda x, y: (None, None),
    sympy="Or", decompose=lambda x, y: where(x, 1.0, not_equal(y, 0.0)), boolean=True,
    commutative=True, ufunc="logical_or",
)
logical_not_p = defprimitive(
    "logical_not", 1, impl=_as_float(np.logical_not), partials=lambda x: (None,),
    sympy="Not", decompose=lambda x: equal(x, 0.0), boolean=True, ufunc="logical_not",
)

# ----- Builders: the functions derivative rules and tracing call -----

add = add_p.bind
sub = sub_p.bind
mul = mul_p.bind
div = div_p.bind
neg = neg_p.bind
power = pow_p.bind
exp = exp_p.bind
expm1 = expm1_p.bind
log = log_p.bind
xlogy = xlogy_p.bind
log1p = log1p_p.bind
sqrt = sqrt_p.bind
cbrt = cbrt_p.bind
sin = sin_p.bind
cos = cos_p.bind
tan = tan_p.bind
sinh = sinh_p.bind
cosh = cosh_p.bind
tanh = tanh_p.bind
hypot = hypot_p.bind
sigmoid = sigmoid_p.bind
absolute = abs_p.bind
sign = sign_p.bind
maximum = maximum_p.bind
minimum = minimum_p.bind
greater = greater_p.bind
greater_equal = greater_equal_p.bind
less = less_p.bind
equal = equal_p.bind
not_equal = not_equal_p.bind
where = where_p.bind
stop_gradient = stop_gradient_p.bind


# ----- Python operators on nodes (so object arrays of nodes work in NumPy) -----


def _method(fn):
    # Bound methods (`prim.bind`) are not descriptors; wrap them in a function.
    return lambda *operands: fn(*operands)


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _install_operators() -> None:
    from .registry import REGISTRY

    operators = {
        "__add__": add, "__radd__": _reflected(add),
        "__sub__": sub, "__rsub__": _reflected(sub),
        "__mul__": mul, "__rmul__": _reflected(mul),
        "__truediv__": div, "__rtruediv__": _reflected(div),
        "__pow__": power, "__rpow__": _reflected(power),
        "__neg__": neg, "__pos__": lambda self: self, "__abs__": absolute,
        "__gt__": greater, "__ge__": greater_equal_p.bind,
        "__lt__": less, "__le__": less_equal_p.bind,
    }
    for name, fn in operators.items():
        setattr(Node, name, _method(fn))
    # NumPy's object-dtype ufunc loops call a method named after the ufunc.
    for prim in REGISTRY.values():
        method = prim.ufunc or prim.name
        if not hasattr(Node, method):
            setattr(Node, method, _method(prim.bind))


_install_operators()
