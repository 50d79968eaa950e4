"""Write config.yaml from the defaults in diffmarket.config, each key with the comment beside its field there.

The comments (units and meaning) are read from the source of the config dataclasses (nbs/00b_config.ipynb, exported to
diffmarket/config.py), so they are written in one place. tests/test_config.py checks that config.yaml is exactly what
this writes, and that every field has a comment. Run it after changing a default or a comment:

    python tools/write_config.py
"""
import ast, inspect, io, textwrap, tokenize
from dataclasses import fields, is_dataclass
from pathlib import Path

import yaml
from diffmarket.config import Config

PATH = Path(__file__).resolve().parent.parent / "config.yaml"
HEADER = ("# diffmarket configuration: the packaged defaults (diffmarket.config.Config), written out by tools/write_config.py.\n"
          "# Any command takes --config FILE; a file needs only the keys it changes. Each comment is the one beside the\n"
          "# field in diffmarket.config (nbs/00b_config.ipynb): its unit and meaning.\n")


def field_comments(cls) -> dict:
    "{field name: the comment on the lines of its definition} for dataclass `cls`, read from its source."
    src = textwrap.dedent(inspect.getsource(cls))
    comments = {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT: comments[tok.start[0]] = tok.string.lstrip("#").strip()
    out = {}
    for node in ast.parse(src).body[0].body:                      # the class body: fields are annotated assignments
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            said = [comments[n] for n in range(node.lineno, node.end_lineno + 1) if n in comments]
            if said: out[node.target.id] = " ".join(said)
    return out


def _key_lines(key, value, comment, indent:str) -> list:
    "The YAML lines of one key (block style), the comment on its first line."
    lines = yaml.safe_dump({key: value}, sort_keys=False, allow_unicode=True, width=10_000).splitlines()
    if comment: lines[0] += f"  # {comment}"
    return [indent + l for l in lines]


def section_lines(section, indent:str="") -> list:
    "The YAML lines of a config section (a dataclass instance), subsections nested, every key with its comment."
    notes, out = field_comments(type(section)), []
    for f in fields(section):
        v = getattr(section, f.name)
        if is_dataclass(v):
            out += [f"{indent}{f.name}:" + (f"  # {notes[f.name]}" if f.name in notes else "")] + section_lines(v, indent + "  ")
        else: out += _key_lines(f.name, v, notes.get(f.name), indent)
    return out


def config_yaml(cfg=None) -> str:
    "The text of config.yaml: `cfg` (default: the packaged defaults), one commented block per section."
    cfg = cfg if cfg is not None else Config()
    out = []
    for f in fields(cfg):
        section = getattr(cfg, f.name)
        out += [f"{f.name}:  # {inspect.getdoc(type(section)).splitlines()[0]}"] + section_lines(section, "  ")
    return HEADER + "\n".join(out) + "\n"


if __name__ == "__main__":
    PATH.write_text(config_yaml(), encoding="utf-8")
    print("wrote", PATH)
