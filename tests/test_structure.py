"""The package's shape: modules import downward only (no cycles), nobody imports another module's private names,
`__all__` is each module's public surface, and the generated modules match the notebooks' layer map."""
import ast, importlib, inspect
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "diffmarket"

# Lower layers first. A module may import only modules of a strictly lower layer. A new module must be placed here.
LAYERS = [
    ["core"],
    ["report"],
    ["data"],
    ["orderbook", "stylized", "diffusion", "backtest"],
    ["market", "train", "risk"],
    ["agents", "live"],
    ["games"],
    ["market_diffusion"],
    ["evaluate"],
    ["viz"],                 # 60_viz sits below widgets though its number is higher: the dashboards compose its plots
    ["widgets"],
    ["demo"],
    ["cli"],
]
RANK = {m: i for i, layer in enumerate(LAYERS) for m in layer}
MODULES = sorted(p.stem for p in PKG.glob("*.py") if p.stem not in ("__init__", "_modidx"))


def imports_of(name):
    "diffmarket modules `name` imports anywhere in its source (top level or inside functions), with the names taken."
    tree = ast.parse((PKG / f"{name}.py").read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1: target = mod.split(".")[0] if mod else None
            elif mod == "diffmarket" or mod.startswith("diffmarket."): target = mod.split(".")[1] if "." in mod else None
            else: continue
            names = [a.name for a in node.names]
            if target is None:                        # `from . import x` / `from diffmarket import x`
                for n in names: out.append((n, []))
            else: out.append((target, names))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("diffmarket."): out.append((a.name.split(".")[1], []))
    return [(t, n) for t, n in out if t != "__version__"]


def test_every_module_has_a_layer():
    assert set(MODULES) <= set(RANK), f"place these modules in LAYERS: {sorted(set(MODULES) - set(RANK))}"


@pytest.mark.parametrize("name", MODULES)
def test_imports_point_downward(name):
    for target, _ in imports_of(name):
        assert target in RANK, f"{name} imports unknown module {target}"
        assert RANK[target] < RANK[name], f"{name} (layer {RANK[name]}) imports {target} (layer {RANK[target]}): upward or sideways"


def test_import_graph_has_no_cycle():
    graph = {m: {t for t, _ in imports_of(m)} for m in MODULES}
    state = {}
    def visit(m, path):
        if state.get(m) == "done": return
        assert state.get(m) != "open", "import cycle: " + " -> ".join(path + [m])
        state[m] = "open"
        for t in graph.get(m, ()): visit(t, path + [m])
        state[m] = "done"
    for m in MODULES: visit(m, [])


@pytest.mark.parametrize("name", MODULES)
def test_no_private_names_across_modules(name):
    tree = ast.parse((PKG / f"{name}.py").read_text())
    modules_bound = set()
    for target, names in imports_of(name):
        private = [n for n in names if n.startswith("_")]
        assert not private, f"{name} imports private {private} from {target}; make it public where it belongs"
    for node in ast.walk(tree):                  # `from diffmarket import backtest` then `backtest._x`
        if isinstance(node, ast.ImportFrom) and (node.level == 1 and not node.module or node.module == "diffmarket"):
            modules_bound |= {a.asname or a.name for a in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules_bound:
            assert not node.attr.startswith("_"), f"{name} uses {node.value.id}.{node.attr}"


@pytest.mark.parametrize("name", MODULES)
def test_all_is_the_public_surface(name):
    mod = importlib.import_module(f"diffmarket.{name}")
    for n in mod.__all__:
        assert not n.startswith("_"), f"{name}.__all__ lists private {n}"
        obj = getattr(mod, n)
        if inspect.isfunction(obj):
            params = list(inspect.signature(obj).parameters)
            assert not params or params[0] != "self", f"{name}.__all__ lists {n}, a method attached as a bare function"
            assert obj.__module__ == mod.__name__, f"{name}.__all__ re-exports {n} from {obj.__module__}"
    tree = ast.parse((PKG / f"{name}.py").read_text())
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    for node in tree.body:                        # the old idiom `Class.method = function` is gone: methods use @patch
        if isinstance(node, ast.Assign):
            for t in node.targets:
                for e in (t.elts if isinstance(t, ast.Tuple) else [t]):
                    if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) and e.value.id in classes:
                        pytest.fail(f"{name}: `{e.value.id}.{e.attr} = ...` at line {node.lineno}; define it with @patch")


def test_one_load_policy():
    "One way to load a trained policy: diffmarket.train.load_policy."
    homes = [m for m in MODULES if "def load_policy" in (PKG / f"{m}.py").read_text()]
    assert homes == ["train"], homes
    assert "load_policy" not in (PKG / "__init__.py").read_text()
