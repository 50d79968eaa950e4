"""Evaluation of the diffusion market agent (nbs/32_evaluate): exact metrics, confidence intervals, same markets for
every slot occupant, rule counts, the market game and its equilibrium at equal budget, and the three commands run as
console scripts from an empty folder with only the packaged defaults."""
import dataclasses, json, math, os, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from diffmarket.config import load_config
from diffmarket.games.nash_solver import ProposalModel
from diffmarket.games.market_agent.agent import MarketDiffusionAgent, load_market_agent
from diffmarket.games.market_agent.observation import Rules
from diffmarket.games.market_agent.training import load_market_checkpoint
from diffmarket.games.market_commands import evaluate_checkpoint
from diffmarket.games.evaluate import (TIGHT_RULES, MarketGame, UniformProposal, agent_metrics, episode_sharpe, episode_table,
    execution_shortfall, market_equilibrium, mean_ci, nash_conv_lower_bound, rule_counts,
    run_episodes, shortfall_episode, slot_comparison, split_evenly, summarize, to_schedule, wilson, with_overrides)

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def ckpt(small_market_agent):
    "The shared small agent's config and checkpoint folder."
    cfg, _, _, out = small_market_agent
    return cfg, out


def test_metrics_exact():
    ep = dict(pnl_all=np.array([[10.0], [10.0], [60.0], [-40.0], [110.0]]), dpos=np.array([[-50.0], [0.0], [0.0], [0.0]]),
              mid=np.array([100.0, 99.0, 99.0, 100.0, 100.0]))
    m = agent_metrics(ep, 0, load_config().market, impact_horizon=1)
    assert m["pnl"] == 100.0 and m["traded"] == 50.0
    assert math.isclose(m["market_impact_bps"], 100.0)                          # sold, and the mid fell 1% a step later
    assert math.isclose(m["max_drawdown"], (1e6 - 50) / (1e6 + 50) - 1)       # PnL since the first row: 0, 0, 50, -50, 100


def test_confidence_intervals():
    x = np.array([1.0, 4.0, 2.0, 7.0])
    ci = mean_ci(x)
    h = stats.t.ppf(0.975, 3) * x.std(ddof=1) / 2
    assert math.isclose(ci["lo"], x.mean() - h) and math.isclose(ci["hi"], x.mean() + h)
    lo, hi = wilson(0, 20)
    assert lo == 0 and 0 < hi < 0.2
    es = episode_sharpe(x)
    assert math.isclose(es["sharpe"], x.mean() / x.std(ddof=1)) and es["lo"] < es["sharpe"] < es["hi"]
    assert episode_sharpe(x + 1.0)["sharpe"] > es["sharpe"]                        # a better mean, the same spread: a higher Sharpe


def test_summary_and_same_markets(ckpt):
    cfg, out = ckpt
    agent = load_market_agent(out)
    eps = run_episodes(cfg, "diffusion", agent, num_episodes=3)
    s = summarize(episode_table(eps, cfg.market))
    assert "diffusion" in s.index and (s.episodes == 3).all()
    assert {"pnl_lo", "pnl_hi", "sharpe", "max_drawdown", "win_rate", "market_impact_bps"} <= set(s.columns)
    comp, runs = slot_comparison(cfg, agent, num_episodes=3, kinds=("speculator",))
    assert [e["seed"] for e in runs["speculator"]] == [e["seed"] for e in runs["diffusion"]]
    assert comp.loc["diffusion", "pnl_minus_diffusion"] == 0
    with pytest.raises(Exception, match="unknown slot occupant"): run_episodes(cfg, "whale", None, 2)


def test_rule_counts_with_and_without_projection(ckpt):
    cfg, out = ckpt
    tight = with_overrides(cfg, {**TIGHT_RULES, "market_agent": {"max_order_qty": 20}})     # a cap below what it sends: projection must act
    model = load_market_checkpoint(out)[0]
    agent = lambda p: MarketDiffusionAgent(model, Rules.from_config(tight.market, tight.market_agent), tight.market_agent, project=p)
    counts = {p: rule_counts(run_episodes(tight, "diffusion", agent(p), 3)) for p in (True, False)}
    assert counts[True]["sent_infeasible"] == 0 and counts[True]["rejected_by_market"] == 0 and counts[True]["orders"] > 0
    assert counts[False]["sent_infeasible"] == counts[False]["infeasible"] > 0 and counts[False]["order_size"] > 0


def test_schedules():
    assert split_evenly(10, 3).tolist() == [3, 4, 3]
    s = to_schedule([5, 0, 1, 1], 1000, 400)
    assert s.sum() == 1000 and s.max() <= 400 and s[1] == 0


