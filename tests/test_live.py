"""The live executor against a real ccxt code path with no network: a fake Binance spot exchange on 127.0.0.1
(tests/fake_exchange.py). Fault tests 1-10 of issue 13, the paper-equals-backtest tests (plain and risk-managed policies,
stop-loss and take-profit exits included), exits on a ccxt venue, kill -9 around an exit, and a light soak test."""
import dataclasses, json, logging, os, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_exchange import FakeBinance, TEST_API_KEY, TEST_SECRET                 # noqa: E402
from live_driver import StopSeries, make_executor, venue_config                  # noqa: E402

from diffmarket.config import BacktestConfig, LiveConfig, load_config
from diffmarket.core import Decision, Observation
from diffmarket.trading.backtest import Backtest, CostModel
from diffmarket.trading.backtest import TargetSeries, SMACrossover
from diffmarket.trading.risk.manager import RiskManager
from diffmarket.data.loaders import load_bars, sample_path
from diffmarket.data.humans import synthetic_trader
from diffmarket.policy.imitation import human_targets
from diffmarket.trading.live.orders import EXIT_LEG, JournalError, OrderStatus, ReconcileError, Order
from diffmarket.trading.live.ccxt import CCXTExchange
from diffmarket.trading.live.feeds import CCXTFeed, ReplayFeed
from diffmarket.trading.live.executor import Executor
from diffmarket.trading.live.journal import Journal
from diffmarket.trading.live.paper import PaperExchange

ROOT = Path(__file__).resolve().parent.parent
DRIVER = Path(__file__).resolve().parent / "live_driver.py"
SYM = "BTC/USDT"


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("DMFAKE_API_KEY", TEST_API_KEY); monkeypatch.setenv("DMFAKE_SECRET", TEST_SECRET)


@pytest.fixture
def fake():
    f = FakeBinance(prices={SYM: 100}).start()
    yield f
    if f.hold is not None: f.hold.set()
    f.stop()


def session(n=30, seed=0, levels=(0.0, 0.1, 0.2, 0.3)):
    "A replayed minute session of BTC/USDT at 100 and random targets."
    bars = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="min", tz="UTC"), "symbol": SYM,
                         "open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0, "volume": 1.0})
    return bars, np.random.default_rng(seed).choice(levels, size=(n, 1))


def placed_orders(fake):
    "Orders the fake accepted (refusals never reach its book)."
    return list(fake.orders.values())


def assert_books_agree(fake, journal):
    "The venue's trades and the journal's fills are the same set (none lost, none counted twice)."
    venue = {str(t["id"]): float(t["qty"]) for t in fake.trades}
    jr = {f.trade_id: f.quantity for f in journal.fills()}
    assert jr == venue
    cids = [o["clientOrderId"] for o in fake.orders.values()]
    assert len(cids) == len(set(cids))
    journal_cids = {o.client_order_id for o in journal.orders()}
    assert set(cids) <= journal_cids                      # nothing at the venue the journal does not know


# --- paper = backtest ---------------------------------------------------------------------------------------------

def demo_bars():
    bars = load_bars(sample_path("sp500_daily.csv"))
    return bars[bars.timestamp >= "2008-01-01"].reset_index(drop=True)


class Recorder:
    "Wraps a policy and keeps a copy of every observation it saw."
    def __init__(self, policy): self.policy, self.seen = policy, []
    def act(self, obs):
        self.seen.append((obs.t, int(obs.timestamp.value), obs.symbols, obs.ohlcv.copy(), obs.position.copy(), obs.cash, obs.equity))
        return self.policy.act(obs)


