"""README.md is generated from nbs/index.ipynb; its quick start is the two commands, and every command it shows exists."""
import configparser, re, subprocess, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parent.parent

def test_readme_in_step_with_index():
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_readme.py"), "--check"], check=True)

def test_quick_start_is_the_two_make_targets():
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", quick, re.S).group(1)
    assert [l.split("#")[0].strip() for l in block.strip().splitlines()] == ["make demo", "make test"]
    make = (ROOT / "Makefile").read_text()
    for target in ("demo", "test"): assert re.search(rf"^{target}:", make, re.M), f"Makefile has no '{target}' target"
    assert "make test" in (ROOT / ".ci" / "run").read_text()

def test_every_command_shown_is_installed():
    cfg = configparser.ConfigParser(delimiters=["="]); cfg.read(ROOT / "settings.ini")
    scripts = {l.split("=")[0].strip() for l in cfg["DEFAULT"]["console_scripts"].split() if "=" in l}
    shown = set(re.findall(r"\bdiffmarket-[a-z-]+\b", (ROOT / "README.md").read_text()))
    assert shown and shown <= scripts, f"README shows commands that do not exist: {sorted(shown - scripts)}"

def test_measured_numbers_come_from_the_bench_results():
    "Each `<!-- bench: NAME -->` in nbs/index.ipynb is expanded from benchmarks/results/NAME.json: every row is in the README."
    import json
    index = (ROOT / "nbs" / "index.ipynb").read_text()
    names = re.findall(r"<!-- bench: ([\w.-]+) -->", index)
    assert names, "the index shows no bench results"
    readme = (ROOT / "README.md").read_text()
    for name in names:
        res = json.loads((ROOT / "benchmarks" / "results" / f"{name}.json").read_text())
        for table in res["tables"]:
            for row in table["rows"]:
                cell = lambda v: str(v).replace("|", "\\|")
                assert f"| {cell(row['metric'])} | {cell(row['value'])} |" in readme, (name, row["metric"])
