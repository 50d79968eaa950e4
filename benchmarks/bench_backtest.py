"""Backtest throughput and agreement with backtesting.py.

1. `run_targets` on a precomputed target-position series of 1,000,000 bars (the vectorised path): bars/s.
2. An SMA crossover on a long daily series built from the S&P 500 sample (its de-meaned daily log returns,
   repeated, so prices stay in range), run by diffmarket (vectorised fast path, and the event loop calling
   `act` on every bar) and by backtesting.py with the same costs (commission = fee_bps, fixed units, fill at
   the next open, exclusive_orders=True for the flip-style cross). Closed trades, their
   PnL and the final equity must agree; the table shows the speed ratio.
"""
import os, sys, time, warnings
from pathlib import Path
os.environ.setdefault("TQDM_DISABLE", "1")      # backtesting.py's progress bar would clutter the table

import numpy as np, pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table
from diffmarket.config import BacktestConfig
from diffmarket.data.loaders import load_bars, sample_path
from diffmarket.trading.backtest import Backtest, Panel, run_targets
from diffmarket.trading.backtest import SMACrossover

N_TARGETS = 1_000_000
REPEAT = 10                     # the S&P 500 sample (5,031 bars) repeated: ~50,000 daily bars
FAST, SLOW, SIZE = 20, 60, 10
FEE_BPS = 1.0                   # commission on traded value, both engines (backtesting.py's `spread` is charged on
                                # entry only, ours on every fill, so the half-spread is left at 0 for an exact match)

def best_of(fn, k=3):
    best, out = float("inf"), None
    for _ in range(k):
        t = time.perf_counter(); out = fn(); best = min(best, time.perf_counter() - t)
    return best, out

