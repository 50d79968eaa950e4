"""README.md is generated from nbs/index.ipynb and must show the two quick-start commands."""
import subprocess, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parent.parent

def test_readme_in_step_with_index():
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_readme.py"), "--check"], check=True)

def test_readme_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text
