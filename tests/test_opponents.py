"""Opponent inference, footprints and level-k (diffmarket.opponents): light checks that fail if the thing breaks."""
import dataclasses

import numpy as np
import pandas as pd
import pytest

from diffmarket.core import MarketConfig, load_config
from diffmarket.agents import AgentFactory
import diffmarket.opponents as op


@pytest.fixture(scope="module")
def population():
    return op.simulated_population(2, 200, seed=3)


def test_tape_has_a_row_per_agent_per_step(population):
    tape, cfgs = population[0]
    assert len(cfgs) == len(tape.kinds) == 10
    assert (tape.orders.groupby("agent").step.nunique() == 200).all()


def test_maker_parameters_recovered(population):
    tape, cfgs = population[1]
    est = op.fit_market_maker(op.maker_quotes(tape.of(0, 200)))
    assert abs(est["mm_gamma"] / cfgs[0].mm_gamma - 1) < 0.1 and abs(est["mm_k"] / cfgs[0].mm_k - 1) < 0.1


def test_informed_horizon_recovered(population):
    tape, cfgs = population[0]
    i = tape.kinds.index("informed")
    assert op.fit_informed(tape.of(i), tape.env.fundamental)["informed_horizon"] == cfgs[i].informed_horizon


def test_types_told_apart(population):
    t = op.feature_table(population, [200])
    clf = op.TypeClassifier(0, 50).fit(t)
    assert (clf.predict(t) == t.kind.to_numpy()).mean() == 1.0          # in-sample: the features separate the types


def test_kernel_and_schedule():
    K = pd.DataFrame(dict(G=np.r_[0.0, 0.02 * np.exp(-np.arange(29) / 6.0)], se=0.0))
    kern = op.fit_exponential_kernel(K)
    assert abs(kern["decay"] - 6.0) < 1e-3
    s = op.footprint_schedule(kern, 0.001, 2000, 10, 1000)
    assert s.sum() == 2000 and s.max() <= 1000
    assert op.schedule_cost(s, kern, 0.001) < op.schedule_cost(np.full(10, 200), kern, 0.001)


def test_transient_impact_is_off_by_default():
    assert MarketConfig().transient_impact_lambda == 0.0
    cfg = op.footprint_market(2e-6, 10.0)
    assert cfg.market.transient_impact_lambda == 2e-6 and "informed" not in cfg.market_agent.population


def test_bad_input_names_the_place():
    with pytest.raises(op.OpponentError, match="footprint_schedule"):
        op.footprint_schedule(dict(amplitude=0.01, decay=5.0), 0.0, 10_000, 5, 100)
    with pytest.raises(op.OpponentError, match="level_profile"):
        g = op.NormalFormGame([np.zeros((1, 1)), np.zeros((1, 1))]); g.strategy_names = [["a"], ["b"]]
        op.level_profile(g)


def test_spoofer_detected():
    tr = op.spoofing_markets(2, True, 150, seed=5) + op.spoofing_markets(2, False, 150, seed=5)
    te = op.spoofing_markets(2, True, 150, seed=6) + op.spoofing_markets(2, False, 150, seed=6)
    rep = op.detection_report(tr, te)
    assert rep["recall"] == 1.0 and rep["false_positive_rate"] == 0.0


def test_switch_probability_from_a_seen_chain():
    rng = np.random.default_rng(1)
    T, p = 3000, 0.03
    regime = np.where(np.cumsum(rng.random(T) < p) % 2 == 0, 1.0, -1.0)
    like = op.regime_likelihoods(np.ones(T), np.zeros(T), regime, 100.0)    # every step's order shows the regime
    n = int((np.diff(regime) != 0).sum())
    fit, em = op.fit_switch_prob(like, prior=(0.003, 0.03)), op.switch_em(like)
    assert abs(fit["switch_prob"] - n / (T - 1)) < 2e-3                 # the MLE is the switch count when every regime is seen
    assert abs(em["switch_prob"] - fit["switch_prob"]) < 1e-4            # Baum–Welch reaches the same maximum
    assert abs(fit["rel_se"] * np.sqrt(n) - 1) < 0.05
    assert 0.003 <= fit["posterior_median"] <= 0.03
    flat = op.regime_likelihoods(np.zeros(T), np.zeros(T), np.zeros(T), 100.0)  # signal 0: both regimes predict nothing
    assert op.fit_switch_prob(flat)["rel_se"] > 10 * fit["rel_se"]


def test_direct_propagator_fit_recovers_a_known_decay():
    rng = np.random.default_rng(2)
    G = 0.02 * np.exp(-np.arange(200) / 8.0); g = np.r_[G[0], np.diff(G)]
    flows = [rng.choice([-1, 1], 3000) * rng.integers(50, 1000, 3000) for _ in range(3)]
    mids = [100 * np.exp(np.cumsum(np.r_[0, np.convolve(v, g)[:len(v)] * 1e-4 + rng.normal(0, 1e-4, len(v))])) for v in flows]
    fit = op.fit_propagator_direct(flows, mids)
    assert abs(fit["decay"] - 8.0) < 3 * fit["decay_se"] and fit["decay_se"] < 1.0
    assert abs(op.fit_decay(flows, mids)["decay"] - 8.0) < 1.0


def test_spoof_detector_on_held_out_markets():
    tr = op.spoofing_markets(2, True, 150, seed=5, rate=0.1) + op.spoofing_markets(2, False, 150, seed=5)
    te = op.spoofing_markets(2, True, 150, seed=6, rate=0.1) + op.spoofing_markets(2, False, 150, seed=6)
    rep = op.detection_report(tr, te, "classifier")
    assert rep["recall"] == 1.0 and rep["false_positive_rate"] == 0.0
    f = op.spoof_features(te[0])
    assert f.layered.iloc[-1] > 0 and (f.layered.iloc[:-1] == 0).all()   # only the spoofer layers