def targets_bench():
    rng = np.random.default_rng(0)
    n = N_TARGETS
    c = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    o = np.r_[100.0, c[:-1]] * np.exp(rng.normal(0, 2e-4, n))
    ohlcv = np.stack([o, np.maximum(o, c), np.minimum(o, c), c, np.full(n, 1e3)], axis=-1)[:, None, :]
    panel = Panel(pd.date_range("2000-01-03", periods=n, freq="min", tz="UTC"), ("X",), ohlcv)
    targets = np.repeat(rng.choice([-3.0, -1.0, 0.0, 1.0, 2.0], n // 25), 25)
    cfg = BacktestConfig(fee_bps=1, half_spread_bps=1, slippage_bps=0.5, impact_lambda=1e-4, impact_gamma=0.5)
    secs, r = best_of(lambda: run_targets(panel, targets, cfg))
    return n / secs, secs, r

def long_daily_bars():
    spx = load_bars(sample_path("sp500_daily.csv"))
    c0 = spx.close.to_numpy()
    lr = np.diff(np.log(c0)); lr = lr - lr.mean()
    rel = spx[["open", "high", "low"]].to_numpy()[1:] / c0[:-1, None]          # each bar's o/h/l relative to the previous close
    lr, rel = np.tile(lr, REPEAT), np.tile(rel, (REPEAT, 1))
    close = c0[0] * np.exp(np.cumsum(lr))
    prev = np.r_[c0[0], close[:-1]]
    o, h, l = (prev * rel[:, k] for k in range(3))
    h, l = np.maximum.reduce([h, o, close]), np.minimum.reduce([l, o, close])
    idx = pd.bdate_range("1901-01-01", periods=len(close), tz="UTC")     # ~190 years of weekdays: inside 1900-2100
    return pd.DataFrame(dict(timestamp=idx, symbol="SPX", open=o, high=h, low=l, close=close, volume=1e6))

def crossover_bench():
    bars = long_daily_bars()
    n = len(bars)
    cfg = BacktestConfig(initial_cash=1e6, fee_bps=FEE_BPS, half_spread_bps=0.0)
    fast_s, ours = best_of(lambda: Backtest(bars, SMACrossover(FAST, SLOW, SIZE), cfg).run())
    event = lambda: Backtest(bars, SMACrossover(FAST, SLOW, SIZE), cfg).run(fast=False)
    event_s, ev = best_of(event, k=1)
    assert np.array_equal(ev.equity.to_numpy(), ours.equity.to_numpy()), "event loop and fast path disagree"
    try:
        from backtesting import Backtest as PBacktest, Strategy
        from backtesting.lib import crossover
    except ImportError:
        return dict(n=n, fast_s=fast_s, event_s=event_s, ours=ours, peer=None)

    class SmaCross(Strategy):
        def init(self):
            c = pd.Series(self.data.Close)
            self.f = self.I(lambda: c.rolling(FAST).mean().to_numpy())
            self.s = self.I(lambda: c.rolling(SLOW).mean().to_numpy())
        def next(self):
            if crossover(self.f, self.s): self.buy(size=SIZE)
            elif crossover(self.s, self.f): self.sell(size=SIZE)

    df = bars.set_index("timestamp")[["open", "high", "low", "close", "volume"]]
    df.columns = ["Open", "High", "Low", "Close", "Volume"]; df.index = df.index.tz_localize(None)
    def peer():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return PBacktest(df, SmaCross, cash=1e6, commission=FEE_BPS / 1e4,
                             exclusive_orders=True, trade_on_close=False).run()
    peer_s, stats = best_of(peer, k=1)
    ratios = []                                   # event loop against the peer, interleaved so both see the same load
    for _ in range(3):
        e, _ = best_of(event, k=1); p, _ = best_of(peer, k=1)
        event_s, peer_s = min(event_s, e), min(peer_s, p); ratios.append(p / e)
    return dict(n=n, fast_s=fast_s, event_s=event_s, ours=ours, peer=stats, peer_s=peer_s, event_ratios=ratios)

def main():
    rate, secs, r = targets_bench()
    rows = [dict(metric="run_targets, 1M bars (bars/s)", value=f"{rate:,.0f}", goal=">= 1,000,000", met=rate >= 1e6,
                 note=f"{secs:.2f}s incl. fills, {len(r.trades):,} trades, metrics")]
    cx = crossover_bench()
    n, ours = cx["n"], cx["ours"]
    rows.append(dict(metric=f"SMA {FAST}/{SLOW} crossover, fast path (bars/s)", value=f"{n / cx['fast_s']:,.0f}",
                     goal="-", met=None, note=f"{n:,} daily bars, {cx['fast_s']:.3f}s"))
    rows.append(dict(metric="SMA crossover, event loop: act per bar (bars/s)", value=f"{n / cx['event_s']:,.0f}",
                     goal="-", met=None, note=f"{cx['event_s']:.2f}s; same equity as the fast path"))
    if cx["peer"] is not None:
        stats, peer_s = cx["peer"], cx["peer_s"]
        closed = ours.trades[ours.trades.closed]
        pt = stats["_trades"]
        same_n = len(closed) == len(pt)
        pnl_err = float(np.max(np.abs(closed.pnl.to_numpy() - pt.PnL.to_numpy()))) if same_n else float("nan")
        eq_ours, eq_peer = float(ours.equity.iloc[-1]), float(stats["_equity_curve"].Equity.iloc[-1])
        rel = abs(eq_ours - eq_peer) / eq_peer
        speed = peer_s / cx["fast_s"]
        rows += [
            dict(metric="speed vs backtesting.py, crossover (x)", value=f"{speed:,.1f}", goal=">= 10", met=speed >= 10,
                 peer=f"backtesting.py {n / peer_s:,.0f} bars/s ({peer_s:.2f}s)"),
            dict(metric="event loop vs backtesting.py (x)", value=f"{np.median(cx['event_ratios']):,.2f}", goal=">= 1",
                 met=np.median(cx["event_ratios"]) >= 1, peer=f"backtesting.py {n / peer_s:,.0f} bars/s",
                 note=f"median of 3 interleaved pairs ({min(cx['event_ratios']):.2f}-{max(cx['event_ratios']):.2f}); "
                      "both call the strategy on every bar"),
            dict(metric="closed trades: diffmarket / backtesting.py", value=f"{len(closed)} / {len(pt)}", goal="equal", met=same_n),
            dict(metric="max |trade PnL difference|", value=f"{pnl_err:.2e}", goal="< 1e-6", met=pnl_err < 1e-6),
            dict(metric="final equity: diffmarket / backtesting.py", value=f"{eq_ours:,.4f} / {eq_peer:,.4f}",
                 goal="rel. diff < 1e-9", met=rel < 1e-9, note=f"rel. diff {rel:.1e}; commission {FEE_BPS} bp both sides"),
        ]
    else:
        rows.append(dict(metric="backtesting.py", value="not installed", goal="-", met=None,
                         note="pip install -c constraints.txt -r benchmarks/requirements.txt"))
    print_table("Backtest engine", rows)

if __name__ == "__main__":
    main()
