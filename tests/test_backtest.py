"""Backtest engine: accounting against an independent hand-written loop, cost signs, limits, multi-symbol,
no look-ahead (fault injection), trade-log replay, and the diffmarket-backtest command (runs and bad input)."""
import json, subprocess, sys
from pathlib import Path

import numpy as np, pandas as pd, pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from diffmarket.config import BacktestConfig
from diffmarket.core import ConfigError, DataError
from diffmarket.data.loaders import load_bars, sample_path
from diffmarket.data.humans import synthetic_trader
from diffmarket.trading.backtest import Backtest, BacktestError, CostModel, Panel, as_panel, run_targets
from diffmarket.trading.backtest import SMACrossover, TargetSeries
from diffmarket.trading.replay import replay_trades
from diffmarket.trading.backtest_report import write_report
from diffmarket.app import cli
from diffmarket.policy import learned
from diffmarket.app.cli import backtest_cmd as main

ROOT = Path(__file__).resolve().parent.parent
COSTLY = BacktestConfig(initial_cash=10_000, fee_bps=5, half_spread_bps=3, slippage_bps=2, impact_lambda=2e-3,
                        impact_gamma=0.7)

def walk_panel(n=60, S=2, seed=0, nan_frac=0.0):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2021-01-04", periods=n, freq="B", tz="UTC")
    c = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (n, S)), axis=0))
    o = c * np.exp(rng.normal(0, 0.01, (n, S)))
    ohlcv = np.stack([o, np.maximum(o, c) * 1.01, np.minimum(o, c) * 0.99, c, np.full((n, S), 1e5)], axis=-1)
    if nan_frac:
        holes = rng.random((n, S)) < nan_frac
        holes[0] = False
        ohlcv[holes] = np.nan
    return Panel(idx, tuple(f"S{j}" for j in range(S)), ohlcv)

# ---------------------------------------------------------------- independent reference

def reference(panel, targets, cfg):
    """A plain loop written from the definitions, sharing no code with the engine: decisions at close t fill at
    open t+1 (NaN target or NaN open: keep), per-fill costs, cash/equity per bar, trades as sign episodes."""
    T, S = len(panel.index), len(panel.symbols)
    o, c = panel.ohlcv[:, :, 0], panel.ohlcv[:, :, 3]
    cash, pos, last_close = cfg.initial_cash, [0.0] * S, [float("nan")] * S
    equity, fills = [], []
    for t in range(T):
        if t > 0:
            for s in range(S):
                want = targets[t - 1][s]
                if want != want or o[t][s] != o[t][s]: continue
                if cfg.max_position is not None: want = max(-cfg.max_position, min(cfg.max_position, want))
                q = want - pos[s]
                if q == 0: continue
                sign = 1.0 if q > 0 else -1.0
                px = o[t][s] * (1 + sign * ((cfg.half_spread_bps + cfg.slippage_bps) / 1e4 + cfg.impact_lambda * abs(q) ** cfg.impact_gamma))
                fee = cfg.fee_bps / 1e4 * abs(q) * px
                cash -= q * px + fee
                fills.append((t, s, q, px, fee, pos[s], want))
                pos[s] = want
        for s in range(S):
            if c[t][s] == c[t][s]: last_close[s] = c[t][s]
        equity.append(cash + sum(p * lc for p, lc in zip(pos, last_close) if p != 0))
    # trades
    trades, cur = [], {}
    def close_part(s, t, q, px, fee):
        tr = cur.pop(s); tr["flows"] += -q * px - fee; tr["exit"] = t; trades.append(tr)
    for t, s, q, px, fee, before, after in sorted(fills, key=lambda f: (f[1], f[0])):
        if before != 0 and (after == 0 or (after > 0) != (before > 0)):     # closes the current trade
            part = -before
            close_part(s, t, part, px, fee * abs(part) / abs(q))
            if after != 0:
                cur[s] = dict(symbol=s, entry=t, dir=np.sign(after), flows=-after * px - fee * abs(after) / abs(q))
        elif before == 0:
            cur[s] = dict(symbol=s, entry=t, dir=np.sign(after), flows=-q * px - fee)
        else:
            cur[s]["flows"] += -q * px - fee
    for s, tr in cur.items():
        tr["flows"] += pos[s] * last_close[s]; tr["exit"] = T; tr["open"] = True; trades.append(tr)
    return np.array(equity), fills, trades

