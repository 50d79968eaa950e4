"""Opponent inference, footprints and level-k (diffmarket.games.opponents): light checks that fail if the thing breaks."""
import dataclasses

import numpy as np
import pandas as pd
import pytest

from diffmarket.config import MarketConfig, load_config
from diffmarket.market.agents import AgentFactory
from diffmarket.games.forms import NormalFormGame
from diffmarket.games.opponents.applications import detection_report, spoof_features, spoofing_markets
from diffmarket.games.opponents.footprints import (fit_decay, fit_exponential_kernel, fit_propagator_direct,
    footprint_market, footprint_schedule, schedule_cost)
from diffmarket.games.opponents.levelk import (diffusion_arrivals, diffusion_level_pnl, diffusion_level_profile,
    footprint_cost, level_choices, level_profile, play_arrival, timed_predator_plans)
from diffmarket.games.opponents.parameters import (fit_informed, fit_market_maker, fit_switch_prob, maker_quotes,
    regime_likelihoods, switch_em)
from diffmarket.games.opponents.types import OpponentError, TypeClassifier, feature_table, simulated_population


@pytest.fixture(scope="module")
def population():
    return simulated_population(2, 200, seed=3)


def test_tape_has_a_row_per_agent_per_step(population):
    tape, cfgs = population[0]
    assert len(cfgs) == len(tape.kinds) == 10
    assert (tape.orders.groupby("agent").step.nunique() == 200).all()


def test_maker_parameters_recovered(population):
    tape, cfgs = population[1]
    est = fit_market_maker(maker_quotes(tape.of(0, 200)))
    assert abs(est["mm_gamma"] / cfgs[0].mm_gamma - 1) < 0.1 and abs(est["mm_k"] / cfgs[0].mm_k - 1) < 0.1


def test_informed_horizon_recovered(population):
    tape, cfgs = population[0]
    i = tape.kinds.index("informed")
    assert fit_informed(tape.of(i), tape.env.fundamental)["informed_horizon"] == cfgs[i].informed_horizon


def test_types_told_apart(population):
    t = feature_table(population, [200])
    clf = TypeClassifier(0, 50).fit(t)
    assert (clf.predict(t) == t.kind.to_numpy()).mean() == 1.0          # in-sample: the features separate the types


def test_kernel_and_schedule():
    K = pd.DataFrame(dict(G=np.r_[0.0, 0.02 * np.exp(-np.arange(29) / 6.0)], se=0.0))
    kern = fit_exponential_kernel(K)
    assert abs(kern["decay"] - 6.0) < 1e-3
    s = footprint_schedule(kern, 0.001, 2000, 10, 1000)
    assert s.sum() == 2000 and s.max() <= 1000
    assert schedule_cost(s, kern, 0.001) < schedule_cost(np.full(10, 200), kern, 0.001)


def test_transient_impact_is_off_by_default():
    assert MarketConfig().transient_impact_lambda == 0.0
    cfg = footprint_market(2e-6, 10.0)
    assert cfg.market.transient_impact_lambda == 2e-6 and "informed" not in cfg.market_agent.population


def test_bad_input_names_the_place():
    with pytest.raises(OpponentError, match="footprint_schedule"):
        footprint_schedule(dict(amplitude=0.01, decay=5.0), 0.0, 10_000, 5, 100)
    with pytest.raises(OpponentError, match="level_profile"):
        g = NormalFormGame([np.zeros((1, 1)), np.zeros((1, 1))]); g.strategy_names = [["a"], ["b"]]
        level_profile(g)


def test_spoofer_detected():
    tr = spoofing_markets(2, True, 150, seed=5) + spoofing_markets(2, False, 150, seed=5)
    te = spoofing_markets(2, True, 150, seed=6) + spoofing_markets(2, False, 150, seed=6)
    rep = detection_report(tr, te)
    assert rep["recall"] == 1.0 and rep["false_positive_rate"] == 0.0


def test_switch_probability_from_a_seen_chain():
    rng = np.random.default_rng(1)
    T, p = 3000, 0.03
    regime = np.where(np.cumsum(rng.random(T) < p) % 2 == 0, 1.0, -1.0)
    like = regime_likelihoods(np.ones(T), np.zeros(T), regime, 100.0)    # every step's order shows the regime
    n = int((np.diff(regime) != 0).sum())
    fit, em = fit_switch_prob(like, prior=(0.003, 0.03)), switch_em(like)
    assert abs(fit["switch_prob"] - n / (T - 1)) < 2e-3                 # the MLE is the switch count when every regime is seen
    assert abs(em["switch_prob"] - fit["switch_prob"]) < 1e-4            # Baum–Welch reaches the same maximum
    assert abs(fit["rel_se"] * np.sqrt(n) - 1) < 0.05
    assert 0.003 <= fit["posterior_median"] <= 0.03
    flat = regime_likelihoods(np.zeros(T), np.zeros(T), np.zeros(T), 100.0)  # signal 0: both regimes predict nothing
    assert fit_switch_prob(flat)["rel_se"] > 10 * fit["rel_se"]


