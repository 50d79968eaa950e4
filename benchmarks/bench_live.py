"""Live executor: decision-to-request latency against the local fake exchange (through ccxt) for the diffusion policy
and a trivial policy, orders per second sustained, the soak test's counts (kill -9 / restart trials), and paper trading
against the backtest on the demo's held-out bars and, exits included, for a risk-managed crossover.

    python benchmarks/bench_live.py [--trials 100]
"""
import argparse, dataclasses, os, sys, tempfile, time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE)); sys.path.insert(0, str(HERE.parent / "tests"))
from _table import print_table                                                  # noqa: E402
from fake_exchange import FakeBinance, TEST_API_KEY, TEST_SECRET                 # noqa: E402

from diffmarket.config import load_config
from diffmarket.data.loaders import load_bars, sample_path
from diffmarket.data.humans import synthetic_trader
from diffmarket.data.features import StrategyData
from diffmarket.policy.train import Trainer
from diffmarket.policy.learned import load_policy
from diffmarket.trading.backtest import Backtest, CostModel
from diffmarket.trading.backtest import SMACrossover, TargetSeries
from diffmarket.trading.risk.manager import RiskManager
from diffmarket.trading.live.ccxt import CCXTExchange
from diffmarket.trading.live.executor import Executor
from diffmarket.trading.live.journal import Journal
from diffmarket.trading.live.paper import PaperExchange
from diffmarket.trading.live.feeds import ReplayFeed

os.environ["DMFAKE_API_KEY"], os.environ["DMFAKE_SECRET"] = TEST_API_KEY, TEST_SECRET


def demo_policy(work):
    "The demo's job in small: a mean-reversion human on the S&P 500 from 2008, a diffusion policy trained 15 epochs."
    cfg = load_config()
    bars = load_bars(sample_path("sp500_daily.csv"))
    bars = bars[bars.timestamp >= "2008-01-01"].reset_index(drop=True)
    human = synthetic_trader(bars, "mean_reversion", seed=0)
    quick = dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, epochs=15))
    tr = Trainer(StrategyData.build(bars, human, quick.data), quick, progress=False); tr.fit(out_dir=work)
    if not (work / "best_model.pt").exists(): tr.save_policy(work / "best_model.pt")
    return cfg, bars, work / "best_model.pt"


def against_fake(policy, bars, out, rate_limit, start=None):
    "Run `policy` over replayed `bars` (symbol SPX/USD) against a fresh fake; returns (executor, fake, wall seconds)."
    fake = FakeBinance(markets={"SPX/USD": dict(step="0.001", tick="0.01", min_qty="0.001", min_notional="1")},
                       balances={"USD": 10**9, "SPX": 10**6}, prices={"SPX/USD": 1000}).start()
    cfg = load_config()
    live = dataclasses.replace(cfg.live, venues={"fake": {"ccxt_id": "binance", "market_type": "spot", "sandbox": False,
                               "credentials_env_prefix": "DMFAKE_", "symbols": ["SPX/USD"], "endpoint": fake.url}})
    venue = CCXTExchange("fake", live.venues["fake"], live, require_keys=True)
    venue.ex.enableRateLimit = rate_limit
    ex = Executor(policy, ReplayFeed(bars.assign(symbol="SPX/USD"), start=start), venue, Journal(out / "journal.sqlite", "live"),
                  live, cfg.backtest, out_dir=out, initial_cash=1e9)
    ex.start()
    t = time.perf_counter(); ex.run(); wall = time.perf_counter() - t
    return ex, fake, wall


def latency(ex, fake):
    "Per order, in ms: bar -> request on the wire, the policy's share, and the executor's own share (journal included)."
    wire = [r[3] for r in fake.requests if r[:2] == ("POST", "/api/v3/order")]
    lat = np.array(ex.latencies[:len(wire)], dtype=np.int64)
    wire = np.array(wire[:len(lat)], dtype=np.int64)
    policy = (lat[:, 2] - lat[:, 1]) / 1e6
    own = ((lat[:, 4] - lat[:, 0]) - (lat[:, 2] - lat[:, 1])) / 1e6         # up to handing the order to the adapter
    journal = (lat[:, 3] - lat[:, 2]) / 1e6
    to_wire = (wire - lat[:, 0]) / 1e6 - policy                             # plus ccxt's signing and the HTTP write
    return policy, own, journal, to_wire


def pct(x, q): return f"{np.percentile(x, q):.3f}" if len(x) else "-"


