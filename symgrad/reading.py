"""Reading formula text (`"sin(x)*y**2"`) into a symgrad node, without evaluating Python.

The command line takes formulas from scripts, notebooks and web forms it did
not write, so it must never hand them to `eval` (SymPy's `sympify` and
`parse_expr` are `eval`). Here Python's own parser builds a syntax tree,
nothing of it runs, and an allow-list accepts only: numbers, variable names,
`+ - * / **`, unary minus and plus, parentheses, and calls of symgrad's
elementwise functions by name (and SymPy's spellings of them, `asin`,
`Abs`, ...), with the constants `pi` and `E`. Everything else is refused
with a `FormulaError` naming what was found.

Limits are checked before any work: the text's length and nesting depth
before parsing, and each constant exponent's size while building (so that
`9**9**9**9` is refused, not evaluated).
"""

from __future__ import annotations

import ast
import keyword
import math
from collections.abc import Callable

from .ir import Node
from .primitives import REGISTRY, const_p
from .primitives import elementwise as E

MAX_LENGTH = 2000
MAX_DEPTH = 100
MAX_EXPONENT = 1000.0


class FormulaError(ValueError):
    """Formula text that is not an expression symgrad reads (the message says why)."""


# SymPy's spellings of the same functions (the command line once read formulas with SymPy).
_ALIASES = {
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2", "asinh": "arcsinh",
    "acosh": "arccosh", "atanh": "arctanh", "Abs": "abs", "ceiling": "ceil", "Max": "maximum",
    "Min": "minimum",
}
_CONSTANTS = {"pi": math.pi, "E": math.e}


def function_names() -> dict[str, str]:
    """The names a formula may call, each with the primitive it means."""
    from .functions import __all__ as public

    names = {name: name for name in public if name in REGISTRY and name != "where"}
    names.update((alias, target) for alias, target in _ALIASES.items() if target in names)
    return names


def check_variable_name(name: str, what: str) -> None:
    """Refuse a name that cannot be a variable of a formula (`what` says where it came from)."""
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("__") or len(name) > 100:
        raise FormulaError(f"{what} must be a variable name such as `x` or `w1`, got {name!r:.120}")
    if name in function_names() or name in _CONSTANTS or name == "I":
        raise FormulaError(f"{what} {name!r} is the name of a function or constant, not a variable")


def read_formula(text: str, variable: Callable[[str], Node]) -> Node:
    """The node of formula `text`; each variable name is turned into a node by `variable`.

    Raises:
        FormulaError: the text is too long or too deeply nested, is not
            valid syntax, or uses anything but the allowed forms.
    """
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"the formula has {len(text)} characters; at most {MAX_LENGTH} are read")
    depth = deepest = 0
    for c in text:
        depth += c in "([{"
        depth -= c in ")]}"
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise FormulaError(f"the formula nests {deepest} parentheses deep; at most {MAX_DEPTH} are read")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        reason = e.msg if isinstance(e, SyntaxError) else type(e).__name__
        raise FormulaError(f"cannot parse {text!r:.120}: {reason}") from None
    return _Builder(variable).build(tree.body)


_BINARY = {ast.Add: E.add, ast.Sub: E.sub, ast.Mult: E.mul, ast.Div: E.div, ast.Pow: E.power}
_UNARY = {ast.USub: E.neg, ast.UAdd: lambda x: x}


class _Builder:
    """Post-order over the syntax tree (iterative, so depth costs no Python recursion)."""

    def __init__(self, variable: Callable[[str], Node]):
        self.variable = variable
        self.functions = function_names()

    def build(self, root: ast.expr) -> Node:
        self._check_depth(root)
        values: dict[ast.AST, Node] = {}
        stack: list[tuple[ast.expr, bool]] = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if ready:
                values[node] = self._one(node, [values[c] for c in self._operands(node)])
                continue
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(self._operands(node)))
        return values[root]

    def _check_depth(self, root: ast.expr) -> None:
        # A chain of sums (or of products) counts as one level: `x + y + ... + z` is flat to read.
        stack = [(root, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise FormulaError(f"the formula nests more than {MAX_DEPTH} operations deep; split it up")
            for child in (c for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)):
                same_chain = child is getattr(node, "left", None) and _chain(child) is not None \
                    and _chain(child) == _chain(node)
                stack.append((child, depth if same_chain else depth + 1))

    def _operands(self, node: ast.expr) -> list[ast.expr]:
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return [node.operand]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            name = node.func.id
            if name not in self.functions:
                raise FormulaError(f"`{name}` is not a function symgrad knows (known: {self._known()})")
            if any(isinstance(a, ast.Starred) for a in node.args):
                raise FormulaError(f"`{name}(*...)`: write the arguments out")
            return list(node.args)
        if isinstance(node, (ast.Constant, ast.Name)):
            return []
        raise FormulaError(_refusal(node))

    def _one(self, node: ast.expr, operands: list[Node]) -> Node:
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise FormulaError(f"{value!r:.60} is not a real number")
            try:
                return E.const(float(value))
            except OverflowError:
                raise FormulaError(f"the number {value!r:.40}... is too large for a float") from None
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.BinOp):
            x, y = operands
            if isinstance(node.op, ast.Pow) and y.op is const_p and not abs(y.param) <= MAX_EXPONENT:
                raise FormulaError(f"the exponent {y.param:g} is too large or not a number (at most "
                                   f"{MAX_EXPONENT:g} in absolute value)")
            return _BINARY[type(node.op)](x, y)
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](operands[0])
        name = node.func.id
        prim = REGISTRY[self.functions[name]]
        if len(operands) != prim.arity:
            raise FormulaError(f"`{name}` takes {prim.arity} argument{'s' * (prim.arity > 1)}, "
                               f"got {len(operands)}")
        return prim.bind(*operands)

    def _name(self, name: str) -> Node:
        if name in _CONSTANTS:
            return E.const(_CONSTANTS[name])
        if name == "I":
            raise FormulaError("cannot differentiate with `I` (the imaginary unit): symgrad differentiates "
                               "real functions")
        if name in self.functions:
            raise FormulaError(f"`{name}` is a function; call it, as in {name}(x)")
        check_variable_name(name, "a variable")
        return self.variable(name)

    def _known(self) -> str:
        return ", ".join(sorted(n for n in self.functions if n not in _ALIASES))


def _chain(node: ast.AST) -> str | None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        return "sum"
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
        return "product"
    return None


_REFUSED = {
    ast.Attribute: "attribute access (`a.b`)", ast.Subscript: "indexing (`a[i]`)", ast.Lambda: "a lambda",
    ast.BoolOp: "`and`/`or`", ast.IfExp: "`... if ... else ...`",
    ast.Call: "calling anything but a function by its name (`sin(x)`)",
    ast.NamedExpr: "`:=`", ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
    ast.JoinedStr: "an f-string", ast.Starred: "`*`", ast.Await: "`await`", ast.Yield: "`yield`",
    ast.GeneratorExp: "a generator", ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
}


def _refusal(node: ast.AST) -> str:
    if isinstance(node, ast.Compare):
        return "this is not an expression but a comparison; write the expression alone"
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        what = f"the operator `{type(node.op).__name__}`"
    else:
        what = _REFUSED.get(type(node), type(node).__name__)
    return (f"{what} is not allowed in a formula; use numbers, variables, + - * / **, parentheses "
            "and functions such as sin(x)")
