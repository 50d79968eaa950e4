"""Risk layer: property tests (random policies on random bars: no cap is ever exceeded, no trade opens while a loss
budget is spent, every rule off is the unmanaged run to the bit, the fast path is the event loop), the performance
monitor against compute_metrics, config errors naming their key, the NASDAQ sample, and diffmarket-backtest --risk."""
import contextlib, dataclasses, io, json, math
from pathlib import Path

import numpy as np, pandas as pd, pytest, yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from diffmarket.metrics import METRIC_NAMES, compute_metrics
from diffmarket.config import BacktestConfig, RiskConfig
from diffmarket.core import ConfigError
from diffmarket.data.loaders import load_bars, sample_path
from diffmarket.data.humans import synthetic_trader
from diffmarket.trading.backtest import Backtest, Panel, as_panel
from diffmarket.trading.backtest import SMACrossover, TargetSeries
from diffmarket.trading.replay import replay_trades
from diffmarket.trading.risk.manager import RULE_ORDER, RiskManager, VectorisedManagedPolicy
from diffmarket.metrics import PerformanceMonitor
from diffmarket.trading.risk.monitor import monitor_backtest
from diffmarket.trading.risk.rules import period_end
from diffmarket.app.cli import backtest_cmd

SETTINGS = dict(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FREE = BacktestConfig(fee_bps=0, half_spread_bps=0)
COSTLY = BacktestConfig(fee_bps=3, half_spread_bps=2, slippage_bps=1, impact_lambda=1e-4)


def random_bars(seed, n, S=2, freq="B", vol=0.02, start="2021-01-04"):
    "Random-walk bars with gaps between a bar's open and the previous close, and wicks."
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, vol, (n, S)), axis=0))
    o = np.vstack([c[:1], c[:-1]]) * np.exp(rng.normal(0, vol / 3, (n, S)))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, vol / 2, (n, S))))
    l = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, vol / 2, (n, S))))
    idx = pd.date_range(start, periods=n, freq=freq, tz="UTC")
    return Panel(idx, tuple(f"S{j}" for j in range(S)), np.stack([o, h, l, c, np.full((n, S), 1e4)], axis=-1))

def random_targets(seed, n, S=2, size=80):
    "A random policy: piecewise-constant targets that change at random closes, long and short."
    rng = np.random.default_rng(seed + 1)
    keep = rng.random((n, S)) < 0.7
    t = rng.integers(-size, size + 1, (n, S)).astype(float)
    for i in range(1, n): t[i] = np.where(keep[i], t[i - 1], t[i])
    return t


# ---------------------------------------------------------------- caps

@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), n=st.integers(30, 120), mu=st.floats(10, 2_000), mn=st.floats(1_000, 200_000),
       gross=st.floats(0.05, 2.0), net=st.floats(0.02, 1.5), mo=st.floats(5, 1_000), group=st.floats(0.05, 1.5),
       extra=st.sets(st.sampled_from(["vol_target", "confidence", "stops", "daily_loss", "drawdown_halt", "risk_budget", "kelly"])))
def test_managed_positions_never_exceed_a_cap(seed, n, mu, mn, gross, net, mo, group, extra):
    bars, tg = random_bars(seed, n), random_targets(seed, n, size=2_000)            # up to 2x equity per symbol
    rules = ["position_cap", "exposure_cap", "order_cap", "correlation", *extra]
    cfg = RiskConfig(rules=rules, max_units=mu, max_notional=mn, max_gross_exposure=gross, max_net_exposure=net,
                     max_order_units=mo, max_group_exposure=group, max_correlation=-1.0, corr_window=10, vol_window=5,
                     kelly_min_bars=10, stop_loss=0.03, trailing_stop=0.05)
    r = Backtest(bars, RiskManager(cfg).wrap(TargetSeries(tg)), COSTLY).run()
    d, pos, c, e = r.decisions.to_numpy(), r.positions.to_numpy(), r.prices.to_numpy(), r.equity.to_numpy()[:, None]
    tol = 1e-9
    assert (np.abs(pos) <= mu * (1 + tol)).all() and (np.abs(d) <= mu * (1 + tol)).all()
    assert (np.abs(d) * c <= mn * (1 + tol)).all()                                         # notional at the deciding close
    assert ((np.abs(d) * c).sum(axis=1, keepdims=True) <= gross * np.maximum(e, 0) * (1 + tol) + tol).all()
    assert (np.abs((d * c).sum(axis=1, keepdims=True)) <= net * np.maximum(e, 0) * (1 + tol) + tol).all()
    assert ((np.abs(d) * c).sum(axis=1, keepdims=True) <= group * np.maximum(e, 0) * (1 + tol) + tol)[10:].all()   # max_correlation -1: always one group
    same = np.sign(d) == np.sign(pos)
    added = np.where(same, np.abs(d) - np.abs(pos), np.abs(d))
    assert (added <= mo * (1 + tol)).all()                                                  # what an order adds to |position|


