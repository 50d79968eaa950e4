"""Write the shipped sample bars.

data/synthetic_intraday.csv: 5-minute bars of a synthetic stock (GARCH(1,1) returns with Student-t shocks, so the
series shows fat tails and volatility clustering), 120 US sessions of 78 bars. Seeded: rerunning gives the same file.

data/sp500_daily.csv and data/nasdaq_daily.csv: real S&P 500 and NASDAQ Composite daily bars, 1999-2018, from the
`sp500` and `nasdaq` datasets bundled with the `arch` package (University of Illinois/NCSA licence; sourced from
Yahoo Finance), prices rounded to cents; see data/README.md. `arch` is needed only to regenerate these two files
(`pip install arch` into a scratch environment); the package does not depend on it.

    python tools/make_sample_data.py            # the synthetic file only
    python tools/make_sample_data.py --arch     # also the two index files (needs arch)
"""
import sys
from pathlib import Path
import numpy as np, pandas as pd

DATA = Path(__file__).resolve().parent.parent / "data"
ARCH_FILES = {"sp500_daily.csv": ("sp500", "SPX"), "nasdaq_daily.csv": ("nasdaq", "IXIC")}

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

def from_arch(dataset:str, symbol:str) -> pd.DataFrame:
    "Daily bars of one of arch's bundled index datasets in the bar contract (dates, prices rounded to cents)."
    import importlib
    d = importlib.import_module(f"arch.data.{dataset}").load()
    return pd.DataFrame({"timestamp": pd.DatetimeIndex(d.index).strftime("%Y-%m-%d"), "symbol": symbol,
                         "open": d["Open"].round(2).to_numpy(), "high": d["High"].round(2).to_numpy(),
                         "low": d["Low"].round(2).to_numpy(), "close": d["Close"].round(2).to_numpy(),
                         "volume": d["Volume"].astype("int64").to_numpy()})

if __name__ == "__main__":
    out = DATA / "synthetic_intraday.csv"
    make().to_csv(out, index=False); print("wrote", out)
    if "--arch" in sys.argv[1:]:
        for name, (dataset, symbol) in ARCH_FILES.items():
            from_arch(dataset, symbol).to_csv(DATA / name, index=False); print("wrote", DATA / name)
