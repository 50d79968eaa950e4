"""diffmarket.market.environment: every rule triggered with its exact outcome, conservation of cash and shares, PettingZoo API."""
import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from diffmarket.core import ConfigError
from diffmarket.config import MarketConfig
from diffmarket.market.environment import (AgentAction, MarketEnvironment, O, OrderRequest, ImpactModel, halt_steps,
    session_minute, clock)

BUY, SELL = "buy", "sell"


def make(**kw):
    kw.setdefault("num_agents", 2); kw.setdefault("num_steps", 2000)
    env = MarketEnvironment(MarketConfig(**kw))
    env.reset(seed=0)
    return env


def act(env, **orders):
    "One step where agent_i sends the given OrderRequests; returns infos."
    actions = {f"agent_{k[1:]}": AgentAction(v if isinstance(v, list) else [v]) for k, v in orders.items()}
    return env.step(actions)[4]


def reasons(infos, agent):
    return [r for _, r in infos[agent]["rejected"]]


def idle(env, n):
    for _ in range(n): env.step({})


# --- price limits -----------------------------------------------------------------------------------------------

def test_price_limit_rejects_outside_band_and_accepts_the_edge():
    env = make()
    infos = act(env, a0=[OrderRequest(SELL, 5, 11_001), OrderRequest(SELL, 5, 11_000),
                         OrderRequest(BUY, 5, 8_999), OrderRequest(BUY, 5, 9_000)])
    assert reasons(infos, "agent_0") == ["price limit", "price limit"]
    assert env.book.best_ask() == (11_000, 5) and env.book.best_bid() == (9_000, 5)


def test_market_order_never_trades_outside_the_band():
    env = make(price_limit=0.05)
    act(env, a0=[OrderRequest(SELL, 10, 10_400), OrderRequest(SELL, 10, 10_500)])
    env.book.submit_limit("outside", -1, 10_600, 10, owner=0)     # slipped in behind the rules' back
    infos = act(env, a1=OrderRequest(BUY, 30))
    assert [(f.price, f.qty) for f in infos["agent_1"]["fills"]] == [(10_400, 10), (10_500, 10)]
    assert env.position == [-20, 20]


def test_price_limit_moves_with_the_previous_close_and_can_be_off():
    env = make(steps_per_day=5)
    act(env, a0=OrderRequest(SELL, 10, 10_500), a1=OrderRequest(BUY, 10))   # close of day 0 at 105.00
    idle(env, 4)
    assert env.prev_close == pytest.approx(105.0)
    assert env.band == (9_450, 11_550)
    env = make(price_limit=None)
    assert reasons(act(env, a0=OrderRequest(SELL, 1, 50_000)), "agent_0") == []


# --- circuit breakers ---------------------------------------------------------------------------------------------

def move_to(env, price_ticks):
    "agent_0 rests a sell at price_ticks, agent_1 lifts it: the last trade prints there."
    env.step({"agent_0": AgentAction([OrderRequest(SELL, 1, price_ticks)])})
    return env.step({"agent_1": AgentAction([OrderRequest(BUY, 1)])})[4]


def test_csi300_5pct_halts_15_minutes_then_resumes():
    env = make(circuit_breaker="csi300_2016", steps_per_day=240)     # one step = one minute of the 240-minute session
    act(env, a0=OrderRequest(SELL, 1, 10_499)); act(env, a1=OrderRequest(BUY, 1))   # 4.99%: no halt
    assert env.halted_until == -1
    move_to(env, 10_500)                              # +5.00% at step 3
    t_hit = env.t - 1
    assert env.halted_until == t_hit + 1 + 15
    for k in range(15):                               # the next 15 steps reject every new order
        assert reasons(act(env, a0=OrderRequest(BUY, 1, 10_000)), "agent_0") == ["halted"], k
        assert env.history["halted"][-1]
    assert reasons(act(env, a0=OrderRequest(BUY, 1, 10_000)), "agent_0") == []
    move_to(env, 10_510)                              # the 5% level fires once a day
    assert env.halted_until == t_hit + 16


