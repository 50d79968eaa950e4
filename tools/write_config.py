"""Write config.yaml from the defaults in diffmarket.core (tests/test_config.py checks the two agree)."""
from pathlib import Path
import yaml
from diffmarket.core import Config, config_to_dict

HEADER = ("# diffmarket configuration: the packaged defaults (diffmarket.core.Config), written out.\n"
          "# Any command takes --config FILE; a file needs only the keys it changes. Units are in diffmarket.core.\n")

if __name__ == "__main__":
    p = Path(__file__).resolve().parent.parent / "config.yaml"
    p.write_text(HEADER + yaml.safe_dump(config_to_dict(Config()), sort_keys=False), encoding="utf-8")
    print("wrote", p)