# ---------------------------------------------------------------- budgets

def spent_closes(equity: pd.Series, period: str, limit: float, tz: str = "UTC") -> np.ndarray:
    "Closes at which a loss budget is spent, computed from the definitions (independently of the rule)."
    out, start, end, spent, last = np.zeros(len(equity), bool), None, None, False, None
    for i, (ts, e) in enumerate(equity.items()):
        if end is None or ts >= end: start, end, spent = (last if last is not None else e), period_end(ts, period, tz), False
        last = e
        spent = spent or e <= start * (1 - limit)
        out[i] = spent
    return out

@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), n=st.integers(48, 200), daily=st.floats(0.002, 0.03), wk=st.floats(1.0, 3.0),
       tz=st.sampled_from(["UTC", "America/New_York", "Asia/Tokyo"]))
def test_no_trade_opens_while_a_budget_is_spent(seed, n, daily, wk, tz):
    bars, tg = random_bars(seed, n, freq="4h", vol=0.01), random_targets(seed, n, size=500)
    cfg = RiskConfig(rules=["daily_loss", "weekly_loss", "vol_target", "stops"], daily_loss_limit=daily, weekly_loss_limit=daily * wk,
                     timezone=tz, vol_window=4, periods_per_year=6 * 252)
    r = Backtest(bars, RiskManager(cfg).wrap(TargetSeries(tg)), COSTLY).run()
    spent = spent_closes(r.equity, "day", daily, tz) | spent_closes(r.equity, "week", daily * wk, tz)
    d, pos = r.decisions.to_numpy(), r.positions.to_numpy()
    assert (d[spent] == 0).all()                                         # flat, so nothing opens or grows
    nxt = np.flatnonzero(spent[:-1]) + 1                                 # and the next open only sells down
    assert (np.abs(pos[nxt]) <= np.abs(pos[nxt - 1]) + 1e-12).all()
    if spent.any(): assert (r.events.rule.isin(["daily_loss", "weekly_loss"])).any()


# ---------------------------------------------------------------- rules off, fast path

@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), n=st.integers(5, 150), S=st.integers(1, 3))
def test_every_rule_off_is_the_unmanaged_run(seed, n, S):
    bars, tg = random_bars(seed, n, S), random_targets(seed, n, S)
    for fast in (True, False):
        plain = Backtest(bars, TargetSeries(tg), COSTLY).run(fast=fast)
        off = Backtest(bars, RiskManager(RiskConfig(rules=[])).wrap(TargetSeries(tg)), COSTLY).run(fast=fast)
        assert np.array_equal(plain.equity.to_numpy(), off.equity.to_numpy())
        assert np.array_equal(plain.positions.to_numpy(), off.positions.to_numpy())
        assert len(off.events) == 0

@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), n=st.integers(30, 150), tv=st.floats(0.02, 0.6), scale=st.floats(0.5, 3.0),
       band=st.floats(0, 0.3), mu=st.floats(1, 80), est=st.sampled_from(["ewma", "realised"]))
def test_fast_path_is_the_event_loop(seed, n, tv, scale, band, mu, est):
    bars, tg = random_bars(seed, n), random_targets(seed, n)
    cfg = RiskConfig(rules=["vol_target", "position_cap"], target_vol=tv, max_vol_scale=scale, vol_band=band, max_units=mu,
                     vol_estimator=est, vol_window=6)
    mp = RiskManager(cfg).wrap(TargetSeries(tg))
    assert isinstance(mp, VectorisedManagedPolicy)
    fast, ev = Backtest(bars, mp, COSTLY).run(), Backtest(bars, mp, COSTLY).run(fast=False)
    assert np.array_equal(fast.decisions.to_numpy(), ev.decisions.to_numpy())
    assert np.array_equal(fast.equity.to_numpy(), ev.equity.to_numpy())


# ---------------------------------------------------------------- monitor

@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 200), S=st.integers(1, 3))
def test_monitor_equals_compute_metrics(seed, n, S):
    bars, tg = random_bars(seed, n, S), random_targets(seed, n, S)
    r = Backtest(bars, RiskManager(RiskConfig(rules=["stops"], stop_loss=0.02)).wrap(TargetSeries(tg)), COSTLY).run()
    m = monitor_backtest(r).metrics()
    for k in METRIC_NAMES:
        a, b = m[k], r.metrics[k]
        assert (a == b) or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(1.0, abs(b)), (k, a, b)

