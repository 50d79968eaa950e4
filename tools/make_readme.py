"""Write README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which these machines cannot install).

Markdown cells are copied as they are; code cells become fenced Python blocks; cells marked `#| hide` are left out.
A line `<!-- bench: NAME -->` in a markdown cell becomes the tables benchmarks/NAME.py last wrote to
benchmarks/results/NAME.json (`make bench`), so measured numbers come from the bench, never typed by hand.
`--check` fails (exit 1) when README.md differs from what the notebook gives, so the two stay in step.
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MARK = re.compile(r"^<!-- bench: ([\w.-]+) -->$", re.M)

def bench_tables(name:str) -> str:
    "Markdown of the tables benchmarks/NAME.py wrote (metric, measured, goal, met), with when and where it ran."
    p = RESULTS / f"{name}.json"
    if not p.exists(): sys.exit(f"{p.relative_to(ROOT)} is missing: run `python benchmarks/run_all.py {name}`")
    res = json.loads(p.read_text(encoding="utf-8"))
    cell = lambda v: "" if v is None else str(v).replace("|", "\\|")
    out = [f"<!-- bench: {name} -->"]
    for t in res["tables"]:
        out += [f"*{t['title']}* (`benchmarks/{name}.py`, {res['written'][:10]}, {res['machine']}):", "",
                "| what | measured | goal | met |", "|---|---|---|---|"]
        out += [f"| {cell(r.get('metric'))} | {cell(r.get('value'))} | {cell(r.get('goal'))} | "
                f"{'✓' if r.get('met') else ('✗' if r.get('met') is False else '')} |" for r in t["rows"]]
        out.append("")
    return "\n".join(out).rstrip()

def render(nb_path=ROOT / "nbs" / "index.ipynb") -> str:
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    parts = []
    for cell in nb["cells"]:
        src = "".join(cell["source"]).strip("\n")
        if not src: continue
        lines = src.splitlines()
        if cell["cell_type"] == "markdown":
            parts.append(MARK.sub(lambda m: bench_tables(m.group(1)), src))
        elif cell["cell_type"] == "code":
            if any(l.strip().replace(" ", "") in ("#|hide", "#|export") or l.strip().startswith("#| default_exp") for l in lines): continue
            code = "\n".join(l for l in lines if not l.startswith("#|"))
            parts.append("```python\n" + code + "\n```")
    return "<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n" + "\n\n".join(parts) + "\n"

if __name__ == "__main__":
    text, readme = render(), ROOT / "README.md"
    if "--check" in sys.argv:
        if not readme.exists() or readme.read_text(encoding="utf-8") != text:
            sys.exit("README.md is out of step with nbs/index.ipynb: run `python tools/make_readme.py`")
        print("README.md matches nbs/index.ipynb")
    else:
        readme.write_text(text, encoding="utf-8"); print("wrote README.md")
