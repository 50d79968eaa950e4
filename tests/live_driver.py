"""Runs the executor against a (fake) Binance endpoint over a replayed session: the process the kill -9 tests and the
soak test start, kill and start again.

    python tests/live_driver.py --url http://127.0.0.1:PORT --out DIR --bars bars.csv --targets targets.npy [--hold_file F]

Keys come from DMFAKE_API_KEY / DMFAKE_SECRET as in production. With --hold_file the process stops between the
journaled intent and the request (it writes the order's id to the file and waits to be killed); with --hold_exit only
an exit order stops there. --stops stops.npy adds a stop-loss price per bar (the policy returns Decisions); --paper
trades on the paper venue (its state in the out folder) instead of the fake exchange."""
import argparse, json, sys, time
from pathlib import Path

import numpy as np

from diffmarket.core import Decision
from diffmarket.config import LiveConfig
from diffmarket.trading.backtest import TargetSeries
from diffmarket.trading.live.ccxt import CCXTExchange
from diffmarket.trading.live.executor import Executor
from diffmarket.trading.live.journal import Journal
from diffmarket.trading.live.paper import PaperExchange
from diffmarket.trading.live.feeds import ReplayFeed


class StopSeries:
    "A target and a stop-loss price per bar: a Decision at each close."
    def __init__(self, targets, stops): self.targets, self.stops = np.asarray(targets, dtype=float), np.asarray(stops, dtype=float)
    def act(self, obs): return Decision(self.targets[obs.t], stop_loss=self.stops[obs.t])


def venue_config(url, symbols=("BTC/USDT",)):
    return {"ccxt_id": "binance", "market_type": "spot", "sandbox": False, "credentials_env_prefix": "DMFAKE_",
            "symbols": list(symbols), "endpoint": url}


def make_executor(url, out, bars, targets, grace=0.3, hold_file=None, stops=None, paper=False, hold_exit=False, **cfg_kw):
    cfg = LiveConfig(venues={"fake": venue_config(url)}, unknown_grace_s=grace, backoff_s=0.05, **cfg_kw)
    out = Path(out)
    feed = ReplayFeed(bars)
    if paper: venue = PaperExchange(feed.symbols, state_path=out / "paper.json")
    else: venue = CCXTExchange("fake", cfg.venues["fake"], cfg, require_keys=True)
    if hold_file:
        send = venue.submit
        def held(order, _f=Path(hold_file)):
            if hold_exit and not order.is_exit: return send(order)
            _f.write_text(order.client_order_id)
            time.sleep(3600)
        venue.submit = held
    policy = TargetSeries(targets) if stops is None else StopSeries(targets, stops)
    return Executor(policy, feed, venue, Journal(out / "journal.sqlite", "paper" if paper else "live"), cfg, out_dir=out,
                    initial_cash=None if paper else 1_000_000.0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True); ap.add_argument("--out", required=True)
    ap.add_argument("--bars", required=True); ap.add_argument("--targets", required=True)
    ap.add_argument("--grace", type=float, default=0.3); ap.add_argument("--hold_file")
    ap.add_argument("--stops"); ap.add_argument("--paper", action="store_true"); ap.add_argument("--hold_exit", action="store_true")
    a = ap.parse_args()
    import pandas as pd
    ex = make_executor(a.url, a.out, pd.read_csv(a.bars), np.load(a.targets), a.grace, a.hold_file,
                       np.load(a.stops) if a.stops else None, a.paper, a.hold_exit)
    print(json.dumps(ex.run()))
    sys.stdout.flush()