def test_monitor_with_ppy_and_risk_free_rate():
    bars, tg = random_bars(3, 300), random_targets(3, 300)
    cfg = dataclasses.replace(COSTLY, risk_free_rate=0.03, periods_per_year=252.0)
    r = Backtest(bars, TargetSeries(tg), cfg).run()
    m = monitor_backtest(r).metrics()
    want = compute_metrics(r.equity, r.positions, r.trades[r.trades.closed.astype(bool)],
                           np.bincount(r.equity.index.searchsorted(r.fills.timestamp), (r.fills.quantity * r.fills.price).to_numpy(), len(r.equity)),
                           ppy=252.0, risk_free_rate=0.03)
    for k in METRIC_NAMES: assert m[k] == pytest.approx(want[k], rel=1e-9, abs=1e-12, nan_ok=True), k

def test_monitor_is_constant_time_per_update():
    "The state it keeps does not grow with the bars when ppy is given (no lists of returns or equity)."
    mon = PerformanceMonitor(ppy=252.0)
    for i in range(5000): mon.update(pd.Timestamp("2020-01-01", tz="UTC") + pd.Timedelta(days=i), 100 + np.sin(i))
    assert mon.stamps is None and mon.n_bars == 5000 and mon.metrics()["max_drawdown"] < 0


# ---------------------------------------------------------------- config errors

NUMERIC = {"min_confidence": "confidence", "target_vol": "vol_target", "max_vol_scale": "vol_target", "vol_band": "vol_target",
           "kelly_fraction": "kelly", "max_group_exposure": "correlation", "portfolio_target_vol": "portfolio_vol",
           "max_units": "position_cap", "max_notional": "position_cap", "max_gross_exposure": "exposure_cap",
           "max_net_exposure": "exposure_cap", "max_order_units": "order_cap", "stop_loss": "stops", "take_profit": "stops",
           "trailing_stop": "stops", "daily_loss_limit": "daily_loss", "weekly_loss_limit": "weekly_loss",
           "monthly_loss_limit": "monthly_loss", "max_drawdown": "drawdown_halt", "periods_per_year": "stops"}

@pytest.mark.parametrize("key", sorted(NUMERIC))
def test_negative_limits_name_their_key(key):
    with pytest.raises(ConfigError, match=f"risk.{key}'"):
        RiskManager(RiskConfig(rules=[NUMERIC[key]], **{key: -1.0}))

@pytest.mark.parametrize("key,rule", [("vol_window", "vol_target"), ("corr_window", "correlation"), ("kelly_min_bars", "kelly"),
                                      ("atr_window", "stops"), ("cooldown_bars", "drawdown_halt"), ("stop_cooldown_bars", "stops")])
def test_bad_windows_name_their_key(key, rule):
    with pytest.raises(ConfigError, match=f"risk.{key}'"):
        RiskManager(RiskConfig(rules=[rule], **{key: -3}))

def test_budget_order_and_names():
    with pytest.raises(ConfigError, match="risk.weekly_loss_limit'.*smaller than daily_loss_limit"):
        RiskManager(RiskConfig(rules=["daily_loss", "weekly_loss"], daily_loss_limit=0.03, weekly_loss_limit=0.02))
    with pytest.raises(ConfigError, match="risk.monthly_loss_limit"):
        RiskManager(RiskConfig(rules=["daily_loss", "monthly_loss"], daily_loss_limit=0.03, monthly_loss_limit=0.02))
    RiskManager(RiskConfig(rules=["weekly_loss"], daily_loss_limit=0.5))           # an unlisted budget is not compared
    with pytest.raises(ConfigError, match="risk.rules': unknown rule 'max_pain'"):
        RiskManager(RiskConfig(rules=["stops", "max_pain"]))
    with pytest.raises(ConfigError, match="risk.rules"): RiskManager(RiskConfig(rules="stops"))
    for key, val in (("vol_estimator", "garch"), ("stop_mode", "percent"), ("risk_allocation", "equal"), ("timezone", "Nowhere/City")):
        rule = {"vol_estimator": "vol_target", "stop_mode": "stops", "risk_allocation": "risk_budget", "timezone": "daily_loss"}[key]
        with pytest.raises(ConfigError, match=f"risk.{key}'"): RiskManager(RiskConfig(rules=[rule], **{key: val}))
    with pytest.raises(ConfigError, match="risk.risk_budgets"): RiskManager(RiskConfig(rules=["risk_budget"], risk_budgets={"A": -1}))