def test_csi300_7pct_halts_for_the_day_and_next_day_trades():
    env = make(circuit_breaker="csi300_2016", steps_per_day=100)
    move_to(env, 9_300)                               # -7%
    assert env.halted_until == 100
    idle(env, 100 - env.t)
    assert env.t == 100 and env.halted_until == -1
    assert reasons(act(env, a0=OrderRequest(BUY, 1, 9_000)), "agent_0") == []


def test_csi300_halt_applies_at_once_within_the_step():
    env = make(circuit_breaker="csi300_2016", num_agents=3)
    act(env, a0=OrderRequest(SELL, 1, 10_500))
    env.rng = np.random.default_rng(0)
    # whoever acts after the trade in this step is rejected
    _, _, _, _, infos = env.step({"agent_1": AgentAction([OrderRequest(BUY, 1)]),
                                  "agent_2": AgentAction([OrderRequest(BUY, 1, 9_000)])})
    order = list(np.random.default_rng(0).permutation(3))
    r2 = reasons(infos, "agent_2")
    assert r2 == (["halted"] if order.index(2) > order.index(1) else [])


def test_us_mwcb_levels():
    env = make(circuit_breaker="us_mwcb", price_limit=None, steps_per_day=390)
    move_to(env, 9_300)                                            # level 1, -7%
    assert env.halted_until == env.t + 15
    idle(env, 15)
    move_to(env, 8_700)                                            # level 2, -13%
    assert env.halted_until == env.t + 15
    idle(env, 15)
    move_to(env, 8_000)                                            # level 3, -20%: rest of the day
    assert env.halted_until == 390
    assert reasons(act(env, a0=OrderRequest(BUY, 1, 8_000)), "agent_0") == ["halted"]


def test_us_mwcb_level1_not_applied_at_or_after_3_25_pm_but_level3_is():
    env = make(circuit_breaker="us_mwcb", price_limit=None, steps_per_day=390)
    idle(env, 353)
    info = move_to(env, 9_300)                                     # -7% in step 354 (3:24 pm): level 1 halts
    assert clock(session_minute(env.t - 1, 390)) == "15:24" and env.halted_until == env.t + 15
    env = make(circuit_breaker="us_mwcb", price_limit=None, steps_per_day=390)
    idle(env, 354)
    move_to(env, 9_300)                                            # -7% in step 355 (3:25 pm): no halt
    assert clock(session_minute(env.t - 1, 390)) == "15:25" and env.halted_until == -1
    move_to(env, 8_700)                                            # -13% at 3:27 pm: no halt either
    assert env.halted_until == -1
    assert reasons(act(env, a1=OrderRequest(BUY, 1, 7_000)), "agent_1") == []      # trading goes on
    move_to(env, 8_000)                                            # -20% at 3:30 pm: closed for the day
    assert env.halted_until == 390
    assert reasons(act(env, a0=OrderRequest(BUY, 1, 8_000)), "agent_0") == ["halted"]
    idle(env, 390 - env.t)
    assert env.halted_until == -1 and reasons(act(env, a0=OrderRequest(BUY, 1, 8_000)), "agent_0") == []


def test_csi300_5pct_at_or_after_14_45_halts_to_the_close():
    env = make(circuit_breaker="csi300_2016", steps_per_day=240)
    idle(env, 222)
    move_to(env, 10_500)                                           # +5% in step 223 (14:43): 15 minutes
    assert clock(session_minute(env.t - 1, 240, 240), "csi300_2016") == "14:43"
    assert env.halted_until == env.t + 15 == 239
    env = make(circuit_breaker="csi300_2016", steps_per_day=240)
    idle(env, 224)
    move_to(env, 10_500)                                           # +5% in step 225 (14:45): until the close
    assert clock(session_minute(env.t - 1, 240, 240), "csi300_2016") == "14:45"
    assert env.halted_until == 240
    for _ in range(240 - env.t):
        assert reasons(act(env, a0=OrderRequest(BUY, 1, 10_000)), "agent_0") == ["halted"]
    assert env.t == 240 and env.halted_until == -1                 # the next day trades
    assert reasons(act(env, a0=OrderRequest(BUY, 1, 10_000)), "agent_0") == []


def test_csi300_halt_counts_trading_minutes():
    env = make(circuit_breaker="csi300_2016", steps_per_day=48)    # a step is 5 minutes of the 240-minute session
    move_to(env, 10_500)
    assert env.halted_until == env.t + 3
    assert halt_steps(15, 48, 240) == 3 and halt_steps(15, 390, 240) == 25