def random_targets(T, S, seed, nan_frac=0.1):
    rng = np.random.default_rng(seed)
    tg = rng.choice([-7.0, -3.0, -1.5, 0.0, 0.0, 2.0, 4.0, 9.0], size=(T, S))
    tg[rng.random((T, S)) < nan_frac] = np.nan
    return tg

def check_against_reference(panel, tg, cfg):
    r = run_targets(panel, tg, cfg)
    eq, fills, trades = reference(panel, tg, cfg)
    np.testing.assert_allclose(r.equity.to_numpy(), eq, rtol=0, atol=1e-9 * cfg.initial_cash)
    assert len(r.fills) == len(fills)
    got = r.fills.sort_values(["symbol", "timestamp"]).reset_index(drop=True)
    np.testing.assert_allclose(got.price, [f[3] for f in sorted(fills, key=lambda f: (f[1], f[0]))], rtol=1e-12)
    np.testing.assert_allclose(got.fee, [f[4] for f in sorted(fills, key=lambda f: (f[1], f[0]))], rtol=1e-12, atol=1e-12)
    t = r.trades.sort_values(["symbol", "entry_time", "exit_time"], kind="stable").reset_index(drop=True)
    ref = sorted(trades, key=lambda d: (d["symbol"], d["entry"], d["exit"]))
    assert len(t) == len(ref)
    np.testing.assert_allclose(t.pnl, [d["flows"] for d in ref], atol=1e-9)
    assert list(t.bars_held) == [d["exit"] - d["entry"] for d in ref]
    assert list(t.closed) == [not d.get("open", False) for d in ref]
    # pnl of all trades + cash left adds up to the equity change
    assert abs(t.pnl.sum() - (r.equity.iloc[-1] - cfg.initial_cash)) < 1e-8
    return r

def test_accounting_matches_reference_tiny():
    p = walk_panel(12, 2, seed=3)
    tg = np.array([[1, 0], [3, -2], [-2, -2], [-2, 0], [np.nan, 4], [0, 4], [5, -1], [5, -1], [2, 1], [0, 0], [1, 1], [0, 0]], float)
    r = check_against_reference(p, tg, COSTLY)
    assert r.metrics["num_trades"] == int(r.trades.closed.sum())

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), S=st.integers(1, 3), n=st.integers(3, 80), lim=st.sampled_from([None, 2.5, 5.0]),
       nan_frac=st.sampled_from([0.0, 0.1]))
def test_accounting_matches_reference_property(seed, S, n, lim, nan_frac):
    p = walk_panel(n, S, seed=seed, nan_frac=nan_frac)
    cfg = BacktestConfig(**{**COSTLY.__dict__, "max_position": lim})
    check_against_reference(p, random_targets(n, S, seed), cfg)

def test_event_loop_equals_run_targets_with_costs_and_holes():
    p = walk_panel(120, 3, seed=5, nan_frac=0.05)
    tg = random_targets(120, 3, 7)
    cfg = BacktestConfig(**{**COSTLY.__dict__, "max_position": 5.0})
    a, b = run_targets(p, tg, cfg), Backtest(p, TargetSeries(tg), cfg).run(fast=False)
    np.testing.assert_array_equal(a.equity.to_numpy(), b.equity.to_numpy())
    pd.testing.assert_frame_equal(a.fills, b.fills)
    pd.testing.assert_frame_equal(a.trades, b.trades)
    c = Backtest(p, TargetSeries(tg), cfg).run(fast=True)
    np.testing.assert_array_equal(a.equity.to_numpy(), c.equity.to_numpy())

