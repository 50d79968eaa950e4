"""Risk layer (diffmarket.trading.risk): what it costs, and what it does on real data.

1. Overhead, bars/s of a risk-managed backtest against the unmanaged one (an SMA 20/60 crossover, 10 units):
   - the vectorisable path, 1,000,000 one-minute bars of a random walk: the crossover's `target_positions` through
     `vol_target` and `position_cap` (the rules that need only the bars and the request), booked at once by the
     backtester. Goal: at most 2x the unmanaged cost.
   - the event loop, 100,000 bars: `act` at every close, with the default rules of `RiskConfig` and with every rule.
     Every rule but `vol_target` and `position_cap` forces the event loop: `confidence` (the policy's confidence after
     each act), `kelly`, `correlation`, `portfolio_vol`, `exposure_cap`, the loss budgets and `drawdown_halt` (the
     account's equity at each close), `order_cap` (the position held), `stops` (exits and fills), `risk_budget`
     (per-close allocation; not vectorised).
2. Effect on real data: S&P 500 + NASDAQ Composite daily bars 1999-2018 (data/), for the demo's human (the synthetic
   mean-reversion trader, its targets replayed through the backtester) and an SMA 50/200 crossover (20 units of each):
   max drawdown, Sharpe and worst month without rules and with each rule family at the defaults of `RiskConfig`.
   Worst month: the lowest calendar-month return of the equity curve (month-end over the previous month-end).
"""
import os, sys, time
from pathlib import Path

import numpy as np, pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table
from diffmarket.config import BacktestConfig, RiskConfig
from diffmarket.data.loaders import load_bars, sample_path, bars_to_panel
from diffmarket.data.humans import synthetic_trader
from diffmarket.trading.backtest import Backtest, Panel, as_panel
from diffmarket.trading.backtest import SMACrossover, TargetSeries
from diffmarket.policy.imitation import human_targets
from diffmarket.trading.risk.manager import RULE_ORDER, RiskManager, VectorisedManagedPolicy

N_FAST, N_EVENT = 1_000_000, 100_000
FAMILIES = {                                               # rule families, each at the defaults of RiskConfig
    "sizing (confidence, vol_target 15%)": ["confidence", "vol_target"],
    "kelly (half-Kelly cap)": ["kelly"],
    "portfolio (risk_budget, correlation, portfolio_vol)": ["risk_budget", "correlation", "portfolio_vol"],
    "caps (exposure_cap 1x gross)": ["exposure_cap"],
    "stops (10% stop, 5-bar cool-down)": ["stops"],
    "budgets (3/6/10% loss, 20% drawdown halt)": ["daily_loss", "weekly_loss", "monthly_loss", "drawdown_halt"],
    "default rules of RiskConfig": RiskConfig().rules,
}

def best_of(fn, k=3):
    best, out = float("inf"), None
    for _ in range(k):
        t = time.perf_counter(); out = fn(); best = min(best, time.perf_counter() - t)
    return best, out

def walk_panel(n, seed=0):
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    o = np.r_[100.0, c[:-1]] * np.exp(rng.normal(0, 2e-4, n))
    ohlcv = np.stack([o, np.maximum(o, c) * 1.0002, np.minimum(o, c) * 0.9998, c, np.full(n, 1e3)], axis=-1)[:, None, :]
    return Panel(pd.date_range("2000-01-03", periods=n, freq="min", tz="UTC"), ("X",), ohlcv)

