"""Every bad-input case of the data contracts, written to disk as a user would have it: one DataError that names
the file, the line and the column where that makes sense."""
import pandas as pd, numpy as np, pytest
from diffmarket.core import DataError
from diffmarket.data.loaders import load_bars, load_trades, sample_path, position_path
from diffmarket.data.humans import synthetic_trader, STYLES

BARS_HEADER = "timestamp,symbol,open,high,low,close,volume"
GOOD_BARS = ["2024-01-02,X,10,11,9,10.5,100", "2024-01-03,X,10.5,11.5,10,11,120", "2024-01-04,X,11,12,10.5,11.5,90"]
TRADES_HEADER = "timestamp,symbol,side,quantity,price"
GOOD_TRADES = ["2024-01-02T15:00:00Z,X,buy,1,10.2", "2024-01-04T15:00:00Z,X,sell,1,11.2"]

def write(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return p

def bars_file(tmp_path, rows=GOOD_BARS, header=BARS_HEADER, name="bars.csv"):
    return write(tmp_path, name, "\n".join([header] + rows) + "\n")

def trades_file(tmp_path, rows=GOOD_TRADES, header=TRADES_HEADER):
    return write(tmp_path, "trades.csv", "\n".join([header] + rows) + "\n")

BAR_CASES = {
    "missing column": (dict(header="timestamp,symbol,open,high,low,volume", rows=[r.rsplit(",", 2)[0] + "," + r.rsplit(",", 1)[1] for r in GOOD_BARS]),
                       "line 1: missing column 'close'"),
    "header short of the rows": (dict(header="timestamp,symbol,open,high,low,close"), "line 2: the header names 6 columns but the rows hold 7 fields"),
    "misspelt column": (dict(header="timestamp,symbol,open,high,low,clsoe,volume"), "'close' (found 'clsoe': misspelt?)"),
    "unparsable timestamp": (dict(rows=["2024-13-45,X,10,11,9,10.5,100"] + GOOD_BARS[1:]), "line 2, column 'timestamp': unparsable timestamp"),
    "unsorted": (dict(rows=[GOOD_BARS[1], GOOD_BARS[0], GOOD_BARS[2]]), "line 3, column 'timestamp': timestamps not in ascending order"),
    "duplicated": (dict(rows=[GOOD_BARS[0], GOOD_BARS[0]]), "line 3, column 'timestamp': duplicate timestamp"),
    "nan price": (dict(rows=[GOOD_BARS[0], "2024-01-03,X,10.5,11.5,10,NaN,120"]), "line 3, column 'close': not a finite number"),
    "inf price": (dict(rows=[GOOD_BARS[0], "2024-01-03,X,10.5,inf,10,11,120"]), "line 3, column 'high': not a finite number"),
    "negative price": (dict(rows=[GOOD_BARS[0], "2024-01-03,X,-10.5,11.5,10,11,120"]), "line 3, column 'open': must be > 0"),
    "text price": (dict(rows=[GOOD_BARS[0], "2024-01-03,X,ten,11.5,10,11,120"]), "line 3, column 'open': not a finite number: 'ten'"),
    "high below low": (dict(rows=[GOOD_BARS[0], "2024-01-03,X,10.5,9,10,9.5,120"]), "line 3, column 'high': high is below low"),
    "negative volume": (dict(rows=[GOOD_BARS[0], "2024-01-03,X,10.5,11.5,10,11,-1"]), "line 3, column 'volume': must be >= 0"),
    "empty rows": (dict(rows=[]), "header but no rows"),
    "blank line": (dict(rows=[GOOD_BARS[0], "", GOOD_BARS[1]]), "line 3: blank line"),
}

@pytest.mark.parametrize("case", list(BAR_CASES))
def test_bad_bars(tmp_path, case):
    kw, msg = BAR_CASES[case]
    p = bars_file(tmp_path, **kw)
    with pytest.raises(DataError) as e: load_bars(p)
    assert msg in str(e.value) and str(p) in str(e.value)

def test_empty_file(tmp_path):
    with pytest.raises(DataError, match="file is empty"): load_bars(write(tmp_path, "e.csv", ""))

def test_wrong_delimiter(tmp_path):
    p = write(tmp_path, "semi.csv", BARS_HEADER.replace(",", ";") + "\n" + GOOD_BARS[0].replace(",", ";") + "\n")
    with pytest.raises(DataError, match="line 1: wrong delimiter: the header is separated by semicolons"): load_bars(p)

def test_non_utf8(tmp_path):
    p = write(tmp_path, "latin.csv", (BARS_HEADER + "\n" + GOOD_BARS[0] + "\n2024-01-03,Zürich,10.5,11.5,10,11,120\n").encode("latin-1"))
    with pytest.raises(DataError, match="line 3: not UTF-8 text"): load_bars(p)

def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"): load_bars(tmp_path / "nope.csv")

def test_epoch_seconds_and_parquet(tmp_path):
    ts = pd.Timestamp("2024-01-02", tz="UTC").timestamp()
    p = bars_file(tmp_path, rows=[f"{int(ts)},X,10,11,9,10.5,100", f"{int(ts) + 86400},X,10.5,11.5,10,11,120"])
    b = load_bars(p)
    assert b.timestamp[0] == pd.Timestamp("2024-01-02", tz="UTC")
    q = tmp_path / "bars.parquet"; b.to_parquet(q)
    pd.testing.assert_frame_equal(load_bars(q), b)

def test_missing_symbol_column_uses_name(tmp_path):
    p = bars_file(tmp_path, rows=[r.replace(",X,", ",") for r in GOOD_BARS], header="timestamp,open,high,low,close,volume", name="ABC.csv")
    assert set(load_bars(p).symbol) == {"ABC"}
    assert set(load_bars(p, symbol="Q").symbol) == {"Q"}

TRADE_CASES = {
    "zero quantity": (["2024-01-02T15:00:00Z,X,buy,0,10.2"], "line 2, column 'quantity': must be > 0"),
    "negative quantity": (["2024-01-02T15:00:00Z,X,buy,-2,10.2"], "line 2, column 'quantity': must be > 0"),
    "unknown side": (["2024-01-02T15:00:00Z,X,hold,1,10.2"], "line 2, column 'side': unknown side 'hold'"),
    "unknown symbol": (["2024-01-02T15:00:00Z,Y,buy,1,10.2"], "line 2, column 'symbol': symbol 'Y' is not in the bars"),
    "before bars": (["2023-12-29T15:00:00Z,X,buy,1,10.2"], "line 2, column 'timestamp': fill at 2023-12-29 15:00:00+00:00 lies outside"),
    "after bars": (["2024-01-09T15:00:00Z,X,buy,1,10.2"], "lies outside the bars' time range"),
    "price far outside": ([GOOD_TRADES[0], "2024-01-03T15:00:00Z,X,sell,1,110"], "line 3, column 'price': price 110 is far outside"),
    "unsorted": ([GOOD_TRADES[1], GOOD_TRADES[0]], "line 3, column 'timestamp': trades not in time order"),
    "bad timestamp": (["tomorrow,X,buy,1,10.2"], "line 2, column 'timestamp': unparsable timestamp"),
}

@pytest.mark.parametrize("case", list(TRADE_CASES))
def test_bad_trades(tmp_path, case):
    rows, msg = TRADE_CASES[case]
    bars = load_bars(bars_file(tmp_path))
    p = trades_file(tmp_path, rows)
    with pytest.raises(DataError) as e: load_trades(p, bars=bars)
    assert msg in str(e.value) and str(p) in str(e.value)

def test_sides_any_case_and_optional_fee(tmp_path):
    bars = load_bars(bars_file(tmp_path))
    p = write(tmp_path, "t.csv", "timestamp,symbol,side,quantity,price,fee\n2024-01-02T15:00:00Z,X,BUY,2,10.2,0.1\n2024-01-03T15:00:00Z,X,Sell,2,11,0.1\n")
    t = load_trades(p, bars=bars)
    assert list(t.side) == ["buy", "sell"] and t.fee.sum() == pytest.approx(0.2)
    assert position_path(t, bars)["X"].tolist() == [2, 0, 0]

@pytest.mark.parametrize("style", STYLES)
def test_synthetic_logs_round_trip_through_csv(tmp_path, style):
    bars = load_bars(sample_path("synthetic_intraday.csv")).iloc[:3000].reset_index(drop=True)
    log = synthetic_trader(bars, style, seed=3)
    p = tmp_path / "human.csv"; log.to_csv(p, index=False)
    back = load_trades(p, bars=bars)
    assert len(back) == len(log) > 10
    assert np.allclose(position_path(back, bars).values, position_path(log, bars).values)

def test_loading_data_does_not_import_torch():
    "Validating and replaying trade logs needs no deep-learning stack: torch loads only when tensors are made."
    import subprocess, sys
    code = "import sys, diffmarket.data, diffmarket.trading.backtest; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_sample_data_is_found_from_any_working_directory(tmp_path):
    "The shipped samples are found beside the package, not only above the working directory (a notebook copied elsewhere)."
    import subprocess, sys
    from pathlib import Path
    code = "from diffmarket.data.loaders import sample_path; print(sample_path('sp500_daily.csv'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert out.endswith("sp500_daily.csv") and Path(out).exists(), out