def main(argv=None):
    ap = argparse.ArgumentParser(); ap.add_argument("--trials", type=int, default=100); ap.add_argument("--bars", type=int, default=600)
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench_live_"))
    rows = []
    cfg, bars, ckpt = demo_policy(work / "ckpt")
    held_out = load_policy(ckpt).split_start()

    # paper = backtest on the held-out bars
    bt = Backtest(bars, load_policy(ckpt), cfg.backtest, start=held_out).run()
    feed = ReplayFeed(bars, start=held_out)
    paper = Executor(load_policy(ckpt), feed, PaperExchange(feed.symbols, CostModel.from_config(cfg.backtest)),
                     Journal(work / "paper" / "journal.sqlite"), cfg.live, cfg.backtest, out_dir=work / "paper")
    t = time.perf_counter(); paper.run(); paper_wall = time.perf_counter() - t
    fills = pd.read_csv(work / "paper" / "fills.csv")
    want = bt.fills.assign(timestamp=pd.DatetimeIndex(bt.fills.timestamp).strftime("%Y-%m-%dT%H:%M:%SZ")).reset_index(drop=True)
    same = fills.equals(want)
    rows.append(dict(metric="paper vs backtest, demo held-out bars (fills equal)", value=f"{same}: {len(fills)} vs {len(want)} fills",
                     goal="identical, trade for trade", met=same, note=f"{len(bt.equity)} bars from {held_out:%Y-%m-%d}; paper run {paper_wall:.1f} s"))

    # paper = backtest, exits included: the risk layer (3% stop, 6% take-profit) around the crossover, every bar from 2008
    tight = dataclasses.replace(cfg.risk, stop_loss=0.03, take_profit=0.06)
    rbt = Backtest(bars, RiskManager(tight).wrap(SMACrossover(10, 30, size=5.0)), cfg.backtest).run()
    feed = ReplayFeed(bars)
    rp = Executor(RiskManager(tight).wrap(SMACrossover(10, 30, size=5.0)), feed, PaperExchange(feed.symbols, CostModel.from_config(cfg.backtest)),
                  Journal(work / "managed" / "journal.sqlite"), cfg.live, cfg.backtest, out_dir=work / "managed")
    t = time.perf_counter(); rp.run(); rp_wall = time.perf_counter() - t
    rfills = pd.read_csv(work / "managed" / "fills.csv")
    rwant = rbt.fills.assign(timestamp=pd.DatetimeIndex(rbt.fills.timestamp).strftime("%Y-%m-%dT%H:%M:%SZ")).reset_index(drop=True)
    rev = rp.journal.risk_events()
    same = rfills.equals(rwant) and rev.equals(rbt.events)
    n_exits = int(rbt.events.rule.isin(["stop_loss", "take_profit"]).sum())
    rows.append(dict(metric="paper vs backtest, risk-managed crossover with exits (fills and events equal)",
                     value=f"{same}: {len(rfills)} vs {len(rwant)} fills, {len(rev)} vs {len(rbt.events)} events", goal="identical, trade for trade",
                     met=same, note=f"{n_exits} stop-loss/take-profit exits; {len(bars)} bars; paper run {rp_wall:.1f} s"))

    # latency: trivial policy (an order every bar) and the diffusion policy, rate limiter off (the executor's own share)
    n = a.bars
    flip = TargetSeries(np.where(np.arange(len(bars)) % 2 == 0, 1.0, 2.0)[:, None])
    start = bars.timestamp.iloc[len(bars) - n]
    ex, fake, wall = against_fake(flip, bars, work / "trivial", rate_limit=False, start=start)
    pol, own, jr, wire = latency(ex, fake); fake.stop()
    rows.append(dict(metric="trivial policy: executor's own share p50 / p99 (ms)", value=f"{pct(own, 50)} / {pct(own, 99)}",
                     goal="p99 <= 5 ms", met=bool(np.percentile(own, 99) <= 5), note=f"{len(own)} orders; journal commit p50 {pct(jr, 50)} ms"))
    rows.append(dict(metric="trivial policy: bar close -> order on the wire p50 / p99 (ms)", value=f"{pct(wire, 50)} / {pct(wire, 99)}",
                     goal="-", met=None, note="policy time excluded; ccxt signing and the HTTP write included"))
    rows.append(dict(metric="orders per second sustained (rate limiter off)", value=f"{ex.counts['orders'] / wall:.0f}", goal="-", met=None,
                     note=f"{ex.counts['orders']} market orders, each journaled twice (intent, answer) with fsync, acknowledged by the fake"))
    ex2, fake2, wall2 = against_fake(flip, bars.iloc[-200:].reset_index(drop=True), work / "limited", rate_limit=True)
    fake2.stop()
    rows.append(dict(metric="orders per second sustained (ccxt's Binance rate limiter on)", value=f"{ex2.counts['orders'] / wall2:.0f}",
                     goal="-", met=None, note="the limiter, not the executor, sets this"))
    dex, dfake, _ = against_fake(load_policy(ckpt), bars, work / "diffusion", rate_limit=False, start=held_out)
    pol, own, jr, wire = latency(dex, dfake); dfake.stop()
    rows.append(dict(metric="diffusion policy: executor's own share p50 / p99 (ms)", value=f"{pct(own, 50)} / {pct(own, 99)}",
                     goal="p99 <= 5 ms", met=bool(len(own) and np.percentile(own, 99) <= 5), note=f"{len(own)} orders on the held-out bars"))
    rows.append(dict(metric="diffusion policy: act p50 / p99 (ms); bar -> wire p50 / p99 (ms)",
                     value=f"{pct(pol, 50)} / {pct(pol, 99)}; {pct(wire + pol, 50)} / {pct(wire + pol, 99)}", goal="-", met=None,
                     note="bars with an order; DDIM sampling dominates"))

    # soak
    import pytest  # noqa: F401  (the soak helper lives in the test module)
    from test_live import soak
    fake = FakeBinance(prices={"BTC/USDT": 100}).start(); (work / "soak").mkdir()
    t = time.perf_counter(); lost, duplicated, killed = soak(fake, work / "soak", trials=a.trials, n_bars=400); fake.stop()
    rows.append(dict(metric=f"soak: {a.trials} kill -9 / restart trials", value=f"lost {lost}, duplicated {duplicated}",
                     goal="0 lost, 0 duplicated", met=(lost, duplicated) == (0, 0),
                     note=f"{killed} trials killed mid-run; {time.perf_counter() - t:.0f} s"))
    print_table("Live executor (benchmarks/bench_live.py)", rows)


if __name__ == "__main__":
    main()