def overhead_rows():
    rows, cfg = [], BacktestConfig()
    panel = walk_panel(N_FAST)
    sma = lambda: SMACrossover(20, 60, size=10)
    vec = RiskConfig(rules=["vol_target", "position_cap"], max_units=8.0)
    plain_s, plain = best_of(lambda: Backtest(panel, sma(), cfg).run())
    mp = RiskManager(vec).wrap(sma())
    assert isinstance(mp, VectorisedManagedPolicy)
    man_s, man = best_of(lambda: Backtest(panel, mp, cfg).run())
    ratio = man_s / plain_s
    rows.append(dict(metric="unmanaged, fast path, 1M bars (bars/s)", value=f"{N_FAST / plain_s:,.0f}", goal="-", met=None,
                     note=f"{plain_s:.2f}s"))
    rows.append(dict(metric="vol_target + position_cap, fast path, 1M bars (bars/s)", value=f"{N_FAST / man_s:,.0f}", goal="-",
                     met=None, note=f"{man_s:.2f}s; {len(man.fills):,} fills against {len(plain.fills):,} unmanaged (resizing trades)"))
    rows.append(dict(metric="managed / unmanaged cost, vectorisable path (x)", value=f"{ratio:.2f}", goal="<= 2", met=ratio <= 2,
                     note="incl. periods_per_year of 1M timestamps and the extra fills; events built only when read"))
    small = Panel(panel.index[:N_EVENT], panel.symbols, panel.ohlcv[:N_EVENT])
    ev_s, _ = best_of(lambda: Backtest(small, sma(), cfg).run(fast=False), k=2)
    rows.append(dict(metric="unmanaged, event loop, 100k bars (bars/s)", value=f"{N_EVENT / ev_s:,.0f}", goal="-", met=None, note=f"{ev_s:.2f}s"))
    vec_ev_s, _ = best_of(lambda: Backtest(small, RiskManager(vec).wrap(sma()), cfg).run(fast=False), k=1)
    rows.append(dict(metric="vol_target + position_cap through the event loop (x unmanaged loop)", value=f"{vec_ev_s / ev_s:.2f}",
                     goal="-", met=None, note=f"{N_EVENT / vec_ev_s:,.0f} bars/s: the same rules bar by bar"))
    for label, rc in (("default rules", RiskConfig()),
                      ("every rule", RiskConfig(rules=list(RULE_ORDER), max_units=8.0, max_order_units=5.0, take_profit=0.05, trailing_stop=0.02))):
        s, r = best_of(lambda: Backtest(small, RiskManager(rc).wrap(sma()), cfg).run(fast=False), k=1)
        rows.append(dict(metric=f"{label}, event loop, 100k bars (x unmanaged loop)", value=f"{s / ev_s:.2f}", goal="-", met=None,
                         note=f"{N_EVENT / s:,.0f} bars/s, {len(r.events):,} events; account, confidence or exits: event loop only"))
    return rows

def worst_month(equity):
    m = equity.resample("ME").last()
    m = pd.concat([pd.Series([equity.iloc[0]], index=[m.index[0] - pd.offsets.MonthEnd(1)]), m])
    return float(m.pct_change().min())

def effect_rows():
    spx, ndq = load_bars(sample_path("sp500_daily.csv")), load_bars(sample_path("nasdaq_daily.csv"))
    both = pd.concat([spx, ndq], ignore_index=True).sort_values(["timestamp", "symbol"], kind="stable").reset_index(drop=True)
    assert bars_to_panel(both)[1] == as_panel(both).symbols          # human_targets' columns are the backtest's symbols
    ht = human_targets(synthetic_trader(both, "mean_reversion", seed=0), both)
    strategies = {"human (mean reversion)": lambda: TargetSeries(ht), "SMA 50/200, 20 units each": lambda: SMACrossover(50, 200, size=20)}
    cfg, rows = BacktestConfig(), []
    for sname, make in strategies.items():
        base = Backtest(both, make(), cfg).run(fast=False)
        b = (base.metrics["max_drawdown"], base.metrics["sharpe"], worst_month(base.equity))
        rows.append(dict(strategy=sname, rules="none", max_drawdown=b[0], sharpe=b[1], worst_month=b[2],
                         total_return=base.metrics["total_return"], events=0, seconds=float("nan")))
        for fname, rules in FAMILIES.items():
            t = time.perf_counter()
            r = Backtest(both, RiskManager(RiskConfig(rules=rules)).wrap(make()), cfg).run()
            rows.append(dict(strategy=sname, rules=fname, max_drawdown=r.metrics["max_drawdown"], sharpe=r.metrics["sharpe"],
                             worst_month=worst_month(r.equity), total_return=r.metrics["total_return"], events=len(r.events),
                             seconds=time.perf_counter() - t))
    return pd.DataFrame(rows)

def main():
    t0 = time.perf_counter()
    print_table("Risk layer: overhead (SMA 20/60 crossover on a random walk)", overhead_rows())
    eff = effect_rows()
    rows = []
    for _, r in eff.iterrows():
        base = eff[(eff.strategy == r.strategy) & (eff.rules == "none")].iloc[0]
        shallower = r.max_drawdown > base.max_drawdown and r.worst_month > base.worst_month
        rows.append(dict(metric=f"{r.strategy} | {r.rules}",
                         value=f"maxDD {r.max_drawdown:+.1%}  Sharpe {r.sharpe:.2f}  worst month {r.worst_month:+.1%}  return {r.total_return:+.0%}",
                         goal="-" if r.rules == "none" else "maxDD and worst month shallower than none",
                         met=None if r.rules == "none" else bool(shallower),
                         note="" if r.rules == "none" else f"{r.events:,} events, {r.seconds:.1f}s"))
    print_table("Risk layer: effect on S&P 500 + NASDAQ daily bars 1999-2018 (default costs: 1 bp fee, 1 bp half-spread)", rows)
    print(f"\nbench_risk: {time.perf_counter() - t0:.0f}s")

if __name__ == "__main__":
    main()
