"""config.yaml at the root must hold exactly the packaged defaults, written by tools/write_config.py with every key's
comment from diffmarket.core, and bad config files give one clear error."""
import importlib.util
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
import pytest
import yaml
from diffmarket.config import Config, MarketConfig, load_config
from diffmarket.core import ConfigError

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("write_config", ROOT / "tools" / "write_config.py")
write_config = importlib.util.module_from_spec(spec); spec.loader.exec_module(write_config)

def sections(cfg=Config(), path=""):
    "(dotted path, section) for every section of the config, subsections included."
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        if is_dataclass(v): yield from [(path + f.name, v)] + list(sections(v, path + f.name + "."))

def test_root_config_equals_defaults():
    assert load_config(ROOT / "config.yaml") == Config()

def test_root_config_is_what_write_config_writes():
    "Regenerate with `python tools/write_config.py` after changing a default or a field's comment in nbs/00b_config.ipynb."
    assert (ROOT / "config.yaml").read_text(encoding="utf-8") == write_config.config_yaml()

def test_every_field_has_its_comment_in_config_yaml():
    "Each key's line in config.yaml carries the comment beside its field in diffmarket.core (its unit and meaning)."
    lines = (ROOT / "config.yaml").read_text(encoding="utf-8").splitlines()
    for path, section in sections():
        notes = write_config.field_comments(type(section))
        for f in fields(section):
            assert notes.get(f.name), f"{path}.{f.name} has no comment beside its field in nbs/00b_config.ipynb (say its unit and meaning)"
            indent = "  " * (path.count(".") + 1)
            assert any(l.startswith(f"{indent}{f.name}:") and l.endswith(f"  # {notes[f.name]}") for l in lines), f"{path}.{f.name}"

def test_field_comments_read_the_source():
    notes = write_config.field_comments(MarketConfig)
    assert notes["tick_size"] == "price increment, currency units"
    assert notes["agents"].startswith("the agents' parameters")
    assert "validate" not in notes                                          # methods are not fields
    text = write_config.config_yaml()
    assert "  lr_warmup_steps: 100  # optimiser steps of linear warm-up before the cosine decay\n" in text
    assert yaml.safe_load(text) == yaml.safe_load(yaml.safe_dump(asdict(Config())))

def test_every_section_present():
    "One section per part that reads it."
    text = "\n" + (ROOT / "config.yaml").read_text()
    for section in ("data", "model", "training", "backtest", "risk", "market", "games", "live", "market_agent"):
        assert f"\n{section}:" in text

def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"; bad.write_text("backtest: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"): load_config(bad)
    with pytest.raises(ConfigError, match="file not found"): load_config(tmp_path / "nope.yaml")
    typo = tmp_path / "typo.yaml"; typo.write_text("backtest:\n  fee_bsp: 0.1\n")
    with pytest.raises(ConfigError, match="backtest.fee_bsp"): load_config(typo)

@pytest.mark.parametrize("text,key", [("training:\n  epochs: 0\n", "training.epochs"), ("risk:\n  stop_loss: -0.1\n", "risk.stop_loss"),
                                      ("market:\n  agents:\n    noise_arrival: 2.0\n", "market.agents.noise_arrival"),
                                      ("model:\n  sampler: euler\n", "model.sampler"), ("live:\n  timeframe: daily\n", "live.timeframe")])
def test_a_bad_value_names_its_key(tmp_path, text, key):
    p = tmp_path / "bad.yaml"; p.write_text(text)
    with pytest.raises(ConfigError, match=f"config key '{key}': must be"): load_config(p)

@pytest.mark.parametrize("section,old,new", [("training", "warmup_steps", "lr_warmup_steps"),
                                             ("market_agent", "warmup_steps", "market_warmup_steps")])
def test_a_renamed_key_says_its_new_name(tmp_path, section, old, new):
    p = tmp_path / "old.yaml"; p.write_text(f"{section}:\n  {old}: 10\n")
    with pytest.raises(ConfigError, match=f"{section}.{old} was renamed {section}.{new}"): load_config(p)
    with pytest.raises(ConfigError, match=f"{section}.{old} was renamed {section}.{new}"): load_config(overrides={section: {old: 10}})
    assert getattr(getattr(load_config(overrides={section: {new: 10}}), section), new) == 10
