"""How long a command takes to start, beside the floor of importing numpy, pandas and matplotlib.

Commands that need no model or network must not pay for torch, diffusers, ray or ccxt: each is run as a fresh
process (the way a user runs it) and timed from start to exit (the paper session for its first bar only: what is
measured is how soon it trades, not the length of the replay), the median of several runs, next to
`python -c "import numpy, pandas, matplotlib.pyplot"` measured in the same loop (alternating, so machine noise hits
both alike). Goal: at most 2x that floor. The table also says whether torch was imported at all.
"""
import os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DATA = ROOT / "data"
RUNS = 7
GOAL = 2.0

def commands(tmp:Path) -> dict:
    from diffmarket.data.loaders import load_bars
    from diffmarket.data.humans import synthetic_trader
    bars = str(DATA / "sp500_daily.csv")
    trades = str(tmp / "trades.csv")                               # a human's trade log on the sample bars
    synthetic_trader(load_bars(bars), "trend", seed=0).to_csv(trades, index=False)
    return {
        "diffmarket-backtest --help": [str(BIN / "diffmarket-backtest"), "--help"],
        "trade-log replay (diffmarket-backtest --trades_path)": [str(BIN / "diffmarket-backtest"), "--market_path", bars,
                                                                "--trades_path", trades],
        "diffmarket-simulate, no checkpoint (100 steps)": [str(BIN / "diffmarket-simulate"), "--num_steps", "100", "--no_figures",
                                                          "--out", str(tmp / "sim")],
        "paper replay of a trade log, first bar (diffmarket-live --max_bars 1)": [
            str(BIN / "diffmarket-live"), "--mode", "paper", "--replay", bars, "--trades_path", trades, "--max_bars", "1",
            "--out", str(tmp / "paper")],
    }

FLOOR = [sys.executable, "-c", "import numpy, pandas, matplotlib.pyplot"]
POLICY_STACK = [sys.executable, "-c", "import diffmarket.policy.learned"]   # torch + diffusers: what every command paid before

def timed(cmd, env) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    dt = time.perf_counter() - t
    if r.returncode != 0: raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.strip()[-500:]}")
    return dt

def loads_torch(cmd, env) -> bool:
    "Does the command import torch? (python -X importtime on the console script's module.)"
    r = subprocess.run([sys.executable, "-X", "importtime", *cmd], capture_output=True, text=True, env=env, cwd=ROOT)
    return any(line.rstrip().endswith("| torch") for line in r.stderr.splitlines())

def main():
    env = dict(os.environ, MPLBACKEND="Agg")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d); cmds = commands(tmp)
        for cmd in cmds.values(): timed(cmd, env)                  # warm the file cache and numba's on-disk cache
        timed(FLOOR, env)
        floor, stack, took = [], [], {k: [] for k in cmds}
        for _ in range(RUNS):
            floor.append(timed(FLOOR, env)); stack.append(timed(POLICY_STACK, env))
            for k, cmd in cmds.items():
                took[k].append(timed(cmd, env))
                if k.startswith("paper"): shutil.rmtree(tmp / "paper")       # a fresh session each time, not a resume
        f = statistics.median(floor)
        rows = [dict(metric="import numpy, pandas, matplotlib.pyplot (the floor)", value=f"{f:.2f} s", goal="-", met=None,
                     note=f"median of {RUNS}")]
        st = statistics.median(stack)
        rows.append(dict(metric="import diffmarket.policy.learned (torch, diffusers): the cost a command avoids", value=f"{st:.2f} s ({st / f:.2f}x)",
                         goal="-", met=None, note="what every command imported first before the lazy imports"))
        for k, cmd in cmds.items():
            t = statistics.median(took[k])
            rows.append(dict(metric=k, value=f"{t:.2f} s ({t / f:.2f}x)", goal=f"<= {GOAL:g}x the floor", met=t / f <= GOAL,
                             peer=f"floor {f:.2f} s",
                             note=f"median of {RUNS}; imports torch: {'yes' if loads_torch(cmd, env) else 'no'}"))
        print_table("Command start-up (fresh processes; ratios to the floor measured in the same loop)", rows)

if __name__ == "__main__":
    main()
