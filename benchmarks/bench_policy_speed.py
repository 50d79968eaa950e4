"""Diffusion policy speed on CPU: single-decision latency, batched throughput and default training wall time.

Latency: one observation, K = model.num_samples samples batched in one pass per denoising step, default sampler,
steps and horizon, three position levels diffused as channels (a long/flat/short human), torch.set_num_threads(1);
p50 and p99 over many decisions. The plain path (the UNet's own forward and diffusers' scheduler.step every step)
is measured in the same run, interleaved, so the ratio holds on shared cores.
Throughput: decisions/s at batch 256 (256·K sequences) with 2 threads, and with 1 thread as a note.
Training: wall time of diffmarket.policy.train.Trainer with the default config on the shipped S&P 500 daily bars (2008 on)
and a synthetic 'trend' human. Peer: the MSE behaviour-cloning baseline.

Usage: python benchmarks/bench_policy_speed.py [--decisions 200] [--no-train]
"""
import argparse, sys, time, warnings
from pathlib import Path
import numpy as np
import torch

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table
from diffmarket.config import load_config, DataConfig, ModelConfig
from diffmarket.policy.diffusion import make_model, torch_threads



def n_features(cfg=None) -> int:
    "Columns make_features gives with the default DataConfig (the width a trained default policy sees)."
    import pandas as pd
    from diffmarket.data.features import make_features
    return make_features(np.ones((4, 5)), pd.date_range("2020-01-01", periods=4), cfg=cfg or DataConfig()).shape[1]


def latency(model, obs, n, **kw):
    "Per-decision seconds of model.sample over n seeds (after warm-up)."
    for i in range(5): model.sample(obs, seed=i, **kw)
    out = []
    for i in range(n):
        t0 = time.perf_counter(); model.sample(obs, seed=i, **kw); out.append(time.perf_counter() - t0)
    return np.array(out)


def throughput(model, obs, threads, reps=3, **kw):
    "Decisions per second sampling the whole batch `obs` on `threads` threads (best of `reps`)."
    with torch_threads(threads):
        model.sample(obs, seed=0, **kw)
        best = min(_timed(lambda: model.sample(obs, seed=i, **kw)) for i in range(reps))
    return len(obs) / best


def _timed(f):
    t0 = time.perf_counter(); f(); return time.perf_counter() - t0


def train_time():
    "Seconds to fit the default diffusion config (and the MSE baseline) on S&P 500 daily 2008+ with a 'trend' human."
    from diffmarket.data.loaders import load_bars, sample_path
    from diffmarket.data.humans import synthetic_trader
    from diffmarket.data.features import StrategyData
    from diffmarket.policy.train import Trainer
    bars = load_bars(sample_path("sp500_daily.csv"))
    spx = bars[bars.timestamp >= "2008-01-01"].reset_index(drop=True)
    sd = StrategyData.build(spx, synthetic_trader(spx, "trend", seed=0))
    out = {}
    for kind in ("diffusion", "mse"):
        t0 = time.perf_counter()
        tr = Trainer(sd, load_config(overrides={"model": {"kind": kind}}), progress=False); tr.fit()
        out[kind] = (time.perf_counter() - t0, tr.epoch)
    return out


