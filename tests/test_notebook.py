"""The notebook runs: its code cells, executed in order in one namespace (no Jupyter needed)."""

import contextlib
import io
import json
import pathlib

NOTEBOOK = pathlib.Path(__file__).parent.parent / "notebooks" / "autograd_the_symbolic_way.ipynb"


def code_cells() -> list[str]:
    notebook = json.loads(NOTEBOOK.read_text())
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]


def test_outputs_are_stripped():
    notebook = json.loads(NOTEBOOK.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_code_cells_run_in_order():
    namespace: dict = {"__name__": "__notebook__"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for number, source in enumerate(code_cells()):
            exec(compile(source, f"{NOTEBOOK.name}:cell{number}", "exec"), namespace)
    out = printed.getvalue()
    assert "40.0" in out and "[40. 80.]" in out
    assert "x**3*cos(x) + 3*x**2*sin(x)" in out
    assert "void df(const double *x, double *dx)" in out
    assert "(true 3)" in out
    # The last expression of cells that show things: formulas render as LaTeX, pictures as DOT.
    assert namespace["df"].formula(1.0)._repr_latex_().startswith("$")
    assert namespace["picture"].startswith("digraph")