@pytest.mark.parametrize("which", ["human", "sma"])
def test_paper_trading_recorded_bars_equals_the_backtest(tmp_path, which):
    "Trade for trade, and the executor's observations are the backtester's, exactly."
    bars, cfg = demo_bars(), load_config()
    start = bars.timestamp.iloc[1500]
    make = (lambda: TargetSeries(human_targets(synthetic_trader(bars, "mean_reversion", seed=0), bars))) if which == "human" \
        else (lambda: SMACrossover(10, 30, size=5.0))
    rb, rl = Recorder(make()), Recorder(make())
    res = Backtest(bars, rb, cfg.backtest, start=start).run(fast=False)
    feed = ReplayFeed(bars, start=start)
    ex = Executor(rl, feed, PaperExchange(feed.symbols, CostModel.from_config(cfg.backtest)), Journal(tmp_path / "j.sqlite"),
                  cfg.live, cfg.backtest, out_dir=tmp_path)
    ex.run()
    fills = pd.read_csv(tmp_path / "fills.csv")
    want = res.fills.assign(timestamp=pd.DatetimeIndex(res.fills.timestamp).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert len(want) > 10
    pd.testing.assert_frame_equal(fills, want.reset_index(drop=True), check_exact=True)
    assert len(rb.seen) == len(rl.seen)
    for a, b in zip(rb.seen, rl.seen):
        assert a[:3] == b[:3] and np.array_equal(a[3], b[3], equal_nan=True) and np.array_equal(a[4], b[4])
        assert a[5] == b[5] and a[6] == b[6]
    pos = pd.read_csv(tmp_path / "positions.csv")
    assert np.array_equal(pos.position.to_numpy(), res.positions.iloc[:, 0].to_numpy())


def iso(fills):
    "A backtest's fills as fills.csv holds them."
    return fills.assign(timestamp=pd.DatetimeIndex(fills.timestamp).strftime("%Y-%m-%dT%H:%M:%SZ")).reset_index(drop=True)


def paper(policy, bars, out, cfg, start=None, max_bars=None):
    "Paper trade `policy` on replayed `bars` into `out` (the paper venue's state kept there); returns the executor, closed."
    feed = ReplayFeed(bars, start=start)
    ex = Executor(policy, feed, PaperExchange(feed.symbols, CostModel.from_config(cfg), state_path=out / "paper.json"),
                  Journal(out / "journal.sqlite"), LiveConfig(), cfg, out_dir=out)
    ex.run(max_bars=max_bars); ex.journal.close()
    return ex


@pytest.mark.parametrize("stops", ["default", "tight"])
def test_paper_trading_a_risk_managed_policy_equals_its_backtest(tmp_path, stops):
    """The risk layer around the crossover on the S&P 500 from 2008: paper == backtest trade for trade, event for event
    (the stop-loss and take-profit exits among them), and the policy sees the same account at every close. The default
    rules (a 10% stop) are never hit there; tight stops (3% / 6%) are, dozens of times, some through gaps."""
    bars, cfg = demo_bars(), load_config()
    risk = cfg.risk if stops == "default" else dataclasses.replace(cfg.risk, stop_loss=0.03, take_profit=0.06)
    rb, rl = Recorder(SMACrossover(10, 30, size=5.0)), Recorder(SMACrossover(10, 30, size=5.0))
    res = Backtest(bars, RiskManager(risk).wrap(rb), cfg.backtest).run(fast=False)
    ex = paper(RiskManager(risk).wrap(rl), bars, tmp_path, cfg.backtest)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "fills.csv"), iso(res.fills), check_exact=True)
    j = Journal(tmp_path / "journal.sqlite", lock=False)
    pd.testing.assert_frame_equal(j.risk_events(), res.events, check_exact=True)
    exits = res.events[res.events.rule.isin(["stop_loss", "take_profit"])]
    if stops == "tight":
        assert (exits.rule == "stop_loss").sum() > 20 and (exits.rule == "take_profit").sum() > 20
        xo = [o for o in j.orders() if o.is_exit]
        assert len(xo) == len(exits) and {o.status for o in xo} == {OrderStatus.FILLED} and ex.counts["exits"] == len(exits)
        gaps = [o for o in xo if o.reference_price == bars.open.iloc[int(bars.timestamp.searchsorted(pd.Timestamp(o.bar_ts, tz="UTC")))]]
        assert gaps                                          # some bars open beyond the stop: filled at the open, as the backtest
    else: assert len(exits) == 0 and len(res.events) > 100     # the risk layer's own events (vol_target) still match
    assert len(rb.seen) == len(rl.seen)
    for a, b in zip(rb.seen, rl.seen):
        assert a[:3] == b[:3] and np.array_equal(a[4], b[4]) and a[5] == b[5] and a[6] == b[6]
    pos = pd.read_csv(tmp_path / "positions.csv")
    assert np.array_equal(pos.position.to_numpy(), res.positions.iloc[:, 0].to_numpy())
    np.testing.assert_allclose(pd.read_csv(tmp_path / "equity.csv").equity.to_numpy(), res.equity.to_numpy(), rtol=1e-12)


