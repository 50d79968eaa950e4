"""Runs the executor against a (fake) Binance endpoint over a replayed session: the process the kill -9 tests and the
soak test start, kill and start again.

    python tests/live_driver.py --url http://127.0.0.1:PORT --out DIR --bars bars.csv --targets targets.npy [--hold_file F]

Keys come from DMFAKE_API_KEY / DMFAKE_SECRET as in production. With --hold_file the process stops between the
journaled intent and the request (it writes the order's id to the file and waits to be killed)."""
import argparse, json, sys, time
from pathlib import Path

import numpy as np

from diffmarket.core import LiveConfig
from diffmarket.backtest import TargetSeries
from diffmarket.live import CCXTExchange, Executor, Journal, ReplayFeed


def venue_config(url, symbols=("BTC/USDT",)):
    return {"ccxt_id": "binance", "market_type": "spot", "sandbox": False, "credentials_env_prefix": "DMFAKE_",
            "symbols": list(symbols), "endpoint": url}


def make_executor(url, out, bars, targets, grace=0.3, hold_file=None, **cfg_kw):
    cfg = LiveConfig(venues={"fake": venue_config(url)}, unknown_grace_s=grace, backoff_s=0.05, **cfg_kw)
    venue = CCXTExchange("fake", cfg.venues["fake"], cfg, require_keys=True)
    if hold_file:
        def held(order, _f=Path(hold_file)):
            _f.write_text(order.client_order_id)
            time.sleep(3600)
        venue.submit = held
    out = Path(out)
    return Executor(TargetSeries(targets), ReplayFeed(bars), venue, Journal(out / "journal.sqlite", "live"), cfg, out_dir=out,
                    initial_cash=1_000_000.0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True); ap.add_argument("--out", required=True)
    ap.add_argument("--bars", required=True); ap.add_argument("--targets", required=True)
    ap.add_argument("--grace", type=float, default=0.3); ap.add_argument("--hold_file")
    a = ap.parse_args()
    import pandas as pd
    ex = make_executor(a.url, a.out, pd.read_csv(a.bars), np.load(a.targets), a.grace, a.hold_file)
    print(json.dumps(ex.run()))
    sys.stdout.flush()