def test_policy_return_types():
    p = walk_panel(20, 2)
    class D:
        def act(self, obs): return {"S1": 2.0} if obs.t % 2 else None
    r = Backtest(p, D(), BacktestConfig()).run()
    assert set(r.positions["S0"]) == {0.0} and r.positions["S1"].iloc[-1] == 2.0
    class Bad:
        def act(self, obs): return 1.0
    with pytest.raises(BacktestError, match="1 target"): Backtest(p, Bad()).run()
    class Inf:
        def act(self, obs): return [np.inf, 0]
    with pytest.raises(BacktestError, match="infinite"): Backtest(p, Inf()).run()
    with pytest.raises(BacktestError, match="no act"): Backtest(p, object())

# ---------------------------------------------------------------- costs, limits, multi-symbol

def test_cost_signs_and_monotonicity():
    cm = CostModel(fee_bps=4, half_spread_bps=2, slippage_bps=1, impact_lambda=1e-3, impact_gamma=0.5)
    ref = np.array([100.0, 100.0, 100.0, 100.0])
    q = np.array([1.0, 100.0, -1.0, -100.0])
    px = cm.exec_price(ref, q)
    assert px[0] > 100 and px[1] > px[0] and px[2] < 100 and px[3] < px[2]       # adverse, growing with size
    np.testing.assert_allclose(px[1] / 100 - 1, 3e-4 + 1e-3 * 10)                  # λ·|q|^γ as a fraction of price
    assert (cm.fee(px, q) > 0).all()
    p = walk_panel(200, 1, seed=2)
    tg = random_targets(200, 1, 3, nan_frac=0)
    finals = [run_targets(p, tg, BacktestConfig(fee_bps=f, half_spread_bps=h, impact_lambda=l)).equity.iloc[-1]
              for f, h, l in [(0, 0, 0), (1, 0, 0), (1, 2, 0), (1, 2, 1e-3)]]
    assert all(a > b for a, b in zip(finals, finals[1:]))
    r = run_targets(p, tg, BacktestConfig(fee_bps=1, half_spread_bps=2))
    buys, sells = r.fills[r.fills.side == "buy"], r.fills[r.fills.side == "sell"]
    assert (buys.price > buys.reference_price).all() and (sells.price < sells.reference_price).all()

def test_position_limit_clips_both_sides():
    p = walk_panel(10, 2)
    tg = np.tile([[100.0, -100.0]], (10, 1))
    r = run_targets(p, tg, BacktestConfig(max_position=3))
    assert r.positions.abs().to_numpy().max() == 3
    assert list(r.positions.iloc[1]) == [3, -3]

def test_multi_symbol_is_sum_of_single_symbols():
    p = walk_panel(150, 3, seed=9)
    tg = random_targets(150, 3, 4, nan_frac=0)
    cfg = BacktestConfig(initial_cash=1e6, fee_bps=2, half_spread_bps=1, impact_lambda=1e-4)
    whole = run_targets(p, tg, cfg)
    pnl = sum(run_targets(Panel(p.index, (s,), p.ohlcv[:, [j]]), tg[:, [j]], cfg).equity - cfg.initial_cash
              for j, s in enumerate(p.symbols))
    np.testing.assert_allclose(whole.equity - cfg.initial_cash, pnl, atol=1e-6)
    assert set(whole.trades.symbol) == set(p.symbols)

def test_window_keeps_history_for_policy():
    p = walk_panel(100, 1)
    seen = []
    class P:
        def act(self, obs): seen.append(len(obs.ohlcv)); return 1.0
    r = Backtest(p, P(), start=p.index[40], end=p.index[80]).run()
    assert seen[0] == 41 and len(r.equity) == 41 and r.equity.iloc[0] == BacktestConfig().initial_cash
    with pytest.raises(DataError, match="at least 2"): Backtest(p, P(), start="2030-01-01")
    with pytest.raises(ConfigError, match="start_date"): Backtest(p, P(), start="not a date")
    with pytest.raises(ConfigError, match="after end"): Backtest(p, P(), start=p.index[50], end=p.index[10])