def walk(n=400, symbols=("X", "Y"), seed=0):
    "Random walks whose bars open away from the last close and range beyond their open and close."
    out = []
    for k, s in enumerate(symbols):
        rng = np.random.default_rng(seed + k)
        c = 100 * np.exp(np.cumsum(rng.normal(0, 0.012, n)))
        o = np.r_[100, c[:-1]] * np.exp(rng.normal(0, 0.01, n))
        out.append(pd.DataFrame(dict(timestamp=pd.date_range("2020-01-01", periods=n, freq="B", tz="UTC"), symbol=s, open=o,
                                     high=np.maximum(o, c) * 1.006, low=np.minimum(o, c) * 0.994, close=c, volume=1.0)))
    return pd.concat(out, ignore_index=True)


class Brackets:
    "Long X and short Y (swapped every 30 bars), a stop-loss and a take-profit around each close, given as dicts."
    def act(self, obs):
        side = np.array([1.0, -1.0]) * (1 if obs.t % 60 < 30 else -1)
        c = obs.close[-1]
        return Decision(5.0 * side, stop_loss=dict(zip(obs.symbols, c * (1 - 0.02 * side))),
                        take_profit=dict(zip(obs.symbols, c * (1 + 0.025 * side))))


def test_paper_exits_on_two_symbols_equal_the_backtest(tmp_path):
    "Longs and shorts, stops and take-profits on two symbols: the same fills (a bar's rows by symbol) and the same exits."
    bars, cfg = walk(), BacktestConfig(fee_bps=1.0, half_spread_bps=2.0, slippage_bps=1.0)
    res = Backtest(bars, Brackets(), cfg).run()
    paper(Brackets(), bars, tmp_path, cfg)
    got = pd.read_csv(tmp_path / "fills.csv").sort_values(["timestamp", "symbol"], kind="stable").reset_index(drop=True)
    want = iso(res.fills).sort_values(["timestamp", "symbol"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    ev = Journal(tmp_path / "journal.sqlite", lock=False).risk_events()
    pd.testing.assert_frame_equal(ev, res.events, check_exact=True)
    assert ev.groupby(["symbol", "rule"]).size().min() >= 5


def test_paper_exits_survive_a_restart_between_bars(tmp_path):
    "Stopped at closes that placed stops and started again, the paper run exits where an uninterrupted one does."
    bars, cfg = walk(200, ("X",)), BacktestConfig(fee_bps=1.0)
    tg, st = np.full((200, 1), 5.0), bars.close.to_numpy()[:, None] * 0.985
    res = Backtest(bars, StopSeries(tg, st), cfg).run()
    hits = res.events.timestamp
    assert len(hits) > 10
    k = int(bars.timestamp.searchsorted(hits.iloc[3]))                 # stop just before a bar that exits
    paper(StopSeries(tg, st), bars, tmp_path, cfg, max_bars=k)
    paper(StopSeries(tg, st), bars, tmp_path, cfg, max_bars=1)
    ex = paper(StopSeries(tg, st), bars, tmp_path, cfg)
    assert ex.counts["bars"] == 200 - k - 1
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "fills.csv"), iso(res.fills), check_exact=True)
    pd.testing.assert_frame_equal(Journal(tmp_path / "journal.sqlite", lock=False).risk_events(), res.events, check_exact=True)


