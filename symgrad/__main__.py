"""Command line: `python -m symgrad demo` and `python -m symgrad diff EXPR --wrt X`.

    python -m symgrad demo
    python -m symgrad diff "sin(x)*y" --wrt x
    python -m symgrad diff "x**3*exp(x)" --wrt x --order 2 --latex
    python -m symgrad diff "log(x**2 + y**2)" --wrt y --c

`diff` reads the expression with `symgrad.reading` (a grammar of numbers,
variables, operators and symgrad's function names: nothing in it is ever
run as Python), differentiates it with symgrad's own reverse mode, and
prints the result as text, LaTeX or C. Sizes are bounded before work
starts (the expression's length and depth, `--order`, constant exponents)
and while it runs (the derivative's size), so no input hangs. Mistakes in
the expression or the options end in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

USAGE_ERROR = 2
MAX_ORDER = 10
# Beyond this many nodes a derivative is refused rather than printed (SymPy would take minutes).
MAX_NODES = 10_000


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
    diff.add_argument("expression", help='a formula: numbers, variables, + - * / **, functions, e.g. "sin(x)*y"')
    diff.add_argument("--wrt", help="the variable to differentiate by (default: the only one)")
    diff.add_argument("--order", type=int, default=1, help=f"how many times, 1 to {MAX_ORDER} (default 1)")
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
    from .diff import vjp
    from .ir import Graph, topological_order
    from .printing import Formula
    from .reading import FormulaError, check_variable_name, read_formula
    from .trace import symbol

    if not 1 <= args.order <= MAX_ORDER:
        raise _UsageError(f"--order must be an integer from 1 to {MAX_ORDER}, got {args.order}")
    names: set[str] = set()

    def variable(name: str):
        names.add(name)
        return symbol(name)

    try:
        if args.wrt is not None:
            check_variable_name(args.wrt, "--wrt")
        derivative = read_formula(args.expression, variable)
    except FormulaError as e:
        raise _UsageError(str(e)) from None
    wrt = args.wrt
    if wrt is None:
        if len(names) != 1:
            found = ", ".join(sorted(names)) or "none"
            raise _UsageError(f"say which variable to differentiate by with --wrt (variables: {found})")
        (wrt,) = names
    variable_node = symbol(wrt)
    try:
        for _ in range(args.order):
            (derivative,) = vjp([derivative], [1.0], [variable_node])
            size = len(topological_order([derivative]))
            if size > MAX_NODES:
                raise _UsageError(f"the derivative of {args.expression!r:.80} grows to {size} operations "
                                  f"(at most {MAX_NODES} are printed); ask for a lower --order")
    except (ArithmeticError, LookupError, NotImplementedError, TypeError, ValueError) as e:
        raise _UsageError(f"symgrad cannot differentiate {args.expression!r:.80}: {_first_line(e)}") from None
    inputs = tuple(symbol(n) for n in sorted(names | {wrt}))
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
