"""Notebooks are committed executed, so a reader on a code host sees their outputs and figures (`make notebooks`
re-executes them): a cell that ends in a value shows it, and a notebook that draws shows its figures."""
import ast, json, re
from pathlib import Path
import pytest

NBS = Path(__file__).resolve().parent.parent / "nbs"
NOTEBOOKS = sorted(p for p in NBS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
DRAWS = re.compile(r"\bplt\.|\.plot\(|\bplot_\w+\(|\bsubplots\(")
SHOWN = {"DataFrame", "Series", "head", "tail", "round", "describe", "sort_values", "to_frame", "pivot", "unstack"}  # calls whose value is a table


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]

def shows_a_value(src:str) -> bool:
    "Does the cell end in an expression IPython displays (not a silent call, not ended with ';', not slow)?"
    if src.lstrip().startswith(("#| export", "#| hide", "#| default_exp")) or "#| slow" in src: return False
    code = "\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!")))
    try: body = ast.parse(code).body
    except SyntaxError: return False
    if not body or not isinstance(body[-1], ast.Expr) or code.rstrip().endswith(";"): return False
    v = body[-1].value
    if isinstance(v, ast.Call):                     # most calls at the end of a cell return None; count only tables
        f = v.func
        return (f.id if isinstance(f, ast.Name) else (f.attr if isinstance(f, ast.Attribute) else "")) in SHOWN
    return isinstance(v, (ast.Name, ast.Attribute, ast.Subscript, ast.Dict, ast.Tuple, ast.List, ast.BinOp))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(NBS)))
def test_cells_that_end_in_a_value_show_it(path):
    blank = [c["source"][:1] for c in code_cells(path) if shows_a_value("".join(c["source"])) and not c.get("outputs")]
    assert not blank, f"{path.name}: {len(blank)} cell(s) end in a value but show nothing (first: {blank[0]}); run `make notebooks`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(NBS)))
def test_a_notebook_that_draws_shows_its_figures(path):
    cells = code_cells(path)
    drawing = [c for c in cells if DRAWS.search("".join(c["source"])) and "#| export" not in "".join(c["source"][:1])]
    if not drawing: pytest.skip("draws nothing")
    images = sum("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))
    assert images > 0, f"{path.name} draws in {len(drawing)} cell(s) but shows no figure: run `make notebooks`"