def test_halt_steps_scale_with_step_length():
    assert halt_steps(15, 390) == 15 and halt_steps(15, 26) == 1 and halt_steps(15, 780) == 30


# --- circuit breakers: each preset's direction, every level both ways, at normal times and late in the session ----------
#
# One step is one minute (390 steps for us_mwcb, 240 for csi300_2016). The move is printed by move_to, which rests a
# one-share sell in step t0 and lifts it in step t0 + 1 (the trigger step t_hit). From then on agent_0 probes every step
# with a resting buy (its previous probe cancelled first) until the first step of the next day, and the test compares,
# step by step, which probes were rejected as "halted" with what the rule says.

US, CSI = dict(circuit_breaker="us_mwcb", steps_per_day=390), dict(circuit_breaker="csi300_2016", steps_per_day=240)
DAY = {"us_mwcb": 390, "csi300_2016": 240}
NORMAL, LATE_US, LATE_CSI = 9, 355, 225          # trigger steps: 9:39 (10:09 CSI)... 3:25 pm, 14:45


def probe_until_next_day(env, t_hit):
    "Probe each step from t_hit + 1 through the first step of the next day; returns {step: halted?}."
    price = max(env.band[0], 1)
    out = {}
    while env.t <= DAY[env.cfg.circuit_breaker]:
        t = env.t
        infos = env.step({"agent_0": AgentAction([OrderRequest(BUY, 1, price)], cancel_all=True)})[4]
        out[t] = reasons(infos, "agent_0") == ["halted"]
        assert reasons(infos, "agent_0") in ([], ["halted"])
    return out


def breaker_run(rule, move, t_hit):
    "A market under `rule` that prints `move` (fraction of the previous close, signed) in step t_hit."
    env = make(**rule, price_limit=None)
    idle(env, t_hit - 1)
    ticks = round(10_000 * (1 + move))
    move_to(env, ticks)
    assert env.t - 1 == t_hit and env.last_price == pytest.approx(ticks / 100) and env.prev_close == 100.0
    return env


def expected(t_hit, resume, day):
    "Halted from the step after t_hit up to (not including) `resume`; None: no halt at all."
    return {t: resume is not None and t < resume for t in range(t_hit + 1, day + 1)}


@pytest.mark.parametrize("size", [0.07, 0.13, 0.20])
@pytest.mark.parametrize("t_hit", [NORMAL, LATE_US])
def test_us_mwcb_a_rise_of_any_size_never_halts(size, t_hit):
    env = breaker_run(US, +size, t_hit)
    assert env.halted_until == -1
    assert probe_until_next_day(env, t_hit) == expected(t_hit, None, 390)
    assert not any(env.history["halted"])


@pytest.mark.parametrize("size, t_hit, resume", [
    (0.07, NORMAL, NORMAL + 16),       # level 1: the rest of step 9 and steps 10-24 halted, step 25 trades
    (0.13, NORMAL, NORMAL + 16),       # levels 1 and 2 at once: one 15-minute halt
    (0.20, NORMAL, 390),               # level 3: closed for the day, the next day trades
    (0.07, LATE_US - 1, LATE_US + 15), # 3:24 pm: level 1 still halts 15 minutes
    (0.07, LATE_US, None),             # 3:25 pm: levels 1 and 2 do not apply
    (0.13, LATE_US, None),
    (0.20, LATE_US, 390),              # level 3 applies at any time
])
def test_us_mwcb_a_fall_halts_exactly_as_rule_7_12(size, t_hit, resume):
    env = breaker_run(US, -size, t_hit)
    assert env.halted_until == (resume if resume is not None else -1)
    assert probe_until_next_day(env, t_hit) == expected(t_hit, resume, 390)
    assert env.history["halted"][t_hit] == (resume is not None)      # the trigger step itself is halted after the fill


