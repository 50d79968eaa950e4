"""The small diffusion market agent the market-agent tests share (tests/test_market_diffusion.py, tests/test_evaluate.py):
a config of short episodes and one epoch, and the model trained once per test session on six episodes."""
import dataclasses

from diffmarket.config import load_config
from diffmarket.games.market_agent.training import MarketTrainer
from diffmarket.games.market_agent.episodes import generate_episodes, make_windows


def small_cfg(**agent):
    "The packaged config with a market agent small enough for tests (`agent`: further market_agent keys)."
    cfg = load_config()
    kw = dict(episode_length=30, epochs=1, batch_size=128, n_action_steps=4, workers=1)
    kw.update(agent)
    return dataclasses.replace(cfg, market_agent=dataclasses.replace(cfg.market_agent, **kw))


def train_small(out):
    "(config, windows, best model, checkpoint folder `out`) of one epoch on six short episodes."
    cfg = small_cfg()
    windows = make_windows(generate_episodes(cfg, 6, progress=False), cfg.market_agent)
    tr = MarketTrainer(windows, cfg, progress=False)
    tr.fit(out_dir=out)
    return cfg, windows, tr.best_model(), out


def train_rules():
    "(config, windows, model) trained long enough to learn the rules: 40 episodes of 100 steps under drawn rules, 16 epochs."
    cfg = small_cfg(episode_length=100, epochs=16, workers=2)
    windows = make_windows(generate_episodes(cfg, 40, progress=False), cfg.market_agent)
    tr = MarketTrainer(windows, cfg, progress=False)
    tr.fit()
    return cfg, windows, tr.best_model()
