"""Issue 10, data layer: a real user's files (spreadsheet and pandas exports, numeric dates, time zones, symbols
spelt differently, gaps in one symbol) give the right numbers or one DataError that says what to do."""
import warnings
import numpy as np, pandas as pd, pytest
from diffmarket.core import DataError
from diffmarket.config import DataConfig
from diffmarket.data.loaders import (load_bars, load_trades, validate_bars, validate_trades, parse_timestamps,
    normalize_bars, parse_sides, bars_to_panel, position_path, sample_path)
from diffmarket.data.features import make_features, StrategyData, feature_warmup
from diffmarket.data.humans import synthetic_trader

DAYS = ["2004-08-19", "2004-08-20", "2004-08-23", "2004-08-24"]
OHLCV_ROWS = ["100,102,99,101,1000", "101,103,100,102,1100", "102,104,101,103,900", "103,105,102,104,950"]

def write(tmp_path, name, lines):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p

def bars_csv(tmp_path, stamps, name="X.csv", header="timestamp,open,high,low,close,volume", rows=OHLCV_ROWS):
    return write(tmp_path, name, [header] + [f"{s},{r}" for s, r in zip(stamps, rows)])

def trades_csv(tmp_path, rows, name="trades.csv", header="timestamp,symbol,side,quantity,price"):
    return write(tmp_path, name, [header] + rows)

def expected_days(): return pd.DatetimeIndex(DAYS, tz="UTC").as_unit("ns")

# --- 1. numeric timestamps -------------------------------------------------------------------------------------

def test_yyyymmdd_integer_dates(tmp_path):
    b = load_bars(bars_csv(tmp_path, [d.replace("-", "") for d in DAYS]))
    pd.testing.assert_index_equal(pd.DatetimeIndex(b.timestamp), expected_days(), check_names=False)