def test_direct_propagator_fit_recovers_a_known_decay():
    rng = np.random.default_rng(2)
    G = 0.02 * np.exp(-np.arange(200) / 8.0); g = np.r_[G[0], np.diff(G)]
    flows = [rng.choice([-1, 1], 3000) * rng.integers(50, 1000, 3000) for _ in range(3)]
    mids = [100 * np.exp(np.cumsum(np.r_[0, np.convolve(v, g)[:len(v)] * 1e-4 + rng.normal(0, 1e-4, len(v))])) for v in flows]
    fit = fit_propagator_direct(flows, mids)
    assert abs(fit["decay"] - 8.0) < 3 * fit["decay_se"] and fit["decay_se"] < 1.0
    assert abs(fit_decay(flows, mids)["decay"] - 8.0) < 1.0


def test_spoof_detector_on_held_out_markets():
    tr = spoofing_markets(2, True, 150, seed=5, rate=0.1) + spoofing_markets(2, False, 150, seed=5)
    te = spoofing_markets(2, True, 150, seed=6, rate=0.1) + spoofing_markets(2, False, 150, seed=6)
    rep = detection_report(tr, te, "classifier")
    assert rep["recall"] == 1.0 and rep["false_positive_rate"] == 0.0
    f = spoof_features(te[0])
    assert f.layered.iloc[-1] > 0 and (f.layered.iloc[:-1] == 0).all()   # only the spoofer layers


@pytest.fixture(scope="module")
def diffusion_executor(small_market_agent):
    "The tests' shared small agent as the executor, and its arrivals on six estimation markets (2,000 shares in 8 steps)."
    from diffmarket.games.market_agent.agent import MarketDiffusionAgent
    from diffmarket.games.market_agent.observation import Rules
    from diffmarket.games.market_agent.episodes import episode_seed
    cfg, _, model, _ = small_market_agent
    agent = MarketDiffusionAgent(model, Rules.from_config(cfg.market, cfg.market_agent), cfg.market_agent)
    return cfg, agent, diffusion_arrivals(cfg, agent, [episode_seed(33, i) for i in range(6)], 2000, 8, num_candidates=12)


def test_arrival_is_replayed_with_common_random_numbers(diffusion_executor):
    cfg, _, arrivals = diffusion_executor
    arr, cands, own = arrivals[0]
    assert len(cands) == 12 and all(int(c.sum()) == 2000 for c in cands) and np.isfinite(own).all()
    plans = timed_predator_plans(1000, 8, 2)
    a, b = play_arrival(arr, cands[0], plans["run_0_6"]), play_arrival(arr, cands[0], plans["run_0_6"])
    assert a["shortfall_bps"] == b["shortfall_bps"] and a["predator_pnl"] == b["predator_pnl"]
    idle = play_arrival(arr, cands[0], plans["idle"])
    assert idle["predator_pnl"] == 0.0 and idle["mid_path_bps"][0] == 0.0 and len(idle["mid_path_bps"]) == 9
    with pytest.raises(OpponentError, match="play_arrival"):
        play_arrival(arr, cands[0][:4], plans["idle"])


def test_level_choice_avoids_a_modelled_footprint(diffusion_executor):
    _, _, arrivals = diffusion_executor
    late = np.r_[np.zeros(5), np.full(4, 50.0)]                       # the opponent lifts the mid in the last steps
    ch = level_choices(arrivals, {0: late}, 1)
    tail = lambda s: s[4:].sum()
    for (_, c, own), j0, j1 in zip(arrivals, ch[0], ch[1]):
        fc = footprint_cost(c, late)
        assert fc[j1] <= fc[j0] and fc[j1] <= fc.min() + np.ptp(own) + 1e-9
    t1, t0 = (np.mean([tail(c[j]) for (_, c, _), j in zip(arrivals, cj)]) for cj in (ch[1], ch[0]))
    choice = any(np.ptp([tail(x) for x in c]) > 0 for _, c, _ in arrivals)     # candidates that differ in what they buy late
    assert t1 < t0 if choice else t1 == t0


def test_level_chain_and_table(diffusion_executor):
    from diffmarket.games.market_agent.episodes import episode_seed
    cfg, agent, arrivals = diffusion_executor
    plans = timed_predator_plans(1000, 8, 2)
    lv = diffusion_level_profile(arrivals, plans, max_level=2)
    assert lv.opponents[0] == "uniform" and all(lv.opponents[k] == lv.predator_pnl.loc[k].idxmax() for k in (1, 2))
    assert np.allclose(lv.schedules.sum(axis=1), 2000)
    held = diffusion_arrivals(cfg, agent, [episode_seed(34, i) for i in range(4)], 2000, 8, num_candidates=12)
    lp = diffusion_level_pnl(held, lv)
    assert len(lp) == 3 * 4 and list(lp.opponent.unique()) == ["idle", "level 0", "level 1", "level 2"]
    at = lambda k, opp, f: float(lp[(lp.agent_level == k) & (lp.opponent == opp)][f].iloc[0])
    hurt, idle = at(0, "level 1", "shortfall_bps"), at(0, "idle", "shortfall_bps")
    assert hurt > idle if lv.opponents[1] != "idle" else hurt == idle            # the best predator against level 0 raises its cost, held out
    assert at(0, "idle", "predator_pnl") == 0.0
    idle0 = diffusion_level_profile(arrivals, plans, max_level=1, level0="idle")
    assert idle0.schedules.loc[1].tolist() == idle0.schedules.loc[0].tolist()   # an idle level 0 leaves level 1 as level 0
    with pytest.raises(OpponentError, match="diffusion_level_profile"):
        diffusion_level_profile(arrivals, {"run_0_6": plans["run_0_6"]})