def test_paper_restart_resumes_where_it_stopped(tmp_path):
    "Stopped after some bars and started again on the same folder, the paper run ends where an uninterrupted one does."
    bars, cfg = demo_bars().iloc[-400:].reset_index(drop=True), load_config()
    tg = human_targets(synthetic_trader(bars, "trend", seed=1), bars)
    def run(out, max_bars=None):
        feed = ReplayFeed(bars, start=bars.timestamp.iloc[50])
        ex = Executor(TargetSeries(tg), feed, PaperExchange(feed.symbols, CostModel.from_config(cfg.backtest), state_path=out / "paper.json"),
                      Journal(out / "journal.sqlite"), cfg.live, cfg.backtest, out_dir=out)
        s = ex.run(max_bars=max_bars); ex.journal.close(); return s
    whole = run(tmp_path / "a")
    run(tmp_path / "b", max_bars=120); run(tmp_path / "b", max_bars=7); resumed = run(tmp_path / "b")
    assert resumed["bars"] == 350 - 120 - 7 and resumed["cash"] == whole["cash"] and resumed["positions"] == whole["positions"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a" / "fills.csv"), pd.read_csv(tmp_path / "b" / "fills.csv"))


# --- 1. kill -9 ---------------------------------------------------------------------------------------------------

def start_driver(fake, tmp_path, bars, targets, hold_file=None, stops=None, paper=False, hold_exit=False):
    bars.to_csv(tmp_path / "bars.csv", index=False); np.save(tmp_path / "targets.npy", targets)
    cmd = [sys.executable, str(DRIVER), "--url", fake.url, "--out", str(tmp_path / "out"), "--bars", str(tmp_path / "bars.csv"),
           "--targets", str(tmp_path / "targets.npy")]
    if hold_file: cmd += ["--hold_file", str(hold_file)]
    if stops is not None: np.save(tmp_path / "stops.npy", stops); cmd += ["--stops", str(tmp_path / "stops.npy")]
    cmd += ["--paper"] * paper + ["--hold_exit"] * hold_exit
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def finish(fake, tmp_path, bars, targets, **kw):
    p = start_driver(fake, tmp_path, bars, targets, **kw)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_1a_kill_between_submission_and_acknowledgement(fake, tmp_path):
    import threading
    bars, tg = session(20, seed=1)
    tg[:] = 0.1; tg[8:] = 0.2
    fake.hold = threading.Event()                     # the fake places the order, then holds the answer
    p = start_driver(fake, tmp_path, bars, tg)
    assert fake.placed.wait(60)
    p.send_signal(signal.SIGKILL); p.wait()
    fake.hold.set(); fake.hold = None
    assert len(fake.orders) == 1                      # placed, never acknowledged to the dead process
    s = finish(fake, tmp_path, bars, tg)
    j = Journal(tmp_path / "out" / "journal.sqlite", "live", lock=False)
    assert len(fake.orders) == 2 and s["positions"][SYM] == pytest.approx(0.2) and fake.position("BTC") == pytest.approx(0.2)
    first = j.order(fake.orders[1]["clientOrderId"])
    assert first.status is OrderStatus.FILLED and first.filled == pytest.approx(0.1)   # found by its client id after the restart
    assert_books_agree(fake, j)


def test_1b_kill_between_intent_and_request(fake, tmp_path):
    bars, tg = session(12, seed=2)
    tg[:] = 0.1
    hold = tmp_path / "held"
    p = start_driver(fake, tmp_path, bars, tg, hold_file=hold)
    wait_for(hold.exists)
    p.send_signal(signal.SIGKILL); p.wait()
    cid = hold.read_text()
    assert fake.orders == {}                          # the intent is journaled; the request never left
    finish(fake, tmp_path, bars, tg)
    j = Journal(tmp_path / "out" / "journal.sqlite", "live", lock=False)
    assert j.order(cid).status is OrderStatus.NOT_PLACED
    assert [o["clientOrderId"] for o in fake.orders.values()] == [cid[:-2] + "01"]   # the same bar's second leg, once
    assert fake.position("BTC") == pytest.approx(0.1)
    assert_books_agree(fake, j)


def stop_session(n=14):
    "Long 0.1 BTC throughout with a stop at 97: bar 5 trades down to 95 (inside the bar), bar 9 opens at 96 (a gap)."
    bars, tg = session(n); tg[:] = 0.1
    bars.loc[5, "low"] = 95.0
    bars.loc[9, ["open", "low"]] = 96.0
    return bars, tg, np.full((n, 1), 97.0)


@pytest.mark.parametrize("venue", ["paper", "ccxt"])
def test_1c_kill_between_an_exits_intent_and_its_request(fake, tmp_path, venue):
    "Killed with the first exit journaled but not sent: after the restart it is NOT_PLACED and exactly one exit went out."
    bars, tg, st = stop_session()
    hold = tmp_path / "held"
    p = start_driver(fake, tmp_path, bars, tg, hold_file=hold, stops=st, paper=venue == "paper", hold_exit=True)
    wait_for(hold.exists)
    p.send_signal(signal.SIGKILL); p.wait()
    cid = hold.read_text()
    assert cid.endswith("z0")
    finish(fake, tmp_path, bars, tg, stops=st, paper=venue == "paper")
    j = Journal(tmp_path / "out" / "journal.sqlite", "paper" if venue == "paper" else "live", lock=False)
    assert j.order(cid).status is OrderStatus.NOT_PLACED
    at_bar5 = [o for o in j.orders() if o.is_exit and o.client_order_id[:-2] == cid[:-2]]
    assert [(o.client_order_id[-2:], o.status) for o in at_bar5] == [("z0", OrderStatus.NOT_PLACED), ("z1", OrderStatus.FILLED)]
    exits = j.risk_events()
    assert exits.timestamp.tolist() == [bars.timestamp.iloc[5], bars.timestamp.iloc[9]] and set(exits.rule) == {"stop_loss"}
    if venue == "paper":                                  # the restarted paper run is still the backtest, trade for trade
        res = Backtest(bars, StopSeries(tg, st), BacktestConfig()).run()
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "fills.csv"), iso(res.fills), check_exact=True)
        pd.testing.assert_frame_equal(exits, res.events, check_exact=True)
        state = json.loads((tmp_path / "out" / "paper.json").read_text())
        assert [o["cid"][-2:] for o in state["orders"].values() if o["type"] == "exit"] == ["z1", "z0"]   # bar 5's second leg, bar 9's first
    else:
        sent = [o["clientOrderId"] for o in fake.orders.values()]
        assert [c for c in sent if c[:-2] == cid[:-2]] == [cid[:-2] + "z1", cid[:-2] + "00"]   # one exit, then the decision
        assert fake.position("BTC") == pytest.approx(0.1)
        assert_books_agree(fake, j)


