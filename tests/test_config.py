"""config.yaml at the root must hold exactly the packaged defaults, and bad config files give one clear error."""
from pathlib import Path
import pytest
from diffmarket.core import Config, load_config, ConfigError

ROOT = Path(__file__).resolve().parent.parent

def test_root_config_equals_defaults():
    assert load_config(ROOT / "config.yaml") == Config()

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
