"""Write data/synthetic_intraday.csv: 5-minute bars of a synthetic stock (GARCH(1,1) returns with Student-t
shocks, so the series shows fat tails and volatility clustering), 120 US sessions of 78 bars. Seeded: rerunning
gives the same file. data/sp500_daily.csv (real S&P 500 daily bars, 1999-2018) comes from the dataset bundled
with the `arch` package (sourced from Yahoo Finance); see data/README.md."""
from pathlib import Path
import numpy as np, pandas as pd

def make(seed=7, sessions=120, bars_per_session=78, start_price=50.0):
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2024-01-02", periods=sessions, tz="America/New_York")
    stamps = np.concatenate([(d + pd.Timedelta(hours=9, minutes=30) + pd.to_timedelta(np.arange(bars_per_session) * 5, "min")).tz_convert("UTC").values
                             for d in days])
    n = len(stamps); omega, alpha, beta = 2e-8, 0.08, 0.90
    var, r = omega / (1 - alpha - beta), np.empty(n)
    z = rng.standard_t(5, n) / np.sqrt(5 / 3)
    for i in range(n):
        r[i] = np.sqrt(var) * z[i]
        var = omega + alpha * r[i] ** 2 + beta * var
    close = start_price * np.exp(np.cumsum(r))
    open_ = np.concatenate([[start_price], close[:-1]]) * np.exp(rng.normal(0, 2e-4, n))
    wig = np.abs(rng.normal(0, 1, (2, n))) * np.sqrt(omega / (1 - alpha - beta)) * close
    high = np.maximum(open_, close) + wig[0]; low = np.minimum(open_, close) - wig[1]
    intraday = np.tile(1 + 0.8 * np.cos(np.linspace(0, 2 * np.pi, bars_per_session)), sessions)  # U-shaped volume
    volume = np.round(rng.gamma(2.0, 5000, n) * intraday * (1 + 400 * np.abs(r))).astype(int)
    return pd.DataFrame({"timestamp": pd.DatetimeIndex(stamps).strftime("%Y-%m-%dT%H:%M:%SZ"), "symbol": "SYN",
                         "open": open_.round(4), "high": high.round(4), "low": low.round(4), "close": close.round(4),
                         "volume": volume})

if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "data" / "synthetic_intraday.csv"
    make().to_csv(out, index=False); print("wrote", out)