# ---------------------------------------------------------------- no look-ahead (fault injection)

def scramble(panel, k, seed):
    rng = np.random.default_rng(seed)
    o = np.array(panel.ohlcv)
    late = o[k + 1:]
    o[k + 1:] = late[rng.permutation(len(late))] * np.exp(rng.normal(0, 0.1, (len(late), 1, 1)))
    return Panel(panel.index, panel.symbols, o)

class Momentum:
    "A causal event-only policy with state (sizes by equity)."
    def act(self, obs):
        c = obs.close
        if len(c) < 6: return np.zeros(c.shape[1])
        return np.sign(c[-1] - c[-6]) * np.floor(obs.equity / c[-1] / 10)

@pytest.mark.parametrize("k", [0, 17, 90, 148])
@pytest.mark.parametrize("policy", ["sma_fast", "sma_event", "momentum"])
def test_future_cannot_change_the_past(k, policy):
    p = walk_panel(150, 2, seed=11)
    q = scramble(p, k, seed=k)
    make = {"sma_fast": lambda: (SMACrossover(3, 8, 5), True), "sma_event": lambda: (SMACrossover(3, 8, 5), False),
            "momentum": lambda: (Momentum(), False)}[policy]
    (pa, fa), (pb, fb) = make(), make()
    a, b = Backtest(p, pa, COSTLY).run(fast=fa), Backtest(q, pb, COSTLY).run(fast=fb)
    np.testing.assert_array_equal(a.decisions.iloc[:k + 1], b.decisions.iloc[:k + 1])
    np.testing.assert_array_equal(a.equity.iloc[:k + 1], b.equity.iloc[:k + 1])
    np.testing.assert_array_equal(a.positions.iloc[:k + 2], b.positions.iloc[:k + 2])   # the fill at k+1 was decided at k
    cut = p.index[k]
    pd.testing.assert_frame_equal(a.fills[a.fills.timestamp <= cut], b.fills[b.fills.timestamp <= cut])

def test_scramble_check_catches_a_peeking_policy():
    "The check above has teeth: a fast path that peeks one bar ahead is caught by it."
    class Peek:
        def target_positions(self, ohlcv):
            o = ohlcv[:, :, 0]                      # the move it will hold: open t+1 to open t+2
            return np.r_[np.sign(o[2:] - o[1:-1]) + (o[2:] - o[1:-1]) / 100, np.zeros((2, o.shape[1]))]
    p = walk_panel(150, 1, seed=1); k = 60
    a, b = Backtest(p, Peek()).run(), Backtest(scramble(p, k, 0), Peek()).run()
    assert not np.array_equal(a.decisions.iloc[:k + 1].to_numpy(), b.decisions.iloc[:k + 1].to_numpy())
    assert a.metrics["sharpe"] > 3          # and, as expected, it looks too good to be true