def test_exits_on_a_ccxt_venue_are_market_orders_after_the_close(fake, tmp_path):
    """A venue that cannot fill inside a bar: the closed bar is checked by the backtest's rules and a hit is sent as a
    market order right after the close, before the decision at that close, which therefore sees the position flat."""
    bars, tg, st = stop_session()
    ex = make_executor(fake.url, tmp_path, bars, tg, stops=st)
    ex.run()
    exits = [o for o in ex.journal.orders() if o.is_exit]
    assert [(o.order_type, o.side, o.quantity, o.status, o.bar_ts) for o in exits] == \
        [("market", "sell", pytest.approx(0.1), OrderStatus.FILLED, int(bars.timestamp.iloc[k].value)) for k in (5, 9)]
    sent = list(fake.orders.values())
    assert [(o["type"], o["side"], o["clientOrderId"][-2:]) for o in sent] == \
        [("MARKET", "BUY", "00")] + [("MARKET", "SELL", "z0"), ("MARKET", "BUY", "00")] * 2          # exit, then the re-entry
    assert [f.price for f in ex.journal.fills() if f.side == "sell"] == [100.0, 100.0]                # the market's price, not 97 or 96
    ev = ex.journal.risk_events()
    assert ev.reason.tolist() == [f"stop loss at 97 reached in the bar (the backtest fills at {p}); sent as a market order after the close"
                                  for p in (97, 96)]
    assert (ev.requested.tolist(), ev.allowed.tolist()) == ([0.1, 0.1], [0.0, 0.0])
    assert "exits" in ex.journal.table("events").kind.tolist()
    pos = pd.read_csv(tmp_path / "positions.csv").position.to_numpy()
    assert pos[5] == 0 and pos[9] == 0 and pos[6] == pytest.approx(0.1)                              # flat at the exit's close
    assert ex.position[0] == pytest.approx(0.1) == fake.position("BTC")
    assert_books_agree(fake, ex.journal)