@pytest.mark.parametrize("unit,mult", [("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9)])
def test_epoch_units_by_magnitude(tmp_path, unit, mult):
    secs = (expected_days().asi8 // 10**9).tolist()
    b = load_bars(bars_csv(tmp_path, [str(s * mult) for s in secs]))
    pd.testing.assert_index_equal(pd.DatetimeIndex(b.timestamp), expected_days(), check_names=False)

def test_parse_timestamps_is_utc_ns():
    for values in (pd.Series(DAYS), pd.to_datetime(pd.Series(DAYS)), pd.DatetimeIndex(DAYS, tz="America/New_York"),
                   np.array([20040819, 20040820, 20040823, 20040824])):
        ts = parse_timestamps(values)
        assert isinstance(ts, pd.DatetimeIndex) and str(ts.tz) == "UTC" and ts.unit == "ns"
    test = parse_timestamps(pd.Series(DAYS))
    pd.testing.assert_index_equal(test, expected_days(), check_names=False)

@pytest.mark.parametrize("stamps,msg", [
    (["99999999999", "99999999999"], "outside 1900"),                  # seconds: the year 5138
    (["0", "1"], "not epoch timestamps"),                             # row numbers
    (["38218", "38219"], "not epoch timestamps"),                     # spreadsheet serial dates
    (["20040819", "20041345"], "not a YYYYMMDD date"),
    (["2204-08-19", "2204-08-20"], "outside 1900"),                    # a typo in the year
])
def test_implausible_timestamps_refused(tmp_path, stamps, msg):
    p = bars_csv(tmp_path, stamps, rows=OHLCV_ROWS[:2])
    with pytest.raises(DataError) as e: load_bars(p)
    s = str(e.value)
    assert msg in s and "column 'timestamp'" in s and "line " in s and "\n" not in s and str(p) in s

def test_epoch_milliseconds_do_not_become_the_year_30978(tmp_path):
    ms = (expected_days().asi8 // 10**6).tolist()
    b = load_bars(bars_csv(tmp_path, [str(v) for v in ms]))
    assert b.timestamp.dt.year.tolist() == [2004] * 4

# --- 4 is in tests/test_metrics.py -------------------------------------------------------------------------------

# --- 6. a symbol with no bar on a date ---------------------------------------------------------------------------

def two_symbols(gap=2, n=120, seed=0):
    "Long bars of A and B on n business days; B has no bar on day `gap` (and on day gap + 30)."
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2020-01-01", periods=n, tz="UTC")
    rows = []
    for s, p0 in (("A", 100.0), ("B", 50.0)):
        c = p0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        o = np.r_[p0, c[:-1]]
        for t in range(n):
            if s == "B" and t in (gap, gap + 30): continue
            rows.append((idx[t], s, o[t], max(o[t], c[t]) * 1.002, min(o[t], c[t]) * 0.998, c[t], 1000.0 + t))
    return pd.DataFrame(rows, columns=["timestamp", "symbol", "open", "high", "low", "close", "volume"])

def test_panel_leaves_a_missing_bar_nan():
    bars = two_symbols()
    index, symbols, ohlcv = bars_to_panel(bars)
    assert symbols == ("A", "B") and len(index) == 120
    assert np.isnan(ohlcv[2, 1]).all() and np.isnan(ohlcv[32, 1]).all()
    assert np.isfinite(ohlcv[:, 0]).all() and np.isfinite(np.delete(ohlcv[:, 1], [2, 32], axis=0)).all()

def test_dataframe_and_panel_paths_agree_on_a_missing_bar():
    "The backtester waits for B's next real open on both paths; neither trades at an invented price."
    from diffmarket.trading.backtest import Panel, run_targets, BacktestConfig
    bars = two_symbols()
    index, symbols, ohlcv = bars_to_panel(bars)
    nan_panel = Panel(index, symbols, ohlcv)
    targets = np.zeros((len(index), 2)); targets[1:, 1] = 10.0          # decided at bar 1's close: buy B at bar 2's open
    cfg = BacktestConfig(fee_bps=0, half_spread_bps=0)
    via_df, via_panel = run_targets(bars, targets, cfg), run_targets(nan_panel, targets, cfg)
    pd.testing.assert_series_equal(via_df.equity, via_panel.equity)
    assert via_df.fills.timestamp.iloc[0] == index[3]                   # B has no bar on day 2: filled on day 3

def test_features_of_a_missing_bar_are_missing():
    bars = two_symbols(gap=80)
    index, symbols, ohlcv = bars_to_panel(bars)
    f = make_features(ohlcv[:, 1], index)
    assert f.iloc[80].isna().all() and f.iloc[110].isna().all()
    own = bars[bars.symbol == "B"]
    g = make_features(own[["open", "high", "low", "close", "volume"]].to_numpy(), parse_timestamps(own.timestamp))
    pd.testing.assert_frame_equal(f.drop(index[[80, 110]]), g, check_freq=False, check_names=False)

def test_synthetic_fills_land_on_real_bars():
    bars = two_symbols(gap=40, n=400)
    log = synthetic_trader(bars, "trend", seed=0, n=10, late_prob=0.0)
    for s in ("A", "B"):
        real = pd.DatetimeIndex(bars.timestamp[bars.symbol == s])
        k = real.searchsorted(pd.DatetimeIndex(log.timestamp[log.symbol == s]), side="right") - 1
        assert ((pd.DatetimeIndex(log.timestamp[log.symbol == s]) - real[k]) < pd.Timedelta(days=1)).all()
    back = validate_trades(log, bars=bars)                             # prices inside their real bars
    assert len(back) == len(log) > 5

def test_strategy_data_with_a_missing_bar():
    bars = two_symbols(gap=100, n=400)
    log = synthetic_trader(bars, "trend", seed=1, n=10)
    sd = StrategyData.build(bars, log)
    O, A = sd.train.tensors()
    assert np.isfinite(O.numpy()).all() and np.isfinite(A.numpy()).all()
    assert len(sd.train) + len(sd.val) + len(sd.test) < 2 * (400 - feature_warmup(DataConfig()) - 4)   # B's gaps left out

# --- 8. float residue and naive timestamps in position_path -------------------------------------------------------

def test_position_path_snaps_float_residue_to_zero():
    bars = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC"), "symbol": "X",
                         "open": 10., "high": 11., "low": 9., "close": 10., "volume": 1.})
    t = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-02 10:00", "2024-01-02 11:00", "2024-01-03 10:00"], utc=True),
                      "symbol": "X", "side": ["buy", "buy", "sell"], "quantity": [0.1, 0.2, 0.3], "price": 10.})
    pp = position_path(t, bars)["X"]
    assert pp.iloc[2] == 0.0 and (pp.iloc[3:] == 0.0).all()
    assert pp.iloc[1] == pytest.approx(0.3)

def test_position_path_reads_naive_timestamps_as_utc():
    bars = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC"), "symbol": "X",
                         "open": 10., "high": 11., "low": 9., "close": 10., "volume": 1.})
    t = pd.DataFrame({"timestamp": ["2024-01-02 15:00", "2024-01-04 10:00"], "symbol": "X", "side": ["B", "S"],
                      "quantity": [2.0, 2.0], "price": 10.})
    assert position_path(t, bars)["X"].tolist() == [0, 2, 2, 0]
    naive_bars = bars.assign(timestamp=bars.timestamp.dt.tz_localize(None))
    assert position_path(t, naive_bars)["X"].tolist() == [0, 2, 2, 0]

# --- 9. time zones -------------------------------------------------------------------------------------------------