def test_policy_cannot_see_or_write_the_future():
    p = walk_panel(30, 1)
    class Reach:
        def act(self, obs): return obs.ohlcv[obs.t + 1, 0, 3]
    with pytest.raises(IndexError): Backtest(p, Reach()).run()
    class Write:
        def act(self, obs): obs.ohlcv[0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"): Backtest(p, Write()).run()

# ---------------------------------------------------------------- replay

def test_replay_of_a_backtests_fills_is_the_same_account():
    "A replay books fills at their recorded prices and fees: the fills of a costly run replay to that run exactly."
    p = walk_panel(80, 2, seed=4)
    tg = random_targets(80, 2, 8)
    r = run_targets(p, tg, COSTLY)
    log = r.fills[["timestamp", "symbol", "side", "quantity", "price", "fee"]]
    h = replay_trades(log, p, COSTLY)
    np.testing.assert_allclose(h.equity.to_numpy()[1:], r.equity.to_numpy(), atol=1e-8)
    pd.testing.assert_frame_equal(h.trades, r.trades, rtol=1e-9)

def test_replay_intrabar_round_trip_and_costs():
    p = walk_panel(5, 1)
    t0 = p.index[2]
    log = pd.DataFrame(dict(timestamp=[t0 + pd.Timedelta(hours=1), t0 + pd.Timedelta(hours=2)], symbol="S0",
                            side=["buy", "sell"], quantity=[10.0, 10.0], price=[50.0, 51.0]))
    cfg = BacktestConfig(fee_bps=10, half_spread_bps=10)
    h = replay_trades(log, p, cfg)
    buy, sell = 50.0, 51.0                       # recorded prices already hold the spread: nothing is added to them
    pnl = 10 * (sell - buy) - 10 * 1e-3 * (buy + sell)   # the log has no fee column: fee_bps applies
    assert len(h.trades) == 1 and h.trades.bars_held.iloc[0] == 0
    assert h.trades.entry_time.iloc[0] == log.timestamp[0] and h.trades.exit_time.iloc[0] == log.timestamp[1]
    assert abs(h.trades.pnl.iloc[0] - pnl) < 1e-9
    assert abs(h.equity.iloc[-1] - (cfg.initial_cash + pnl)) < 1e-9
    assert (h.positions["S0"] == 0).all()

def test_replay_synthetic_trader_on_sp500():
    bars = load_bars(sample_path("sp500_daily.csv"))
    log = synthetic_trader(bars, "trend", seed=1)
    h = replay_trades(log, bars, BacktestConfig())
    assert h.metrics["num_trades"] >= 10
    assert len(h.fills) == len(log)
    # the replayed position path is the data layer's position path
    from diffmarket.data.loaders import position_path
    pp = position_path(log, bars)
    np.testing.assert_allclose(h.positions["SPX"].to_numpy()[1:], pp["SPX"].to_numpy())
    free = replay_trades(log, bars, BacktestConfig(fee_bps=0, replay_fees="model"))
    assert free.equity.iloc[-1] - h.equity.iloc[-1] == pytest.approx(log.fee.sum())   # the log's own fees were paid


# ---------------------------------------------------------------- reference peer (optional)

@pytest.mark.filterwarnings("ignore")
def test_sma_crossover_matches_backtesting_py():
    bt = pytest.importorskip("backtesting")
    from backtesting import Backtest as PBacktest, Strategy
    from backtesting.lib import crossover
    bars = load_bars(sample_path("sp500_daily.csv"))
    df = bars.set_index("timestamp")[["open", "high", "low", "close", "volume"]]
    df.columns = ["Open", "High", "Low", "Close", "Volume"]; df.index = df.index.tz_localize(None)
    class Cross(Strategy):
        def init(self):
            c = pd.Series(self.data.Close)
            self.f = self.I(lambda: c.rolling(20).mean().to_numpy()); self.s = self.I(lambda: c.rolling(60).mean().to_numpy())
        def next(self):
            if crossover(self.f, self.s): self.buy(size=3)
            elif crossover(self.s, self.f): self.sell(size=3)
    stats = PBacktest(df, Cross, cash=1e6, commission=0.0, exclusive_orders=True, trade_on_close=False).run()
    ours = Backtest(bars, SMACrossover(20, 60, 3), BacktestConfig(initial_cash=1e6, fee_bps=0, half_spread_bps=0)).run()
    closed = ours.trades[ours.trades.closed]
    peer = stats["_trades"]
    assert len(closed) == len(peer)
    np.testing.assert_allclose(closed.pnl.to_numpy(), peer.PnL.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(ours.equity.iloc[-1], stats["_equity_curve"].Equity.iloc[-1], rtol=1e-9)

# ---------------------------------------------------------------- command line

@pytest.fixture
def files(tmp_path):
    bars = load_bars(sample_path("sp500_daily.csv"))
    tp = tmp_path / "trades.csv"
    synthetic_trader(bars, "mean_reversion", seed=0).to_csv(tp, index=False)
    return dict(bars=str(sample_path("sp500_daily.csv")), trades=str(tp), tmp=tmp_path)

def run_cli(args, capsys):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err

def test_cli_replay_writes_report(files, capsys):
    rep = files["tmp"] / "rep"
    rc, out, err = run_cli(["--market_path", files["bars"], "--trades_path", files["trades"], "--start_date", "2005-01-01",
                            "--end_date", "2015-12-31", "--report", rep], capsys)
    assert rc == 0, err
    m = json.loads((rep / "metrics.json").read_text())
    for k in ("total_return", "annual_return", "annual_volatility", "sharpe", "sortino", "max_drawdown", "calmar",
              "win_rate", "profit_factor", "num_trades", "exposure", "turnover"):
        assert k in m
    assert json.loads(out)["num_trades"] == m["num_trades"]
    eq = pd.read_csv(rep / "equity.csv")
    assert eq.timestamp.iloc[1].startswith("2005-01-03") and eq.timestamp.iloc[-1].startswith("2015-12-31")
    assert list(pd.read_csv(rep / "positions.csv").columns) == ["timestamp", "symbol", "position"]
    fills = pd.read_csv(rep / "fills.csv")
    carried = fills.timestamp < "2005-01-03"                  # the position held when the window opens, carried in
    assert carried.sum() <= 1 and (fills.fee[carried] == 0).all() and fills.timestamp.max() < "2016-01-01"
    assert fills.timestamp[carried].min() >= "2004-12-31" if carried.any() else True
    for f in ("trades.csv", "equity.png", "positions.png", "returns.png", "report.html"): assert (rep / f).stat().st_size > 0
    assert "equity.png" in (rep / "report.html").read_text()

def test_cli_config_costs_change_result(files, capsys):
    cfgp = files["tmp"] / "c.yaml"; cfgp.write_text("backtest:\n  fee_bps: 50\n  replay_fees: model\n")  # the log's own fees otherwise
    base = ["--market_path", files["bars"], "--trades_path", files["trades"]]
    _, a, _ = run_cli(base, capsys)
    _, b, _ = run_cli(base + ["--config", cfgp], capsys)
    assert json.loads(b)["total_fees"] > json.loads(a)["total_fees"] * 10

def test_cli_model_path(files, capsys, monkeypatch):
    model = files["tmp"] / "model.pt"; model.write_bytes(b"x")
    rc, out, err = run_cli(["--market_path", files["bars"], "--model_path", model, "--report", files["tmp"] / "m"], capsys)
    assert rc == 1 and err.count("\n") == 1 and "not a readable diffmarket checkpoint" in err and not (files["tmp"] / "m").exists()
    monkeypatch.setattr(learned, "load_policy", lambda path: SMACrossover(20, 50, 1))
    rc, out, err = run_cli(["--market_path", files["bars"], "--model_path", model, "--report", files["tmp"] / "m"], capsys)
    assert rc == 0, err
    assert json.loads(out)["num_trades"] > 0

def test_cli_compare_trades_writes_imitation(files, capsys, monkeypatch):
    "A policy that holds exactly the human's positions agrees on every bar; the report gains imitation.json."
    from diffmarket.data.loaders import load_bars, load_trades
    from diffmarket.policy.imitation import human_targets
    model = files["tmp"] / "model.pt"; model.write_bytes(b"x")
    bars = load_bars(files["bars"]); human = load_trades(files["trades"], bars)
    monkeypatch.setattr(learned, "load_policy", lambda path: TargetSeries(human_targets(human, bars)))
    rc, out, err = run_cli(["--market_path", files["bars"], "--model_path", model, "--compare_trades", files["trades"],
                            "--report", files["tmp"] / "imit"], capsys)
    assert rc == 0, err
    im = json.loads((files["tmp"] / "imit" / "imitation.json").read_text())
    assert im["position_agreement"] == 1.0 and im["pnl_correlation"] == pytest.approx(1.0)
    assert json.loads(out)["imitation"]["position_agreement"] == 1.0
    rc, out, err = run_cli(["--market_path", files["bars"], "--trades_path", files["trades"], "--compare_trades", files["trades"]], capsys)
    assert rc == 1 and err.count("\n") == 1 and "--compare_trades" in err

BAD = {
    "neither": ([], "exactly one of --model_path or --trades_path"),
    "both": (["--trades_path", "{trades}", "--model_path", "{trades}"], "exactly one"),
    "missing bars": (["--trades_path", "{trades}", "--market_path_override", "{tmp}/nope.csv"], "nope.csv"),
    "missing trades": (["--trades_path", "{tmp}/nope.csv"], "nope.csv"),
    "missing model": (["--model_path", "{tmp}/nope.pt"], "nope.pt"),
    "bad start": (["--trades_path", "{trades}", "--start_date", "2010-13-45"], "start_date"),
    "bad end": (["--trades_path", "{trades}", "--end_date", "tomorrow-ish"], "end_date"),
    "start after end": (["--trades_path", "{trades}", "--start_date", "2012-01-01", "--end_date", "2011-01-01"], "after end"),
    "empty window": (["--trades_path", "{trades}", "--start_date", "2030-01-01"], "at least 2"),
    "bad config": (["--trades_path", "{trades}", "--config", "{tmp}/bad.yaml"], "backtest.fee_bps"),
    "negative cost": (["--trades_path", "{trades}", "--config", "{tmp}/neg.yaml"], "backtest.half_spread_bps"),
    "garbled trades": (["--trades_path", "{tmp}/garbled.csv"], "garbled.csv"),
    "unknown flag": (["--trades_path", "{trades}", "--frobnicate", "1"], "frobnicate"),
}

@pytest.mark.parametrize("case", list(BAD))
def test_cli_bad_input(files, capsys, case):
    t = files["tmp"]
    (t / "bad.yaml").write_text("backtest:\n  fee_bps: lots\n")
    (t / "neg.yaml").write_text("backtest:\n  half_spread_bps: -1\n")
    (t / "garbled.csv").write_text("timestamp,symbol,side,quantity,price\n2010-01-05,SPX,hold,1,1130\n")
    extra, expect = BAD[case]
    extra = [a.format(trades=files["trades"], tmp=t) for a in extra]
    market = files["bars"]
    if "--market_path_override" in extra:
        i = extra.index("--market_path_override"); market = extra[i + 1]; del extra[i:i + 2]
    rep = t / "report"
    rc, out, err = run_cli(["--market_path", market] + extra + ["--report", rep], capsys)
    assert rc == 1
    assert err.count("\n") == 1 and expect in err, err
    assert "Traceback" not in err
    assert not rep.exists() and not list(t.glob(".report*"))

def test_cli_refuses_to_overwrite_a_non_report(files, capsys):
    f = files["tmp"] / "notes.txt"; f.write_text("precious")
    rc, _, err = run_cli(["--market_path", files["bars"], "--trades_path", files["trades"], "--report", f], capsys)
    assert rc == 1 and "not a directory" in err and f.read_text() == "precious"

def test_console_script_runs(files):
    exe = Path(sys.executable).parent / "diffmarket-backtest"
    if not exe.exists(): pytest.skip("console script not installed")
    p = subprocess.run([str(exe), "--market_path", files["bars"], "--trades_path", files["trades"], "--end_date", "2003-01-01"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "sharpe" in json.loads(p.stdout)
    p = subprocess.run([str(exe), "--market_path", files["bars"]], capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.count("\n") == 1

def test_impact_that_would_make_a_price_negative_is_refused():
    from diffmarket.trading.backtest import CostModel
    from diffmarket.core import ConfigError
    cm = CostModel(fee_bps=0, half_spread_bps=0, slippage_bps=0, impact_lambda=0.5, impact_gamma=0.5)
    assert cm.exec_price(100.0, 1.0) == pytest.approx(150.0)
    with pytest.raises(ConfigError, match="backtest.impact_lambda"):
        cm.exec_price(100.0, -4.0)

# ---------------------------------------------------------------- buying power and ruin

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.sampled_from([0.5, 1.0, 2.0, 3.0]))
def test_leverage_cap_holds_at_every_decision(seed, lev):
    "Random targets up to many times the account: each decision's gross value is at most max_leverage x equity."
    p = walk_panel(60, 2, seed=seed % 97)
    tg = random_targets(60, 2, seed) * 400                  # up to ~3,600 units of a ~50 price: ~18x a 10,000 account
    cfg = BacktestConfig(initial_cash=10_000, fee_bps=5, half_spread_bps=3, max_leverage=lev)
    r = run_targets(p, tg, cfg)
    dec = r.decisions.to_numpy(); held = r.positions.to_numpy()
    full = np.where(np.isnan(dec), held, dec)
    gross = (np.abs(full) * r.prices.to_numpy()).sum(axis=1)
    assert (gross <= lev * r.equity.to_numpy() * (1 + 1e-9) + 1e-6).all()
    same = Backtest(p, TargetSeries(tg), cfg).run(fast=False)
    np.testing.assert_array_equal(same.equity.to_numpy(), r.equity.to_numpy())

def test_no_cap_means_unchanged_and_ruin_ends_the_run():
    p = walk_panel(120, 1, seed=3)
    tg = np.full(120, 4000.0)                                 # ~20x a 10,000 account, long through the whole walk
    free = BacktestConfig(initial_cash=10_000, fee_bps=0, half_spread_bps=0)
    r = run_targets(p, tg, free)
    e = (p.close[:, 0] - p.open[1, 0]) * 4000 + 10_000       # the uncapped account, by hand
    k = int(np.argmax(e[1:] <= 0)) + 1 if (e[1:] <= 0).any() else None
    if k is None: pytest.skip("this walk never ruins a 20x account")
    assert r.metrics["ruined"] and len(r.equity) == k + 1 and r.equity.iloc[-1] == pytest.approx(e[k])
    assert r.metrics["ruin_time"] == str(p.index[k]) and r.metrics["annual_return"] == -1.0
    assert (r.equity.iloc[:-1] > 0).all()
    ok = run_targets(p, np.full(120, 1.0), free)
    assert ok.metrics["ruined"] is False and len(ok.equity) == 120

def test_backtest_takes_a_dataframe_as_users_export_it():
    "A pandas export (Date index, capitalised OHLC, no volume) runs as the contract's frame does; symbols match in any case."
    bars = load_bars(sample_path("sp500_daily.csv")).iloc[-300:]
    export = bars.set_index("timestamp").drop(columns=["symbol", "volume"]).rename(columns=str.capitalize).rename_axis("Date")
    a = Backtest(bars, SMACrossover(10, 30, 5)).run(); b = Backtest(export, SMACrossover(10, 30, 5)).run()
    np.testing.assert_array_equal(a.equity.to_numpy(), b.equity.to_numpy())
    log = synthetic_trader(bars.reset_index(drop=True), "trend", seed=0)
    np.testing.assert_allclose(replay_trades(log.assign(symbol="spx", side=log.side.str.upper().str[0]), bars).equity,
                               replay_trades(log, bars).equity)

def test_multi_symbol_frames_keep_one_symbol_order():
    "S&P 500 rows then NASDAQ rows: the panel, the position path and the human's targets share one symbol order."
    from diffmarket.data.loaders import position_path
    from diffmarket.policy.imitation import human_targets
    spx = load_bars(sample_path("sp500_daily.csv")).iloc[-400:]
    ndx = load_bars(sample_path("nasdaq_daily.csv")).iloc[-400:]
    both = pd.concat([spx, ndx]).reset_index(drop=True)                 # not sorted by symbol
    log = synthetic_trader(both, "trend", seed=2)
    assert as_panel(both).symbols == tuple(position_path(log, both).columns) == ("IXIC", "SPX")
    via_targets = Backtest(both, TargetSeries(human_targets(log, both))).run().positions
    replayed = replay_trades(log, both).positions
    np.testing.assert_allclose(via_targets.to_numpy()[1:], replayed.reindex(via_targets.index).to_numpy()[1:])