# --- 2. rate limits -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [429, 418, -1003])
def test_2_rate_limits_are_backed_off_and_retry_after_honoured(fake, tmp_path, kind):
    bars, tg = session(3); tg[:] = 0.1
    ex = make_executor(fake.url, tmp_path, bars, tg)
    fake.fail("POST", "/api/v3/order", kind, retry_after=1 if kind != -1003 else None)
    fake.fail("GET", "/api/v3/openOrders", kind, retry_after=1 if kind != -1003 else None)   # a read during reconciliation
    ex.run()
    posts = [r for r in fake.requests if r[:2] == ("POST", "/api/v3/order")]
    assert len(fake.orders) == 1 and len(posts) == 2                  # refused unprocessed, then sent once more with the same id
    assert posts[0][4] == posts[1][4]
    if kind != -1003: assert posts[1][2] - posts[0][2] >= 1.0           # nothing left before Retry-After ran out
    assert any(w > 0 for w in ex.venues["fake"].waits)
    assert fake.position("BTC") == pytest.approx(0.1)


# --- 3. lost answers after placement ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [500, 503, "timeout", "drop"])
def test_3_lost_answers_after_placement_are_resolved_by_client_id(fake, tmp_path, kind):
    bars, tg = session(4); tg[:] = 0.1
    cfg = dict(request_timeout_s=0.5) if kind == "timeout" else {}
    fake.timeout_sleep_s = 1.0
    ex = make_executor(fake.url, tmp_path, bars, tg, **cfg)
    fake.fail("POST", "/api/v3/order", kind, after=True)
    ex.run()
    assert len(fake.orders) == 1                                       # never a second order
    assert len([r for r in fake.requests if r[:2] == ("POST", "/api/v3/order")]) == 1
    o = ex.journal.orders()[0]
    assert o.status is OrderStatus.FILLED and o.filled == pytest.approx(0.1)
    moves = ex.journal.table("transitions").query("client_order_id == @o.client_order_id").to_status.tolist()
    assert moves[:3] == ["pending_new", "submitted", "unknown"]
    assert fake.position("BTC") == pytest.approx(0.1) == ex.position[0]
    assert_books_agree(fake, ex.journal)


def test_3_duplicate_order_answer_is_unknown_then_found(fake, tmp_path):
    bars, tg = session(2)
    ex = make_executor(fake.url, tmp_path, bars, tg); ex.start()
    v = ex.venues["fake"]
    o = Order("dmdup0000001", "fake", SYM, "buy", 0.1)
    v.submit(o)
    from diffmarket.trading.live.orders import VenueUncertain
    with pytest.raises(VenueUncertain, match="uplicate"): v.submit(o)
    assert v.fetch_order(o).status is OrderStatus.FILLED and len(fake.orders) == 1


# --- 4. partial fills ---------------------------------------------------------------------------------------------

def test_4_partial_market_fill_expires_and_the_rest_is_ordered_next_bar(fake, tmp_path):
    bars, tg = session(3); tg[:] = 0.1
    fake.liquidity[SYM] = "0.04"
    ex = make_executor(fake.url, tmp_path, bars, tg)
    ex.run(max_bars=1)
    o = ex.journal.orders()[0]
    assert (o.status, o.filled, o.remaining) == (OrderStatus.EXPIRED, pytest.approx(0.04), pytest.approx(0.06))
    assert ex.position[0] == pytest.approx(0.04)
    del fake.liquidity[SYM]
    ex.run()
    assert ex.position[0] == pytest.approx(0.1) == fake.position("BTC")
    assert_books_agree(fake, ex.journal)


def test_4_partial_limit_fill_then_cancel(fake, tmp_path):
    bars, tg = session(3); tg[:] = 0.1
    fake.set_price(SYM, 101)                               # above the limit (close + 5 bps): the buy rests
    ex = make_executor(fake.url, tmp_path, bars, tg, order_type="limit")
    ex.run(max_bars=1)
    o = ex.journal.orders()[0]
    assert o.status is OrderStatus.ACCEPTED and o.limit_price == pytest.approx(100.05)
    fake.fill_resting(o.client_order_id, "0.03")
    ex.run(max_bars=1)                                     # next bar: refreshed (partial), cancelled, the rest re-ordered
    o = ex.journal.order(o.client_order_id)
    assert (o.status, o.filled) == (OrderStatus.CANCELED, pytest.approx(0.03))
    assert ex.position[0] == pytest.approx(0.03) == fake.position("BTC")
    second = ex.journal.orders()[1]
    assert second.quantity == pytest.approx(0.07) and second.status is OrderStatus.ACCEPTED
    assert_books_agree(fake, ex.journal)


