"""Command line: `python -m symgrad demo` and `python -m symgrad diff EXPR --wrt X`.

    python -m symgrad demo
    python -m symgrad diff "sin(x)*y" --wrt x
    python -m symgrad diff "x**3*exp(x)" --wrt x --order 2 --latex
    python -m symgrad diff "log(x**2 + y**2)" --wrt y --c

`diff` reads the expression with SymPy's parser, converts it to a symgrad
graph (`symgrad.from_sympy`), differentiates it with symgrad's own reverse
mode, and prints the result as text, LaTeX or C. Mistakes in the
expression or the options end in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

USAGE_ERROR = 2


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m symgrad", description="symbolic derivatives, compiled")
    commands = parser.add_subparsers(dest="command", metavar="{demo,diff}")
    commands.add_parser("demo", help="derive and run the classic autograd tutorial examples")
    diff = commands.add_parser("diff", help="print the derivative of an expression")
    diff.add_argument("expression", help='a formula in Python/SymPy syntax, e.g. "sin(x)*y"')
    diff.add_argument("--wrt", help="the variable to differentiate by (default: the only one)")
    diff.add_argument("--order", type=int, default=1, help="how many times (default 1)")
    style = diff.add_mutually_exclusive_group()
    style.add_argument("--latex", action="store_true", help="print LaTeX")
    style.add_argument("--c", action="store_true", help="print a C99 function")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, or 2 for a usage error)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _parser().parse_args(argv)
        if args.command is None:
            raise _UsageError("choose a command: `demo` or `diff EXPRESSION --wrt VARIABLE`")
        if args.command == "demo":
            from .demo import run

            run()
            return 0
        print(_derivative_text(args))
        return 0
    except _UsageError as e:
        print(f"symgrad: error: {e}", file=sys.stderr)
        return USAGE_ERROR


def _derivative_text(args: argparse.Namespace) -> str:
    import sympy as sp

    from .diff import vjp
    from .ir import Graph
    from .printing import Formula, from_sympy
    from .trace import symbol

    if args.order < 1:
        raise _UsageError(f"--order must be a positive integer, got {args.order}")
    try:
        parsed = sp.sympify(args.expression)
    except Exception as e:  # SymPy's parser raises many kinds; all mean "not an expression"
        reason = "not valid Python/SymPy syntax" if isinstance(e, sp.SympifyError) else _first_line(e)
        raise _UsageError(f"cannot parse {args.expression!r}: {reason}") from None
    if not isinstance(parsed, sp.Expr):
        raise _UsageError(f"{args.expression!r} is not an expression (got a {type(parsed).__name__})")
    names = sorted(s.name for s in parsed.free_symbols)
    wrt = args.wrt
    if wrt is None:
        if len(names) != 1:
            found = ", ".join(names) or "none"
            raise _UsageError(f"say which variable to differentiate by with --wrt (variables: {found})")
        wrt = names[0]
    if not wrt.isidentifier():
        raise _UsageError(f"--wrt must name a variable, got {wrt!r}")
    try:
        derivative = from_sympy(parsed)
        variable = symbol(wrt)
        for _ in range(args.order):
            (derivative,) = vjp([derivative], [1.0], [variable])
    except (ArithmeticError, LookupError, NotImplementedError, TypeError, ValueError) as e:
        raise _UsageError(f"symgrad cannot differentiate {args.expression!r}: {_first_line(e)}") from None
    inputs = tuple(symbol(n) for n in sorted(set(names) | {wrt}))
    name = f"d{wrt}" if args.order == 1 else f"d{args.order}_d{wrt}{args.order}"
    graph = Graph(inputs, (derivative,), tuple(s.param[0] for s in inputs), tuple(() for _ in inputs),
                  (name,), ((),))
    formula = Formula(graph)
    if args.latex:
        return formula.latex()
    if args.c:
        return formula.c("derivative")
    return str(formula)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


if __name__ == "__main__":
    sys.exit(main())