def test_default_config_is_valid_and_ordered():
    rm = RiskManager(RiskConfig(rules=list(reversed(RULE_ORDER)), max_units=1, max_order_units=1))
    assert rm.names == RULE_ORDER                                    # the config's order does not matter
    assert RiskManager(RiskConfig()).names == tuple(r for r in RULE_ORDER if r in RiskConfig().rules)


# ---------------------------------------------------------------- data

def test_nasdaq_sample():
    ndq, spx = load_bars(sample_path("nasdaq_daily.csv")), load_bars(sample_path("sp500_daily.csv"))
    assert set(ndq.symbol) == {"IXIC"} and len(ndq) == 5031
    assert (ndq.timestamp.to_numpy() == spx.timestamp.to_numpy()).all()
    r = np.corrcoef(np.diff(np.log(ndq.close)), np.diff(np.log(spx.close)))[0, 1]
    assert 0.85 < r < 0.95


# ---------------------------------------------------------------- the command

def _cmd(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): rc = backtest_cmd(argv)
    return rc, out.getvalue(), err.getvalue()

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("risk_cli")
    both = pd.concat([load_bars(sample_path("sp500_daily.csv")), load_bars(sample_path("nasdaq_daily.csv"))])
    both = both[both.timestamp >= "2015-01-01"]
    both.assign(timestamp=both.timestamp.dt.strftime("%Y-%m-%d")).to_csv(d / "bars.csv", index=False)
    synthetic_trader(both, "mean_reversion", seed=2).to_csv(d / "trades.csv", index=False)
    return d

def test_backtest_command_risk_off_by_default(files):
    rc, out, _ = _cmd(["--market_path", str(files / "bars.csv"), "--trades_path", str(files / "trades.csv"), "--report", str(files / "plain")])
    assert rc == 0 and "risk" not in json.loads(out)
    assert not {"risk.svg", "risk_events.csv"} & {p.name for p in (files / "plain").iterdir()}

def test_backtest_command_replay_under_risk(files):
    rc, out, err = _cmd(["--market_path", str(files / "bars.csv"), "--trades_path", str(files / "trades.csv"), "--risk",
                         "--report", str(files / "managed")])
    assert rc == 0, err
    m = json.loads(out)
    ev = pd.read_csv(files / "managed" / "risk_events.csv")
    assert len(ev) == m["risk"]["events"] > 0 and set(ev.symbol) <= {"SPX", "IXIC"}
    assert (files / "managed" / "risk.svg").read_text().lstrip().startswith("<?xml")
    un = json.loads((files / "managed" / "unmanaged_metrics.json").read_text())
    assert un["total_return"] == pytest.approx(m["unmanaged_total_return"]) and m["risk_managed"] is True
    # the unmanaged twin is the human's targets through the backtester, in the right columns
    bars, trades = load_bars(files / "bars.csv"), pd.read_csv(files / "trades.csv")
    from diffmarket.policy.imitation import human_targets
    from diffmarket.data.loaders import bars_to_panel
    order, syms = list(bars_to_panel(bars)[1]), as_panel(bars).symbols
    ht = human_targets(trades.assign(timestamp=pd.to_datetime(trades.timestamp, utc=True)), bars)[:, [order.index(s) for s in syms]]
    assert un["total_return"] == pytest.approx(Backtest(bars, TargetSeries(ht)).run().metrics["total_return"], rel=1e-12)

def test_backtest_command_enabled_in_config_and_bad_section(files):
    cfg = files / "on.yaml"; cfg.write_text(yaml.safe_dump({"risk": {"enabled": True, "rules": ["exposure_cap"], "max_gross_exposure": 0.3}}))
    rc, out, _ = _cmd(["--config", str(cfg), "--market_path", str(files / "bars.csv"), "--trades_path", str(files / "trades.csv")])
    assert rc == 0 and json.loads(out)["risk"]["rules"] == ["exposure_cap"]
    bad = files / "bad.yaml"; bad.write_text(yaml.safe_dump({"risk": {"enabled": True, "rules": ["stops", "hope"]}}))
    rc, _, err = _cmd(["--config", str(bad), "--market_path", str(files / "bars.csv"), "--trades_path", str(files / "trades.csv"),
                       "--report", str(files / "never")])
    assert rc == 1 and err.count("\n") == 1 and "risk.rules" in err and not (files / "never").exists()