# --- 5. refusals --------------------------------------------------------------------------------------------------

def test_5_precision_min_notional_and_insufficient_funds(fake, tmp_path):
    bars, tg = session(4)
    tg[:, 0] = [0.000001, 0.04, 500.0, 0.0]            # below the step; notional 4 < 5; 50,000 USDT worth; flat
    fake.balances["USDT"] = fake.balances["USDT"] * 0 + 1000
    ex = make_executor(fake.url, tmp_path, bars, tg)
    ex.run()
    ev = ex.journal.table("events")
    lines = ev[ev.kind.isin(["denied", "rejected"])].message.tolist()
    assert len(lines) == 3 and all("\n" not in m for m in lines)
    assert "below the venue's minimum" in lines[0] and "notional 4 is below the venue's minimum 5" in lines[1]
    assert "insufficient funds" in lines[2]
    st = [o.status for o in ex.journal.orders()]
    assert st == [OrderStatus.DENIED, OrderStatus.DENIED, OrderStatus.REJECTED]
    assert fake.orders == {} and ex.journal.fills() == [] and ex.position[0] == 0


# --- 6. stale data ------------------------------------------------------------------------------------------------

def test_6_stale_data_sends_no_orders(fake, tmp_path):
    cfg = LiveConfig(venues={"fake": venue_config(fake.url)}, timeframe="1m", history_bars=5)
    venue = CCXTExchange("fake", cfg.venues["fake"], cfg, require_keys=True)
    m = fake.now_ms() // 60_000 * 60_000
    for k in range(10, 3, -1): fake.push_bar(SYM, m - k * 60_000, 100, 101, 99, 100)      # newest closed bar ended 3 min ago
    feed = CCXTFeed({SYM: venue}, "1m", 5)
    ex = Executor(TargetSeries(np.full((100, 1), 0.1)), feed, venue, Journal(tmp_path / "j.sqlite", "live"), cfg, out_dir=tmp_path)
    ex.run(once=True)
    assert fake.orders == {} and "stale" in ex.journal.table("events").kind.tolist()
    for k in (3, 2, 1): fake.push_bar(SYM, m - k * 60_000, 100, 101, 99, 100)             # data resumes: fresh bars
    ex.run(max_bars=3)
    assert len(fake.orders) == 1 and fake.position("BTC") == pytest.approx(0.1)


# --- 7. clock skew ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("skew", [10_000, -10_000])
def test_7_clock_skew_is_handled(fake, tmp_path, skew):
    fake.skew_ms = skew
    bars, tg = session(4); tg[:2] = 0.1; tg[2:] = 0.2
    ex = make_executor(fake.url, tmp_path, bars, tg)
    ex.run(max_bars=1)
    assert len(fake.orders) == 1
    fake.skew_ms = -skew                                   # the clocks drift apart again mid-session: refused, resynced, resent
    ex.run()
    assert len(fake.orders) == 2 and fake.position("BTC") == pytest.approx(0.2)
    refused = [r for r in fake.requests if r[:2] == ("POST", "/api/v3/order")]
    assert len(refused) == 3 and refused[1][4] == refused[2][4]


def test_7_without_time_adjustment_the_fake_refuses(fake):
    "The fake really checks timestamps: ccxt without adjustForTimeDifference fails at 10 s of skew."
    import ccxt
    fake.skew_ms = 10_000
    v = CCXTExchange("fake", dict(venue_config(fake.url), options={"adjustForTimeDifference": False}))
    v.connect()
    with pytest.raises(ccxt.InvalidNonce, match="recvWindow"): v.ex.fetch_balance()      # ccxt on its own
    assert v.balances()["USDT"] == 1_000_000                   # the adapter resyncs the clock on that refusal and retries


# --- 8. exchange down at start ------------------------------------------------------------------------------------

def test_8_exchange_down_at_start_refuses_to_trade(fake, tmp_path):
    bars, tg = session(3); tg[:] = 0.1
    fake.down = True
    ex = make_executor(fake.url, tmp_path, bars, tg, max_retries=2)
    with pytest.raises(ReconcileError, match="venue fake cannot be reached, not trading.*load_markets failed after 2 attempts"):
        ex.run()
    assert fake.orders == {} and ex.journal.orders() == []