def backtest_overhead(reps=3):
    """A diffusion policy trading held-out bars through the backtester: ms per bar against the ms of the model's own
    sampling on the same observations (features, bookkeeping and the event loop are the difference)."""
    from diffmarket.data.loaders import load_bars, sample_path
    from diffmarket.data.humans import synthetic_trader
    from diffmarket.data.features import StrategyData
    from diffmarket.policy.train import Trainer
    from diffmarket.policy.learned import DiffusionPolicy
    from diffmarket.trading.backtest import Backtest
    bars = load_bars(sample_path("sp500_daily.csv"))
    spx = bars[bars.timestamp >= "2012-01-01"].reset_index(drop=True)
    sd = StrategyData.build(spx, synthetic_trader(spx, "trend", seed=0))
    tr = Trainer(sd, load_config(overrides={"training": {"epochs": 2}}), progress=False); tr.fit()
    pol = DiffusionPolicy(tr.best_model(), tr.meta)
    obs = torch.from_numpy(sd.test.tensors()[0].numpy()[:1])
    per_bar, per_sample = [], []
    with torch_threads(1):
        for _ in range(reps):                                       # interleaved on shared cores
            t0 = time.perf_counter(); r = Backtest(spx, pol, start=sd.split_times[1]).run(); per_bar.append((time.perf_counter() - t0) / len(r.equity))
            per_sample.append(np.median(latency(pol.model, obs, len(r.equity) // 2, num_samples=pol.num_samples)))
    return 1e3 * min(per_bar), 1e3 * min(per_sample), len(r.equity)


def main(a):
    cfg, dcfg = ModelConfig(), DataConfig()
    K = cfg.num_samples
    torch.manual_seed(0)
    nf = n_features(dcfg)
    lv = [-1.0, 0.0, 1.0]                                    # a trend human's levels: the default level channels
    model = make_model(cfg, dcfg, nf, levels=lv).eval()
    mse = make_model(ModelConfig(kind="mse"), dcfg, nf, levels=lv).eval()
    obs = torch.randn(1, dcfg.n_obs_steps, nf)
    with torch_threads(1):
        fast, plain = [], []
        for _ in range(4):                                   # interleave so both see the same load on shared cores
            fast.append(latency(model, obs, a.decisions // 4)); plain.append(latency(model, obs, a.decisions // 4, fast=False))
        fast, plain = np.concatenate(fast) * 1e3, np.concatenate(plain) * 1e3
        mlat = latency(mse, obs, a.decisions) * 1e3
        model.set_sampler(cfg.sampler, 10); lat10 = latency(model, obs, a.decisions // 2) * 1e3
        model.set_sampler(cfg.sampler, cfg.num_inference_steps)
        ok = torch.allclose(model.sample(obs, seed=0), model.sample(obs, seed=0, fast=False), atol=1e-4)
    big = torch.randn(256, dcfg.n_obs_steps, nf)
    dps2, dps1 = throughput(model, big, 2), throughput(model, big, 1)
    dps2_plain, dps1_plain = throughput(model, big, 2, reps=1, fast=False), throughput(model, big, 1, reps=1, fast=False)
    mdps = throughput(mse, big, 2)
    p50, p99 = np.percentile(fast, 50), np.percentile(fast, 99)
    desc = f"K={K}, {cfg.sampler} {cfg.num_inference_steps} steps, down_dims {cfg.down_dims}, {dcfg.horizon}-bar plans, 3 level channels"
    rows = [dict(metric="single-decision latency p50 (1 thread)", value=f"{p50:.1f} ms", goal="<= 10 ms", met=bool(p50 <= 10),
                 peer=f"MSE {np.percentile(mlat, 50):.2f} ms",
                 note=f"{desc}; plain path {np.percentile(plain, 50):.1f} ms; 10 steps {np.percentile(lat10, 50):.1f} ms; same samples: {ok}"),
            dict(metric="single-decision latency p99 (1 thread)", value=f"{p99:.1f} ms", goal="-", met=None,
                 peer=f"MSE {np.percentile(mlat, 99):.2f} ms", note=f"plain path {np.percentile(plain, 99):.1f} ms; {len(fast)} decisions"),
            dict(metric="decisions/s at batch 256 (2 threads)", value=f"{dps2:.0f}", goal=">= 1000", met=bool(dps2 >= 1000),
                 peer=f"MSE {mdps:.0f}/s", note=f"K={K} samples each; 1 thread: {dps1:.0f}/s; plain path: {dps2_plain:.0f}/s (1 thread {dps1_plain:.0f}/s)")]
    bt_ms, smp_ms, nb = backtest_overhead()
    rows.append(dict(metric="diffusion backtest: ms per bar / ms of its sampling", value=f"{bt_ms / smp_ms:.2f}x", goal="<= 1.5x",
                     met=bool(bt_ms / smp_ms <= 1.5), peer="-",
                     note=f"{bt_ms:.2f} ms per bar (features, records, event loop, sampling) vs {smp_ms:.2f} ms sampling; {nb} held-out S&P 500 bars"))
    if not a.no_train:
        with torch_threads(2):
            tt = train_time()
        (td, ed), (tm, em) = tt["diffusion"], tt["mse"]
        rows.append(dict(metric="training wall time (default config)", value=f"{td:.0f} s", goal="<= 600 s", met=bool(td <= 600),
                         peer=f"MSE {tm:.0f} s", note=f"{ed} epochs (MSE {em}); training.num_threads threads; S&P 500 2008+, 'trend' human"))
    print_table("Diffusion policy speed (CPU)", rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--decisions", type=int, default=200, help="decisions timed for the latency percentiles")
    ap.add_argument("--no-train", action="store_true", help="skip the training wall-time run")
    main(ap.parse_args())