def test_offset_daily_bars_are_labelled_by_trading_date(tmp_path):
    bars = load_bars(bars_csv(tmp_path, [f"{d} 00:00:00-04:00" for d in DAYS]))
    pd.testing.assert_index_equal(pd.DatetimeIndex(bars.timestamp), expected_days(), check_names=False)
    for stamp in ("2004-08-19", "2004-08-19T10:30:00-04:00", "2004-08-19T21:00:00-04:00"):
        t = load_trades(trades_csv(tmp_path, [f"{stamp},X,buy,1,101"]), bars=bars)
        assert position_path(t, bars)["X"].tolist() == [1, 1, 1, 1], stamp

def test_positive_offsets_use_the_local_date(tmp_path):
    bars = load_bars(bars_csv(tmp_path, [f"{d}T00:00:00+09:00" for d in DAYS]))
    pd.testing.assert_index_equal(pd.DatetimeIndex(bars.timestamp), expected_days(), check_names=False)
    t = load_trades(trades_csv(tmp_path, ["2004-08-20T08:00:00+09:00,X,buy,1,102"]), bars=bars)
    assert position_path(t, bars)["X"].tolist() == [0, 1, 1, 1]

def test_intraday_offsets_with_a_naive_log_are_refused(tmp_path):
    stamps = pd.date_range("2024-01-02 09:30", periods=4, freq="30min", tz="America/New_York").strftime("%Y-%m-%dT%H:%M:%S%z")
    bars = load_bars(bars_csv(tmp_path, [s[:-2] + ":" + s[-2:] for s in stamps]))
    p = trades_csv(tmp_path, ["2024-01-02 10:05,X,buy,1,101"])
    with pytest.raises(DataError) as e: load_trades(p, bars=bars)
    assert "offset" in str(e.value) and "\n" not in str(e.value)
    ok = load_trades(trades_csv(tmp_path, ["2024-01-02T10:05:00-05:00,X,buy,1,101"]), bars=bars)
    assert position_path(ok, bars)["X"].tolist() == [0, 1, 1, 1]

def test_naive_bars_with_an_offset_log_warn_once(tmp_path):
    bars = load_bars(bars_csv(tmp_path, DAYS))
    p = trades_csv(tmp_path, ["2004-08-19T10:30:00-04:00,X,buy,1,101", "2004-08-20T10:30:00-04:00,X,sell,1,102"])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        load_trades(p, bars=bars)
    msgs = [str(x.message) for x in w]
    assert len(msgs) == 1 and "offset" in msgs[0] and "\n" not in msgs[0]

# --- 13. symbols -----------------------------------------------------------------------------------------------------

def test_symbols_match_case_insensitively(tmp_path):
    bars = load_bars(bars_csv(tmp_path, DAYS, name="eurusd.csv"))
    t = load_trades(trades_csv(tmp_path, ["2004-08-19T15:00:00Z,EURUSD,buy,1,101"]), bars=bars)
    assert set(t.symbol) == {"eurusd"} and position_path(t, bars)["eurusd"].iloc[-1] == 1

def test_one_symbol_each_side_says_what_to_pass(tmp_path):
    bars = load_bars(bars_csv(tmp_path, DAYS, name="EURUSD_H1.csv"))
    with pytest.raises(DataError) as e:
        load_trades(trades_csv(tmp_path, ["2004-08-19T15:00:00Z,EURUSD,buy,1,101"]), bars=bars)
    assert "--symbol EURUSD" in str(e.value)
    named = load_bars(bars_csv(tmp_path, DAYS, name="EURUSD_H1.csv"), symbol="EURUSD")
    assert set(load_trades(trades_csv(tmp_path, ["2004-08-19T15:00:00Z,EURUSD,buy,1,101"]), bars=named).symbol) == {"EURUSD"}

def test_symbol_selects_rows_of_a_multi_symbol_file(tmp_path):
    p = write(tmp_path, "many.csv", ["timestamp,symbol,open,high,low,close,volume"] +
              [f"{d},{s},{r}" for d, r in zip(DAYS, OHLCV_ROWS) for s in ("AAA", "BBB")])
    assert set(load_bars(p, symbol="bbb").symbol) == {"BBB"} and len(load_bars(p, symbol="bbb")) == 4
    with pytest.raises(DataError, match="symbol 'CCC' is not in the file"): load_bars(p, symbol="CCC")

# --- 14. common exports ------------------------------------------------------------------------------------------------

def yahoo_frame():
    idx = pd.DatetimeIndex(DAYS, name="Date")
    v = np.array([[float(x) for x in r.split(",")] for r in OHLCV_ROWS])
    return pd.DataFrame({"Open": v[:, 0], "High": v[:, 1], "Low": v[:, 2], "Close": v[:, 3], "Adj Close": v[:, 3] * 0.9,
                         "Volume": v[:, 4]}, index=idx)