# --- 9. journal disk full -----------------------------------------------------------------------------------------

class DiskFull:
    "A connection whose INSERT INTO orders fails as SQLite fails on a full disk (the notebook shows the real error)."
    def __init__(self, db): self._db = db
    def __getattr__(self, name): return getattr(self._db, name)
    def execute(self, sql, *args):
        import sqlite3
        if sql.startswith("INSERT INTO orders"): raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)


def test_9_journal_disk_full_sends_nothing_and_halts(fake, tmp_path):
    bars, tg = session(3); tg[:] = 0.1
    ex = make_executor(fake.url, tmp_path, bars, tg)
    ex.start()
    ex.journal.db = DiskFull(ex.journal.db)               # SQLite's own SQLITE_FULL error on the intent's insert
    before = len(fake.requests)
    with pytest.raises(JournalError, match="database or disk is full.*nothing was sent; halting"):
        ex.run()
    assert fake.orders == {}
    assert not [r for r in fake.requests[before:] if r[0] == "POST"]
    with pytest.raises(Exception, match="halting"): ex.step()


# --- 10. the key never shows ----------------------------------------------------------------------------------------

def test_10_api_key_never_appears(fake, tmp_path, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("ccxt").setLevel(logging.DEBUG)       # even a user who turns ccxt's DEBUG on: the adapter pins it back
    bars, tg = session(6); tg[:3] = 0.1; tg[3:] = 0.0
    fake.fail("POST", "/api/v3/order", 503, after=True)
    fake.fail("GET", "/api/v3/order", 429, retry_after=0)
    ex = make_executor(fake.url, tmp_path, bars, tg)
    ex.run()
    bad = CCXTExchange("fake", venue_config(fake.url), environ={"DMFAKE_API_KEY": TEST_API_KEY, "DMFAKE_SECRET": "wrong-secret-0000"})
    bad.connect()
    with pytest.raises(Exception) as e: bad.balances()
    texts = [caplog.text, *capfd.readouterr(), str(e.value), repr(ex), repr(bad)]
    texts += [p.read_bytes().decode("utf-8", "replace") for p in tmp_path.rglob("*") if p.is_file()]
    for secret in (TEST_API_KEY, TEST_SECRET):
        assert not any(secret in t for t in texts)
    for path in sorted((ROOT / "nbs").glob("17*_live*.ipynb")):                # the live notebooks' committed outputs
        outputs = json.dumps([c.get("outputs", []) for c in json.loads(path.read_text())["cells"]])
        assert TEST_API_KEY not in outputs and TEST_SECRET not in outputs, path.name


# --- soak ---------------------------------------------------------------------------------------------------------

def soak(fake, tmp_path, trials, n_bars, seed=0):
    "Randomised kill -9 / restart trials over one replayed session; returns (lost, duplicated, trials that killed)."
    rng = np.random.default_rng(seed)
    bars, tg = session(n_bars, seed=seed)
    killed = 0
    for _ in range(trials):
        p = start_driver(fake, tmp_path, bars, tg)
        try: p.wait(timeout=float(rng.uniform(0.6, 2.5)))
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL); p.wait(); killed += 1
    finish(fake, tmp_path, bars, tg)
    j = Journal(tmp_path / "out" / "journal.sqlite", "live", lock=False)
    venue = {str(t["id"]) for t in fake.trades}; mine = {f.trade_id for f in j.fills()}
    lost = len(venue - mine) + len([o for o in j.orders() if not o.status.terminal])
    per_bar = {}
    for o in fake.orders.values(): per_bar[o["clientOrderId"][:-2]] = per_bar.get(o["clientOrderId"][:-2], 0) + 1
    duplicated = sum(c - 1 for c in per_bar.values()) + len(mine - venue)
    assert fake.position("BTC") == pytest.approx(j.positions((SYM,))[0]) == pytest.approx(tg[-1, 0])
    return lost, duplicated, killed


def test_soak_light(fake, tmp_path):
    lost, duplicated, killed = soak(fake, tmp_path, trials=10, n_bars=400)
    assert (lost, duplicated) == (0, 0) and killed >= 1
