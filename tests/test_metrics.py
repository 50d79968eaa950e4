"""Every metric in diffmarket.core.compute_metrics against an independent reference written out here with
pandas, in the way empyrical and quantstats define them, on the same series, to 1e-9."""
import math
import numpy as np, pandas as pd, pytest
from hypothesis import given, settings, strategies as st
from diffmarket.metrics import compute_metrics, periods_per_year

def reference(equity: pd.Series, positions, trades, notional, ppy, rf):
    r = equity.pct_change().dropna()                                  # empyrical: simple returns
    rf_p = (1 + rf) ** (1 / ppy) - 1                                  # annual rate -> per period
    adj = r - rf_p
    n = len(r)
    cum = equity.iloc[-1] / equity.iloc[0] - 1
    ann = (1 + cum) ** (ppy / n) - 1                                  # empyrical.annual_return (CAGR)
    vol = r.std(ddof=1) * math.sqrt(ppy)                              # empyrical.annual_volatility
    sharpe = adj.mean() / adj.std(ddof=1) * math.sqrt(ppy)            # empyrical.sharpe_ratio
    downside = math.sqrt((adj.clip(upper=0) ** 2).mean()) * math.sqrt(ppy)   # empyrical.downside_risk
    sortino = adj.mean() * ppy / downside                             # empyrical.sortino_ratio
    peak = equity.cummax(); dd = equity / peak - 1
    mdd = dd.min()                                                    # empyrical.max_drawdown
    longest = run = 0                                                 # quantstats-style drawdown duration in bars
    for v in dd:
        run = run + 1 if v < 0 else 0; longest = max(longest, run)
    pnl = pd.Series(trades["pnl"])
    return dict(total_return=cum, annual_return=ann, annual_volatility=vol, sharpe=sharpe, sortino=sortino,
                max_drawdown=mdd, max_drawdown_duration=longest, calmar=ann / abs(mdd),
                win_rate=(pnl > 0).sum() / len(pnl),
                profit_factor=pnl[pnl > 0].sum() / abs(pnl[pnl < 0].sum()),
                num_trades=len(pnl), avg_holding_period=float(np.mean(trades["bars_held"])),
                exposure=float(np.mean(np.asarray(positions) != 0)),
                turnover=float(np.sum(notional)) / equity.mean() * ppy / n)

@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), rf=st.sampled_from([0.0, 0.02, 0.05]), n=st.integers(30, 600))
def test_metrics_match_reference(seed, rf, n):
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2020-01-01", periods=n, tz="UTC")
    equity = pd.Series(1e5 * np.cumprod(1 + rng.normal(0.0004, 0.01, n)), index=idx)
    positions = rng.choice([0, 0, 1, -1, 2], size=n)
    trades = pd.DataFrame({"pnl": rng.normal(10, 100, 25), "bars_held": rng.integers(1, 30, 25)})
    notional = np.abs(rng.normal(0, 5e3, n))
    got = compute_metrics(equity, positions, trades, notional, risk_free_rate=rf)
    ref = reference(equity, positions, trades, notional, 252.0, rf)
    for k, v in ref.items():
        assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k

def test_edge_cases():
    eq = pd.Series([100.0, 101, 102], index=pd.bdate_range("2024-01-01", periods=3))
    m = compute_metrics(eq, trades=pd.DataFrame({"pnl": [1.0, 2.0], "bars_held": [1, 1]}))
    assert m["max_drawdown"] == 0 and math.isnan(m["calmar"]) and m["profit_factor"] == math.inf
    assert math.isnan(m["sortino"])                     # no downside at all
    assert compute_metrics(eq)["num_trades"] == 0 and math.isnan(compute_metrics(eq)["win_rate"])
    with pytest.raises(ValueError, match="NaN"): compute_metrics(pd.Series([1.0, np.nan], index=eq.index[:2]))

def test_periods_per_year_rule():
    assert periods_per_year(pd.bdate_range("2024-01-01", periods=50)) == 252
    assert periods_per_year(pd.date_range("2024-01-01", periods=50, freq="D")) == 365
    five_min = pd.bdate_range("2024-01-01", periods=10).repeat(78) + pd.to_timedelta(np.tile(np.arange(78) * 5, 10), "min")
    assert periods_per_year(five_min) == 78 * 252
    assert periods_per_year(pd.date_range("2024-01-01", periods=24 * 20, freq="h")) == 24 * 365
    assert periods_per_year(pd.date_range("2024-01-31", periods=20, freq="ME")) == 12

def fx_hours(start="2023-01-01", end="2024-01-01"):
    "Hourly bars of a 24/5 market: Sunday 22:00 to Friday 21:00 UTC (a few Sunday-evening bars each week)."
    h = pd.date_range(start, end, freq="h", tz="UTC", inclusive="left")
    dow, hour = h.day_of_week, h.hour
    open_ = ((dow >= 0) & (dow <= 3)) | ((dow == 4) & (hour <= 21)) | ((dow == 6) & (hour >= 22))
    return h[open_]

def test_periods_per_year_counts_the_bars_a_year_holds():
    "Annualisation follows the bars a year of data holds, not a calendar of 24 x 365 hours (issue 10, item 4)."
    fx = fx_hours()
    per_year = (len(fx) - 1) / ((fx[-1] - fx[0]) / pd.Timedelta(days=365.25))
    assert 6_100 < per_year < 6_400
    assert periods_per_year(fx) == pytest.approx(per_year, rel=1e-12)
    crypto = pd.date_range("2023-01-01", periods=24 * 200, freq="h")
    assert periods_per_year(crypto) == pytest.approx(24 * 365.25, rel=1e-3)

@pytest.mark.parametrize("index,ppy", [
    (pd.bdate_range("2020-01-01", "2023-12-31"), 252),                  # business days (no holiday calendar) still read 252
    (pd.date_range("2020-01-01", "2023-12-31", freq="D"), 365),         # crypto daily
    (pd.date_range("2020-01-03", periods=150, freq="W-FRI"), 52),
    (pd.date_range("2015-01-31", periods=60, freq="ME"), 12),
])
def test_daily_and_coarser_snap_to_the_convention(index, ppy):
    assert periods_per_year(index) == ppy

def test_sample_daily_bars_read_252():
    from diffmarket.data.loaders import load_bars, sample_path
    assert periods_per_year(load_bars(sample_path("sp500_daily.csv")).timestamp) == 252

def test_gappy_daily_data_are_not_snapped():
    "Daily bars with a third of the days missing hold about 168 a year; the convention would overstate them."
    idx = pd.bdate_range("2020-01-01", "2023-12-31")
    gappy = idx[np.arange(len(idx)) % 3 != 2]
    assert periods_per_year(gappy) == pytest.approx((len(gappy) - 1) / 4, rel=0.02)