@pytest.mark.parametrize("sign", [+1, -1])
@pytest.mark.parametrize("size, t_hit, resume", [
    (0.05, NORMAL, NORMAL + 16),       # 5% either way: 15 minutes
    (0.07, NORMAL, 240),               # 7% either way: the rest of the day
    (0.05, LATE_CSI - 2, 239),         # 14:43: 15 minutes (steps 224-238), the last minute trades
    (0.05, LATE_CSI, 240),             # 14:45: the 5% halt runs to the close
    (0.07, LATE_CSI, 240),
])
def test_csi300_2016_halts_the_same_both_ways(sign, size, t_hit, resume):
    env = breaker_run(CSI, sign * size, t_hit)
    assert env.halted_until == resume
    assert probe_until_next_day(env, t_hit) == expected(t_hit, resume, 240)


@pytest.mark.parametrize("sign", [+1, -1])
def test_csi300_2016_just_short_of_5pct_either_way_does_not_halt(sign):
    env = breaker_run(CSI, sign * 0.0499, NORMAL)
    assert probe_until_next_day(env, NORMAL) == expected(NORMAL, None, 240)


def test_csi300_2016_each_level_once_a_day_whichever_way():
    env = breaker_run(CSI, +0.05, NORMAL)                          # +5%: 15 minutes
    assert env.halted_until == NORMAL + 16
    idle(env, NORMAL + 16 - env.t)
    move_to(env, 9_500)                                            # -5% later the same day: the level has fired
    assert env.halted_until == NORMAL + 16
    move_to(env, 9_300)                                            # -7%: the rest of the day
    assert env.halted_until == 240


def test_breaker_level_direction_is_data():
    from diffmarket.market.environment import CIRCUIT_BREAKERS, BreakerLevel
    assert {l.direction for l in CIRCUIT_BREAKERS["us_mwcb"]} == {"down"}
    assert {l.direction for l in CIRCUIT_BREAKERS["csi300_2016"]} == {"both"}
    up = BreakerLevel(0.05, 15, None, "up")
    assert up.triggered(0.05) and not up.triggered(-0.5)


def test_a_preset_with_a_bad_direction_is_refused(monkeypatch):
    from diffmarket.market import environment as market
    monkeypatch.setitem(market.CIRCUIT_BREAKERS, "mine", [market.BreakerLevel(0.05, 15, None, "sideways")])
    with pytest.raises(ConfigError, match="market.circuit_breaker"): MarketEnvironment(MarketConfig(circuit_breaker="mine"))


# --- position limits, fees, impact ---------------------------------------------------------------------------------

def test_position_limit_counts_position_and_resting_orders():
    env = make(position_limit=100)
    act(env, a0=OrderRequest(SELL, 80, 10_010), a1=OrderRequest(BUY, 80))
    assert env.position == [-80, 80]
    infos = act(env, a1=[OrderRequest(BUY, 20, 9_990), OrderRequest(BUY, 1, 9_980), OrderRequest(SELL, 200, 10_100),
                         OrderRequest(SELL, 1, 10_100)],
                a0=[OrderRequest(SELL, 21, 10_050), OrderRequest(SELL, 20, 10_050)])
    assert reasons(infos, "agent_1") == ["position limit", "position limit"]   # 80+20+1 > 100 ; 80-200 < -100
    assert reasons(infos, "agent_0") == ["position limit"]                     # -80-21 < -100
    assert len(env.book.orders_of(1)) == 2 and len(env.book.orders_of(0)) == 1


def test_maker_and_taker_fees_exact():
    env = make(maker_fee_bps=-0.5, taker_fee_bps=2.0)
    act(env, a0=OrderRequest(SELL, 100, 10_000), a1=OrderRequest(BUY, 100))
    notional = 100 * 100.0
    assert env.fees_paid[0] == pytest.approx(-0.5e-4 * notional)    # a rebate
    assert env.fees_paid[1] == pytest.approx(2e-4 * notional)
    assert env.cash[0] == pytest.approx(1e6 + notional + 0.5e-4 * notional)
    assert env.cash[1] == pytest.approx(1e6 - notional - 2e-4 * notional)
    assert env.exchange_fees == pytest.approx(1.5e-4 * notional)


