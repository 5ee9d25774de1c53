"""Graph pictures: DOT text of a function's DAG and its derivative's, rendered by `dot` when installed."""

import re
import shutil

import numpy as np
import pytest

import symgrad as sg
from symgrad.graphviz import Dot, GraphvizNotFound, graphviz
from symgrad.ir import topological_order

has_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")


def nodes_and_edges(dot: str) -> tuple[list[str], list[str]]:
    nodes = re.findall(r"^\s+(c\d+\w+) \[label=", dot, flags=re.M)
    edges = re.findall(r"^\s+(c\d+\w+ -> c\d+\w+)", dot, flags=re.M)
    return nodes, edges


def test_function_and_gradient_are_two_clusters_with_distinct_kinds_of_nodes():
    dot = graphviz(lambda x: sg.sin(x) * x**3, 1.0)
    assert isinstance(dot, Dot) and dot.startswith("digraph symgrad {") and dot.rstrip().endswith("}")
    assert 'label="function"' in dot and 'label="gradient"' in dot
    assert dot.count("subgraph cluster_") == 2
    input_line = next(line for line in dot.splitlines() if 'label="x"' in line)
    assert "shape=box" in input_line and "#cfe2f3" in input_line
    assert re.search(r'label="3", shape=plaintext', dot)  # a constant
    assert re.search(r'label="dx", shape=box, style="filled,bold"', dot)  # the gradient's output
    assert 'label="sin"' in dot and 'label="cos"' in dot and 'label="×"' in dot


def test_every_node_and_edge_of_the_dag_is_drawn_once():
    df = sg.grad(lambda x: (2 * x**2).sum())
    x = np.array([10.0, 20.0])
    dot = graphviz(df, x)
    nodes, edges = nodes_and_edges(dot)
    function = sg.jit(df.fun).formula(x).graph
    gradient = df.formula(x).graph
    expected_nodes = sum(len(topological_order(g.outputs)) + len(g.outputs) for g in (function, gradient))
    expected_edges = sum(
        sum(len(n.args) for n in topological_order(g.outputs)) + len(g.outputs) for g in (function, gradient)
    )
    assert len(nodes) == len(set(nodes)) == expected_nodes
    assert len(edges) == expected_edges
    assert 'label="dx[1]"' in dot


def test_formula_method_and_labels_are_escaped():
    formula = sg.grad(lambda x: sg.where(x > 0, x, -x)).formula(1.0)
    dot = formula.graphviz()
    assert 'label="formula"' in dot and 'label="where"' in dot
    both = sg.jit(lambda x: abs(x)).formula(1.0).graphviz(formula)
    assert 'label="derivative"' in both
    assert '\\"' not in dot  # nothing needed escaping here, and nothing was mangled


def test_too_big_a_graph_is_refused_with_advice():
    with pytest.raises(ValueError, match="too many to draw"):
        graphviz(sg.jit(lambda x: (x * x).sum()), np.ones(3000))


@has_dot
def test_dot_parses_and_renders_svg_and_png(tmp_path):
    dot = graphviz(lambda w, b: ((w * 2.0 + b - 1.0) ** 2).mean(), np.ones(3), 0.5)
    svg = dot.svg()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert dot._repr_svg_() == svg
    png = dot.render(str(tmp_path / "graph.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_rendering_without_dot_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no `dot` here
    dot = graphviz(lambda x: x * x, 1.0)
    with pytest.raises(GraphvizNotFound, match="apt-get install graphviz"):
        dot.svg()
    assert dot._repr_svg_() is None