@pytest.mark.parametrize("how", ["named index", "unnamed index", "Date column", "datetime column", "time column"])
def test_pandas_csv_exports(tmp_path, how):
    df = yahoo_frame()
    if how == "unnamed index": df.index.name = None
    if how.endswith("column"):
        df = df.reset_index().rename(columns={"Date": how.split()[0]})
    p = tmp_path / "GOOG.csv"; df.to_csv(p, index=not how.endswith("column"))
    b = load_bars(p)
    pd.testing.assert_index_equal(pd.DatetimeIndex(b.timestamp), expected_days(), check_names=False)
    assert b.close.tolist() == [101, 102, 103, 104] and set(b.symbol) == {"GOOG"}

def test_parquet_with_a_datetime_index(tmp_path):
    p = tmp_path / "GOOG.parquet"; yahoo_frame().to_parquet(p)
    b = load_bars(p)
    pd.testing.assert_index_equal(pd.DatetimeIndex(b.timestamp), expected_days(), check_names=False)

def test_fx_without_volume(tmp_path):
    b = load_bars(bars_csv(tmp_path, DAYS, header="Datetime,Open,High,Low,Close", rows=[r.rsplit(",", 1)[0] for r in OHLCV_ROWS]))
    assert (b.volume == 0).all() and len(b) == 4

def test_date_and_time_columns(tmp_path):
    p = write(tmp_path, "fx.csv", ["Date,Time,Open,High,Low,Close"] +
              [f"2024-01-02,{h:02d}:00,1.1,1.2,1.0,1.15" for h in range(4)])
    assert load_bars(p).timestamp.dt.hour.tolist() == [0, 1, 2, 3]

def test_normalize_bars_is_public_and_names_the_contract():
    n = normalize_bars(yahoo_frame())
    assert list(n.columns)[:6] == ["timestamp", "open", "high", "low", "close", "volume"]
    assert "adj close" not in n.columns
    typed = validate_bars(yahoo_frame(), file="GOOG.csv")
    assert typed.close.tolist() == [101, 102, 103, 104]

# --- 15. sides -----------------------------------------------------------------------------------------------------------

def test_sides_use_one_parser(tmp_path):
    bars = load_bars(bars_csv(tmp_path, DAYS))
    t = load_trades(trades_csv(tmp_path, ["2004-08-19T15:00:00Z,X,B,2,101", "2004-08-20T15:00:00Z,X,short,3,102",
                                          "2004-08-23T15:00:00Z,X,long,1,103", "2004-08-24T15:00:00Z,X,S,0.5,104"]), bars=bars)
    assert t.side.tolist() == ["buy", "sell", "buy", "sell"]
    assert parse_sides(pd.Series(["B", "sell", "Long", -1, 1])).tolist() == [1, -1, 1, -1, 1]
    with pytest.raises(DataError, match="line 3, column 'side': unknown side 'hold'"):
        parse_sides(pd.Series(["buy", "hold"]), file="t.csv")

# --- 16. messages ------------------------------------------------------------------------------------------------------

def test_parquet_errors_name_a_row_and_print_plain_values(tmp_path):
    b = yahoo_frame().reset_index(); b.loc[2, "Close"] = np.nan
    p = tmp_path / "bad.parquet"; b.to_parquet(p)
    with pytest.raises(DataError) as e: load_bars(p)
    s = str(e.value).replace(str(p), "<file>")
    assert s.startswith("<file>, row 2") and "line" not in s and "np.float64" not in s and "nan" in s and "column 'close'" in s

def test_values_print_plainly():
    frame = pd.DataFrame({"timestamp": DAYS[:2], "open": [1.0, np.nan], "high": 3.0, "low": 0.5, "close": 1.0, "volume": 1.0})
    with pytest.raises(DataError) as e: validate_bars(frame, file="b.csv")
    assert str(e.value) == "b.csv, line 3, column 'open': not a finite number: nan"

def test_no_position_before_the_split_is_a_clear_error():
    bars = load_bars(sample_path("sp500_daily.csv"))
    spx = bars[bars.timestamp >= "2015-01-01"].reset_index(drop=True)
    late = spx.timestamp.iloc[-30]
    log = pd.DataFrame({"timestamp": [late + pd.Timedelta(hours=15), late + pd.Timedelta(days=7, hours=15)], "symbol": "SPX",
                        "side": ["buy", "sell"], "quantity": 1.0, "price": [spx.close.iloc[-30], spx.close.iloc[-25]]})
    with pytest.raises(DataError) as e: StrategyData.build(spx, log)
    assert "holds no position before" in str(e.value) and "longer history" in str(e.value)
