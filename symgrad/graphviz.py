"""Pictures of expression graphs: Graphviz DOT text, rendered by the `dot` program if installed.

`graphviz(F, *example_args)` draws the DAG of a function and of its
derivative side by side, one cluster each. Inputs are blue boxes, constants
grey plain text, operations ellipses labelled with their operator, outputs
green boxes. Because nodes are hash-consed, shared work shows up as one node
with several users: the picture is the DAG the compiler sees, not a tree.

The DOT text needs nothing to produce. Turning it into SVG or PNG needs
Graphviz's `dot` program, looked up on PATH when asked for.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from .errors import SymgradError
from .ir import Graph, Node, topological_order
from .primitives import const_p, symbol_p
from .primitives.registry import Compare, Instruction, Power, Select
from .textform import number

# Pictures of more nodes than this are unreadable; refuse rather than hang `dot`.
MAX_NODES = 2000

INSTALL_HINT = (
    "install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
    "(macOS), or see https://graphviz.org/download/"
)

_OPERATORS = {"fadd": "+", "fsub": "−", "fmul": "×", "fdiv": "÷", "fneg": "−"}


class GraphvizNotFound(SymgradError, RuntimeError):
    """The `dot` program of Graphviz is needed to render a picture and is not on PATH."""


class Dot(str):
    """DOT source text (a `str`), which can also render itself with Graphviz's `dot`.

    Jupyter shows it as SVG when `dot` is installed, as text otherwise.
    """

    def render(self, path: str, format: str | None = None) -> str:
        """Write the picture to `path` (format from the suffix: svg, png, pdf); return `path`."""
        format = format or str(path).rsplit(".", 1)[-1]
        with open(path, "wb") as f:
            f.write(self.pipe(format))
        return path

    def svg(self) -> str:
        """The picture as SVG text."""
        return self.pipe("svg").decode()

    def pipe(self, format: str = "svg") -> bytes:
        """The picture in `format`, as bytes from `dot -T<format>`."""
        program = shutil.which("dot")
        if program is None:
            raise GraphvizNotFound(
                f"rendering a graph picture needs the `dot` program, which is not on PATH; "
                f"{INSTALL_HINT}. The DOT text itself is `str(picture)`."
            )
        done = subprocess.run([program, f"-T{format}"], input=self.encode(), capture_output=True)
        if done.returncode != 0:
            raise SymgradError(f"`dot` failed: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout

    def _repr_svg_(self) -> str | None:
        return self.svg() if shutil.which("dot") else None


def graphviz(f: Callable | Any, *example_args: Any) -> Dot:
    """DOT text of the expression DAG of `f` and of its derivative, one cluster each.

    Args:
        f: a plain function (drawn with its gradient when its output is a
            scalar), a `symgrad.grad`/`value_and_grad` callable (drawn with the
            function it differentiates), any other transformed callable, or a
            `Formula`.
        example_args: arguments fixing the input signature (values unused).

    Returns:
        A `Dot`: the DOT source as a `str`, with `render(path)` and `svg()`.

    >>> from symgrad.graphviz import graphviz   # also `symgrad.graphviz`
    >>> dot = graphviz(lambda x: 2 * x**2, 1.0)
    >>> dot.startswith("digraph")
    True
    """
    from .api import Transformed, grad, jit
    from .printing import Formula

    if isinstance(f, Formula):
        return _dot([("formula", f.graph)])
    if isinstance(f, Transformed):
        if f.kind in ("grad", "value_and_grad"):
            function = jit(f.fun).formula(*example_args).graph
            return _dot([("function", function), (f.kind, f.formula(*example_args).graph)])
        return _dot([(f.kind, f.formula(*example_args).graph)])
    function = jit(f).formula(*example_args).graph
    clusters = [("function", function)]
    if len(function.outputs) == 1 and function.output_shapes == ((),) and function.inputs:
        clusters.append(("gradient", grad(f).formula(*example_args).graph))
    return _dot(clusters)


def formula_dot(formula: Any, derivative: Any | None = None) -> Dot:
    """DOT text of a `Formula` (and of a second one, its derivative, beside it)."""
    clusters = [("formula", formula.graph)]
    if derivative is not None:
        clusters.append(("derivative", derivative.graph))
    return _dot(clusters)


def _dot(clusters: Sequence[tuple[str, Graph]]) -> Dot:
    lines = [
        "digraph symgrad {",
        "  rankdir=BT;",
        '  node [fontname="Helvetica", fontsize=12];',
        '  edge [arrowsize=0.6, color="#555555"];',
    ]
    for k, (title, graph) in enumerate(clusters):
        lines.extend(_cluster(k, title, graph))
    lines.append("}")
    return Dot("\n".join(lines) + "\n")


def _cluster(k: int, title: str, graph: Graph) -> list[str]:
    order = topological_order(graph.outputs)
    if len(order) > MAX_NODES:
        raise ValueError(
            f"the {title} graph has {len(order)} nodes, too many to draw (at most {MAX_NODES}); "
            "draw a smaller example (fewer array elements), or print its formula instead"
        )
    ids = {node: f"c{k}n{i}" for i, node in enumerate(order)}
    lines = [f"  subgraph cluster_{k} {{", f"    label={_quote(title)};", '    style="rounded"; color="#999999";']
    for node in order:
        lines.append(f"    {ids[node]} [{_attributes(node)}];")
    for node in order:
        labelled = len(node.args) > 1 and not node.op.commutative
        for position, arg in enumerate(node.args):
            extra = f' [label="{position + 1}", fontsize=9]'
            lines.append(f"    {ids[arg]} -> {ids[node]}{extra if labelled else ''};")
    names = _output_names(graph)
    for i, (name, out) in enumerate(zip(names, graph.outputs)):
        out_id = f"c{k}out{i}"
        lines.append(
            f'    {out_id} [label={_quote(name)}, shape=box, style="filled,bold", fillcolor="#c7ecc7"];'
        )
        lines.append(f"    {ids[out]} -> {out_id};")
    lines.append("  }")
    return lines


def _output_names(graph: Graph) -> list[str]:
    from .printing import Formula

    return Formula(graph)._output_lines()


def _attributes(node: Node) -> str:
    if node.op is symbol_p:
        return f'label={_quote(node.param[0])}, shape=box, style="filled", fillcolor="#cfe2f3"'
    if node.op is const_p:
        return f'label={_quote(number(node.param))}, shape=plaintext, fontcolor="#666666"'
    return f"label={_quote(_operator(node))}, shape=ellipse"


def _operator(node: Node) -> str:
    """A short label read from the primitive's lowering: `+`, `×`, `**`, `>`, or its name."""
    how = node.op.llvm
    if isinstance(how, Instruction):
        return _OPERATORS.get(how.opcode, node.op.name)
    if isinstance(how, Power):
        return "**"
    if isinstance(how, Compare):
        return how.op
    if isinstance(how, Select):
        return "where"
    return node.op.name


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