def test_impact_model_moves_the_fundamental_by_net_taker_flow():
    env = make(impact_lambda=1e-4, impact_gamma=0.5, fundamental_vol=0.0, jump_intensity=0.0)
    act(env, a0=OrderRequest(SELL, 400, 10_000))
    f0 = env.fundamental.copy()
    act(env, a1=OrderRequest(BUY, 400))
    assert env.fundamental[env.t - 1] == f0[env.t - 1]
    assert env.fundamental[env.t:] == pytest.approx(f0[env.t:] * (1 + 1e-4 * 20))
    assert ImpactModel(1e-4, 0.5).relative(-400) == pytest.approx(-0.002)


def test_self_trade_prevention_in_the_market():
    env = make()
    infos = act(env, a0=[OrderRequest(SELL, 10, 10_000), OrderRequest(BUY, 10)])
    assert infos["agent_0"]["fills"] == [] and env.position == [0, 0]


def test_fundamental_view_and_observation():
    env = MarketEnvironment(MarketConfig(num_agents=2), fundamental_views={"agent_1": 20})
    obs, _ = env.reset(seed=1)
    assert obs["agent_0"][O.fundamental] == 0.0
    assert obs["agent_1"][O.fundamental] == env.fundamental[20]
    obs = env.step({})[0]
    assert obs["agent_1"][O.fundamental] == env.fundamental[21]


# --- accounting -----------------------------------------------------------------------------------------------------

def test_cash_and_shares_conserved_every_step():
    env = MarketEnvironment(MarketConfig(num_agents=6, num_steps=300, maker_fee_bps=-0.2, taker_fee_bps=3.0,
                                         position_limit=500, steps_per_day=60, circuit_breaker="us_mwcb"))
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(3)
    total = 6 * env.cfg.initial_cash
    n_trades = 0
    while env.agents:
        actions = {a: np.array([rng.random() < 0.3, rng.integers(-3, 6), rng.integers(0, 80), rng.integers(-3, 6),
                                rng.integers(0, 80), rng.integers(-60, 60) * (rng.random() < 0.3)]) for a in env.agents}
        obs, rew, *_ = env.step(actions)
        assert sum(env.position) == 0
        assert sum(env.cash) + env.exchange_fees == pytest.approx(total, rel=1e-12)
        assert sum(env.fees_paid) == pytest.approx(env.exchange_fees)
        assert all(abs(p) <= 500 for p in env.position)
    assert len(env.trades) > 100
    acc = env.accounts()
    assert acc.pnl.sum() == pytest.approx(-env.exchange_fees)


def test_parallel_api():
    parallel_api_test(MarketEnvironment(MarketConfig(num_agents=4, num_steps=200)), num_cycles=300)


def test_bad_config():
    with pytest.raises(ConfigError, match="market.circuit_breaker"): MarketEnvironment(MarketConfig(circuit_breaker="eu"))
    with pytest.raises(ConfigError, match="market.price_limit"): MarketEnvironment(MarketConfig(price_limit=1.5))
    with pytest.raises(ConfigError, match="market.num_agents"): MarketEnvironment(MarketConfig(num_agents=0))


# --- the command ------------------------------------------------------------------------------------------------------

import json, shutil, subprocess, sys
from pathlib import Path
import pandas as pd
from diffmarket.market.agents import FIGURES
from diffmarket.app.cli import simulate_cmd as main


def cli(*args):
    exe = shutil.which("diffmarket-simulate", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from diffmarket.app.cli import simulate_cmd; sys.exit(simulate_cmd())"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=300)


def test_simulate_command_writes_every_file(tmp_path):
    out = tmp_path / "run"
    r = cli("--num_agents", "5", "--num_steps", "300", "--seed", "0", "--out", str(out))
    assert r.returncode == 0, r.stderr
    names = {p.name for p in out.iterdir()}
    assert {"trades.csv", "book.csv", "agents.csv", "stylized.json", *FIGURES} <= names
    trades = pd.read_csv(out / "trades.csv")
    assert list(trades.columns[:5]) == ["step", "price", "qty", "maker", "taker"] and len(trades) > 0
    book = pd.read_csv(out / "book.csv"); assert len(book) == 300 and {"bid", "ask", "bid_qty", "ask_qty"} <= set(book.columns)
    agents = pd.read_csv(out / "agents.csv"); assert len(agents) == 5 and {"cash", "position", "pnl"} <= set(agents.columns)
    assert agents.position.sum() == 0
    facts = json.loads((out / "stylized.json").read_text()); assert "heavy_tails" in facts
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]          # no temporary folder left


