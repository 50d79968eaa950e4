"""The one table format every benchmark prints: measured value, goal, and peer where one exists.

Each printed table is also written to `benchmarks/results/<script>.json` (a script's first table in a run starts the
file afresh), so the README's measured numbers are generated from what the bench wrote (`tools/make_readme.py`
expands a `<!-- bench: NAME -->` marker in nbs/index.ipynb into that script's tables), never typed by hand."""
import datetime, json, os, platform, sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = ["metric", "value", "goal", "met", "peer", "note"]
_started = set()                 # scripts whose results file this process has begun


def plain(v):
    "A JSON value for a table cell: numbers, booleans and None as they are, anything else as its text."
    return v if isinstance(v, (bool, int, float, type(None))) else str(v)


def save_table(title, rows, script=None) -> Path:
    "Add this table to benchmarks/results/<script>.json (the script running now, by default)."
    name = Path(script or sys.argv[0]).stem
    path = RESULTS / f"{name}.json"
    tables = json.loads(path.read_text())["tables"] if name in _started and path.exists() else []
    _started.add(name)
    tables.append(dict(title=title, rows=[{c: plain(r.get(c)) for c in COLUMNS if c in r} for r in rows]))
    RESULTS.mkdir(exist_ok=True)
    info = dict(script=name, written=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}", tables=tables)
    tmp = path.with_suffix(".json.tmp"); tmp.write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n"); tmp.replace(path)
    return path


def print_table(title, rows, save:bool=True):
    """rows: dicts with keys metric, value, goal (text), met (bool or None), peer (optional text), note (optional)."""
    cells = [[str(r.get(c, "")) if c != "met" else ("yes" if r.get("met") else ("no" if r.get("met") is False else "-"))
              for c in COLUMNS] for r in rows]
    w = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(COLUMNS)]
    print(f"\n{title}")
    print("  ".join(c.ljust(w[i]) for i, c in enumerate(COLUMNS)))
    print("  ".join("-" * w[i] for i in range(len(COLUMNS))))
    for x in cells: print("  ".join(v.ljust(w[i]) for i, v in enumerate(x)))
    if save: save_table(title, rows)