def test_shortfall(ckpt):
    cfg, out = ckpt
    summary, table = execution_shortfall(cfg, load_market_agent(out), Q=600, num_episodes=2, num_candidates=4)
    assert list(summary.index) == ["twap", "diffusion", "diffusion_without_self_impact", "random_ranked"]
    assert np.isfinite(summary.shortfall_bps).all() and summary.loc["twap", "minus_twap"] == 0
    assert (table.groupby("strategy").apply(lambda g: g.schedule.map(sum).eq(600).all(), include_groups=False)).all()


def test_shortfall_prices_what_a_schedule_costs():
    "In a quiet market (no drift to win or lose), buying all 600 shares in the first step costs more than TWAP in every market: depth."
    cfg = load_config()
    cfg = dataclasses.replace(cfg, market=dataclasses.replace(cfg.market, fundamental_vol=1e-6))
    one = {"twap": lambda f, rs: split_evenly(600, 8), "all_at_once": lambda f, rs: np.r_[600, np.zeros(7, int)]}
    for seed in (11, 12, 13):
        r = shortfall_episode(cfg, seed, one, 600, 8)
        assert r["all_at_once"]["shortfall_bps"] > r["twap"]["shortfall_bps"] > 0
        assert r["all_at_once"]["filled"] == r["twap"]["filled"] == 1.0


def test_market_game_and_equilibrium(ckpt):
    cfg, out = ckpt
    agent = load_market_agent(out)
    assert isinstance(agent, ProposalModel) and isinstance(UniformProposal(), ProposalModel)
    g = MarketGame(cfg, n_players=2, seeds=range(2))
    flat = np.tile([-1.0, 0.0, 0.0], cfg.market_agent.horizon)
    assert (g.per_seed(np.stack([flat, flat])) == 0).all()
    test = MarketGame(cfg, 2, range(50, 52))
    nc = nash_conv_lower_bound(g, test, np.stack([flat, flat]), {"r": UniformProposal()}, 3)
    churn = np.tile([1.0, 1.0, 1.0, 1.0, -1.0, 1.0], cfg.market_agent.horizon // 2 + 1)[: cfg.market_agent.horizon * 3]
    nc_churn = nash_conv_lower_bound(g, test, np.stack([churn, flat]), {"r": UniformProposal()}, 3)
    assert nc["label"] == "lower bound" and nc["nash_conv_lower_bound"] >= 0          # staying put is a candidate: never below 0
    assert nc_churn["nash_conv_lower_bound"] > max(nc["nash_conv_lower_bound"], 0)     # a player churning 1,000 shares a step gains by stopping
    assert nc_churn["per_player"][0]["gain"] > 0
    eq = market_equilibrium(cfg, agent, n_players=2, seeds=range(2), test_seeds=range(60, 62), n_candidates=3, max_iter=1,
                            pool_size=2, check_candidates=3)
    assert eq["diffusion"]["simulations"] == eq["random_search"]["simulations"] > 0
    # the power test's sign on 2 seeds is noise (the churner can gain on them): the churner's loss is checked above
    # (nc_churn), the power test's power in the bench (16 held-out seeds)


def run_script(name, args, cwd):
    return subprocess.run([str(BIN / name), *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, MPLBACKEND="Agg"))


def test_three_commands_from_an_empty_folder(tmp_path):
    "Only the packaged defaults: train small, simulate with the checkpoint, evaluate it; bad input is one line."
    r = run_script("diffmarket-train-market", ["--num_episodes", "4", "--episode_length", "30", "--num_epochs", "1",
                                               "--batch_size", "64", "--out", "checkpoints/", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["epochs"] == 1 and (tmp_path / "checkpoints" / "best_model.pt").exists()
    r = run_script("diffmarket-simulate", ["--checkpoint", "checkpoints/best_model.pt", "--num_agents", "5", "--num_steps", "60",
                                           "--no_figures", "--out", "runs/sim"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert pd.read_csv(tmp_path / "runs" / "sim" / "agents.csv").kind.iloc[-1] == "diffusion"
    r = run_script("diffmarket-evaluate", ["--checkpoint", "checkpoints/best_model.pt", "--num_episodes", "2", "--out", "runs/eval",
                                           "--workers", "1", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr
    ev = json.loads((tmp_path / "runs" / "eval" / "evaluation.json").read_text())
    assert ev["rules"]["sent_infeasible"] == 0 and "diffusion" in ev["per_type"]
    (tmp_path / "bad.pt").write_text("nope")
    r = run_script("diffmarket-evaluate", ["--checkpoint", "bad.pt", "--out", "runs/bad"], tmp_path)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "not a readable market-agent checkpoint" in r.stderr
    assert not (tmp_path / "runs" / "bad").exists()
    r = run_script("diffmarket-train-market", ["--batch_size", "0", "--out", "c2"], tmp_path)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "market_agent.batch_size" in r.stderr