def test_simulate_is_reproducible(tmp_path):
    assert main(["--num_agents", "4", "--num_steps", "150", "--seed", "3", "--out", str(tmp_path / "a"), "--no_figures"]) == 0
    assert main(["--num_agents", "4", "--num_steps", "150", "--seed", "3", "--out", str(tmp_path / "b"), "--no_figures"]) == 0
    assert (tmp_path / "a/trades.csv").read_text() == (tmp_path / "b/trades.csv").read_text()


@pytest.mark.parametrize("args, msg", [
    (["--num_agents", "0"], "market.num_agents"),
    (["--num_steps", "abc"], "invalid int value"),
    (["--bogus", "1"], "unrecognized arguments"),
    (["--config", "MISSING.yaml"], "file not found"),
])
def test_simulate_bad_flags_one_line_nothing_written(tmp_path, args, msg):
    out = tmp_path / "out"
    r = cli(*args, "--out", str(out))
    assert r.returncode != 0
    assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_simulate_bad_config_value(tmp_path):
    bad = tmp_path / "bad.yaml"; bad.write_text("market:\n  circuit_breaker: eu\n")
    r = cli("--config", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode != 0 and "market.circuit_breaker" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


# --- stylized facts of the default market -------------------------------------------------------------------------------

from diffmarket.market.agents import simulate


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_market_meets_at_least_five_stylized_facts(seed):
    s = simulate(None, None, seed=seed, figures=False)       # the packaged defaults, as diffmarket-simulate runs them
    f = s["facts"]
    assert f["facts_met"] >= 5, {k: v.get("met") for k, v in f.items() if isinstance(v, dict)}
    for fact in ("heavy_tails", "volatility_clustering", "leverage_effect"):
        assert f[fact]["met"], fact


# --- the Avellaneda–Stoikov market maker: T - t in steps, q in lots, the closed forms exactly -----------------------------

import math
from diffmarket.config import MarketAgentsConfig
from diffmarket.market.agents import MarketMaker
from diffmarket.market.environment import OBS_FIELDS


def maker_obs(position, steps_left, steps_per_day=390, mid_ticks=10_000, tick=0.01):
    "An observation of a two-sided book one tick wide around mid_ticks, with steps_left steps to the close."
    obs = np.zeros(len(OBS_FIELDS))
    obs[O.t], obs[O.steps_left], obs[O.time_left] = steps_per_day - steps_left, steps_left, steps_left / steps_per_day
    obs[O.mid], obs[O.bid], obs[O.ask] = mid_ticks * tick, (mid_ticks - 1) * tick, (mid_ticks + 1) * tick
    obs[O.tick_size], obs[O.position] = tick, position
    return obs


def maker(sigma, **kw):
    "A market maker whose volatility estimate is `sigma` ticks per step (no price seen yet, so act() keeps it)."
    mm = MarketMaker(MarketAgentsConfig(**kw)); mm.var = sigma ** 2
    return mm


def closed_form(cfg, mid, inventory, sigma, steps_left):
    "Avellaneda-Stoikov (2008): r = s - q*g*s2*(T-t), spread = g*s2*(T-t) + (2/g) ln(1 + g/k), q in lots."
    g, k = cfg.mm_gamma, cfg.mm_k
    r = mid - inventory / cfg.mm_order_size * g * sigma ** 2 * steps_left
    return r, g * sigma ** 2 * steps_left + 2 / g * math.log1p(g / k)            # log1p: ln(1 + g/k) without cancellation


@pytest.mark.parametrize("sigma, steps_left", [(7.0, 195), (2.0, 390), (12.0, 1), (1.0, 30)])
def test_maker_skew_per_lot_of_inventory_is_gamma_sigma2_T_minus_t(sigma, steps_left):
    mm = MarketMaker(MarketAgentsConfig(mm_gamma=1e-4, mm_k=1.5, mm_order_size=100))
    r_flat, spread_flat, *_ = mm.quotes(10_000, 0, sigma, steps_left)
    r_long, spread_long, *_ = mm.quotes(10_000, 500, sigma, steps_left)            # 5 lots long, same state
    r_short, *_ = mm.quotes(10_000, -1_200, sigma, steps_left)                      # 12 lots short
    per_lot = 1e-4 * sigma ** 2 * steps_left
    assert (r_flat - r_long) / 5 == pytest.approx(per_lot, rel=1e-12)
    assert (r_short - r_flat) / 12 == pytest.approx(per_lot, rel=1e-12)
    assert (r_flat - r_long) / 500 == pytest.approx(per_lot / 100, rel=1e-12)       # per share: over the lot size
    assert spread_long == spread_flat == pytest.approx(per_lot + 2 / 1e-4 * math.log1p(1e-4 / 1.5), rel=1e-12)


@pytest.mark.parametrize("gamma, k", [(1e-4, 1.5), (0.5, 1.5), (2e-5, 2.0), (1.0, 0.3)])
def test_maker_spread_is_the_closed_form_before_rounding(gamma, k):
    cfg = MarketAgentsConfig(mm_gamma=gamma, mm_k=k, mm_order_size=100)
    mm = MarketMaker(cfg)
    for inventory, sigma, left in [(0, 7.0, 195), (700, 3.0, 390), (-2_000, 10.0, 17)]:
        r, spread, bid, ask = mm.quotes(10_000, inventory, sigma, left)
        r_cf, spread_cf = closed_form(cfg, 10_000, inventory, sigma, left)
        assert r == pytest.approx(r_cf, rel=1e-14) and spread == pytest.approx(spread_cf, rel=1e-12)
        assert bid <= r - spread / 2 and ask >= r + spread / 2 and ask - bid >= 2      # rounded outwards, never inside
        if ask - bid > 2: assert bid > r - spread / 2 - 1 and ask < r + spread / 2 + 1


@pytest.mark.parametrize("position, steps_left", [(0, 390), (1_000, 195), (-1_500, 195), (2_000, 60), (300, 1)])
def test_maker_act_takes_T_minus_t_in_steps_from_the_observation(position, steps_left):
    cfg = MarketAgentsConfig()
    mm = maker(7.0)
    orders = mm.act(maker_obs(position, steps_left)).orders
    r, spread = closed_form(cfg, 10_000, position, 7.0, steps_left)
    bid, ask = math.floor(r - spread / 2), math.ceil(r + spread / 2)
    if ask - bid < 2: bid, ask = bid - 1, ask + (2 - (ask - bid) - 1)
    bids = sorted((o.price_ticks for o in orders if o.side == 1), reverse=True)
    asks = sorted(o.price_ticks for o in orders if o.side == -1)
    room_buy, room_sell = (cfg.mm_max_inventory - position) // cfg.mm_order_size, (cfg.mm_max_inventory + position) // cfg.mm_order_size
    assert bids == [bid - l for l in range(min(cfg.mm_levels, room_buy))]
    assert asks == [ask + l for l in range(min(cfg.mm_levels, room_sell))]
    assert all(o.post_only and o.qty == cfg.mm_order_size for o in orders)


def test_maker_inventory_response_is_material_with_the_defaults():
    cfg = MarketAgentsConfig()
    mm = MarketMaker(cfg)
    sigma = 7.0                                     # about the makers' median estimate in the default market (13_agents: 6.4 on seed 0)
    cap = cfg.mm_max_inventory
    skew = lambda left: 10_000 - mm.quotes(10_000, cap, sigma, left)[0]
    assert 3 <= skew(195) <= 8                      # at its cap, mid-session: several ticks
    assert skew(390) == pytest.approx(2 * skew(195)) and skew(1) < 0.05      # twice that at the open, none at the close
    assert mm.quotes(10_000, 0, sigma, 195)[1] < 2.0                          # a flat maker still quotes under 2 ticks wide
    # the quotes themselves: capped long, the maker's best ask sits several ticks below a flat maker's, and it bids nothing
    flat, long_ = maker(sigma).act(maker_obs(0, 195)).orders, maker(sigma).act(maker_obs(cap, 195)).orders
    best_ask = lambda orders: min(o.price_ticks for o in orders if o.side == -1)
    assert best_ask(flat) - best_ask(long_) >= 3
    assert not [o for o in long_ if o.side == 1]
