"""Diffusion policy imitation quality on held-out bars, beside the gradient-boosted-tree reference and the human.

Quality: six synthetic humans (diffmarket.data.humans.synthetic_trader) are imitated, each on the bars it suits:
trend, mean_reversion, discretionary (one or two lots at random on entry: the multimodal style) and stops
(stop-loss and take-profit relative to its entry price: path-dependent) on the shipped S&P 500 daily bars
from 2008; session (a day trader with session effects) on the shipped synthetic 5-minute bars; and two_symbols
(mean reversion on S&P 500 and NASDAQ at once, each in its own lots). Each diffusion policy is trained with
several seeds on the first 60% of the decision bars (the next 20% validate) and backtested closed loop on the
last 20%, which no model saw. Rows, each with its goal from issue 16:

- position agreement (>= 0.95 on the deterministic styles, and at most 0.01 below the trees), beside
  gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier on the same last-bar features, trading
  through the same policy loop) and beside "another draw of the human": the same style with another seed
  (other hesitations and fills), the agreement the human's own noise leaves to any imitator;
- per-bar PnL correlation (>= 0.95);
- Sharpe ratio of the policy over the human's (0.9-1.1; judged where the human's Sharpe is at least 0.3:
  near zero or below the ratio is meaningless and the difference is shown);
- Sharpe spread across training seeds (<= 0.1, or the sampling-noise floor if larger: the spread of one
  trained model run with three policy seeds; both printed);
- discretionary: the share of two-lot entries among the policy's own closed-loop entries vs the human's (within
  5 percentage points), and among samples at the human's entry bars (teacher-forced).

Both run through the same backtester and costs. Policies execute with the default choice ('consensus').
`--quick`: 2 seeds, 40 epochs (development; the numbers are lower than the full run's). `--mse` adds the MSE
behaviour-cloning baseline; `--select replay` chooses each model's checkpoint by replaying it on the
validation bars (closed-loop model selection, diffmarket.policy.learned.select_by_replay); `--ensemble` adds the
ensemble of the trained seeds. Speed (latency, throughput, training time) is bench_policy_speed.py.

The seeds train ahead in `--jobs` worker processes (2 by default, the machine's cores) while the parent process
backtests the models already trained. Runtime on 2 shared cores: see the table's title (the latest is quoted in
nbs/21_train.ipynb); most of it is the session case's 5-minute bars (three times the daily windows).

Usage: python benchmarks/bench_policy.py [--quick] [--seeds 3] [--epochs N] [--styles trend,stops] [--mse]
       [--select replay] [--ensemble] [--compare probability] [--choice C] [--set training.switch_weight=1]
"""
import argparse, sys, time, warnings
from pathlib import Path
import numpy as np
import pandas as pd
import torch

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table
from diffmarket.config import load_config
from diffmarket.data.loaders import load_bars, sample_path, position_path
from diffmarket.data.humans import synthetic_trader
from diffmarket.data.features import StrategyData
from diffmarket.policy.train import Trainer
from diffmarket.policy.learned import DiffusionPolicy
from diffmarket.policy.imitation import imitation_report, human_targets
from diffmarket.trading.backtest import Backtest
from diffmarket.trading.backtest import TargetSeries

GOAL_AGREE, GOAL_CORR, GOAL_SHARPE, GOAL_SHARE, GOAL_SPREAD, MIN_HUMAN_SHARPE = 0.95, 0.95, (0.9, 1.1), 0.05, 0.1, 0.3


def market(name):
    "The bars a case trades: 'spx' (S&P 500 daily from 2008), 'intraday' (synthetic 5-minute), 'spx+ixic' (both indices daily from 2008)."
    if name == "intraday": return load_bars(sample_path("synthetic_intraday.csv"))
    spx = load_bars(sample_path("sp500_daily.csv")); spx = spx[spx.timestamp >= "2008-01-01"]
    if name == "spx": return spx.reset_index(drop=True)
    nq = load_bars(sample_path("nasdaq_daily.csv")); nq = nq[nq.timestamp >= "2008-01-01"]
    return pd.concat([spx, nq]).sort_values(["timestamp", "symbol"]).reset_index(drop=True)

CASES = {"trend": ("spx", "trend"), "mean_reversion": ("spx", "mean_reversion"), "discretionary": ("spx", "discretionary"),
         "stops": ("spx", "stops"), "session": ("intraday", "session"), "two_symbols": ("spx+ixic", "mean_reversion")}


def entry_share(positions):
    "Share of two-lot entries among the entries (flat -> non-zero) of a position path, and their number."
    p = np.asarray(positions, dtype=float).reshape(-1); prev = np.concatenate([[0.0], p[:-1]])
    e = np.abs(p[(np.abs(prev) < 1e-9) & (np.abs(p) > 1e-9)])
    return (float((e > 1.5 * e.min()).mean()) if len(e) else float("nan")), len(e)


class TreePolicy(DiffusionPolicy):
    "The policy's own features and loop, with the decision taken by a classifier on the last bar's features."
    def __init__(self, clf, levels, *a, **kw):
        super().__init__(*a, **kw); self.clf, self.lv = clf, np.asarray(levels)
    def _plan_from(self, feats, current=None):
        self.last_confidence = 1.0
        pick = self.lv[self.clf.predict(feats[:, -1])]
        return (pick * self._plan_scales(len(pick)))[None]


def tree_policy(model, meta, sd):
    "Gradient-boosted trees (scikit-learn) on the same last-bar features, trading through the policy loop."
    from sklearn.ensemble import HistGradientBoostingClassifier
    ds = sd.train
    nxt = ds.actions[ds.t + 1, 0]                            # the human's next target at each training decision bar
    lv = np.unique(np.round(nxt, 6))
    y = np.abs(nxt[:, None] - lv[None]).argmin(1)
    clf = HistGradientBoostingClassifier(random_state=0).fit(ds.features[ds.t], y)
    return TreePolicy(clf, lv, model, meta, seed=0)


def run(policy, bars, human, sd):
    "Closed loop on the test bars: (imitation report, backtest result)."
    bt = Backtest(bars, policy, start=sd.split_times[1]).run()
    return imitation_report(bt, human, bars), bt


def replica(bars, style, human, sd):
    "Another draw of the same human (seed 1: other hesitations, fills, sizes) against the human: what its own noise leaves."
    other = synthetic_trader(bars, style, seed=1)
    return imitation_report(Backtest(bars, TargetSeries(human_targets(other, bars)), start=sd.split_times[1]).run(), human, bars)


@torch.no_grad()
def sample_share(model, sd, K=64):
    "Share of two-lot plans among K samples at the human's test entry bars (teacher-forced), and the number of entry bars."
    obs, act = sd.test.tensors()
    k = sd.feature_names.index("position")
    pos_now = obs[:, -1, k] * sd.normalizer.std[k] + sd.normalizer.mean[k]
    entry = (pos_now.abs() < 0.25) & (act[:, 0, 0].abs() > 0.25)
    s = model.sample(obs[entry], num_samples=K, seed=0)[:, :, 0, 0].abs().flatten()
    s = s[s > 0.25]
    return (float((s > 0.75).float().mean()) if len(s) else float("nan")), int(entry.sum())


def fmt_goal_agree(tree): return f">= {GOAL_AGREE:.2f} and >= trees - 0.01 ({tree - 0.01:.3f})"


def case_rows(name, style, d, tree, rep, floor, args, extra=None):
    "The table rows of one case from the per-seed reports `d`, the trees' report, the human replica's and the sampling floor."
    deterministic = style != "discretionary"
    avg = lambda k: float(np.nanmean([r[k] for r in d]))
    ag, corr = avg("position_agreement"), avg("pnl_correlation")
    hs, ps = d[0]["human_sharpe"], avg("policy_sharpe")
    spread = float(np.ptp([r["policy_sharpe"] for r in d])) if len(d) > 1 else float("nan")
    seeds = f"{len(d)} seeds"
    rows = [dict(metric=f"{name}: position agreement", value=f"{ag:.3f}",
                 goal=fmt_goal_agree(tree["position_agreement"]) if deterministic else "-",
                 met=bool(ag >= GOAL_AGREE and ag >= tree["position_agreement"] - 0.01) if deterministic else None,
                 peer=f"trees {tree['position_agreement']:.3f}",
                 note=f"mean of {seeds} (min {min(r['position_agreement'] for r in d):.3f}); another draw of the human "
                      f"{rep['position_agreement']:.3f}" + (extra.get("agree", "") if extra else "")),
            dict(metric=f"{name}: per-bar PnL correlation", value=f"{corr:.3f}", goal=f">= {GOAL_CORR:.2f}" if deterministic else "-",
                 met=bool(corr >= GOAL_CORR) if deterministic else None, peer=f"trees {tree['pnl_correlation']:.3f}",
                 note=f"min {min(r['pnl_correlation'] for r in d):.3f}; another draw of the human {rep['pnl_correlation']:.3f}")]
    judged = hs >= MIN_HUMAN_SHARPE
    each = ", ".join(f"{r['policy_sharpe']:.2f}" for r in d)
    ratio = ps / hs
    rows.append(dict(metric=f"{name}: Sharpe policy / human", value=f"{ratio:.2f}",
                     goal=f"{GOAL_SHARPE[0]:.1f}-{GOAL_SHARPE[1]:.1f}" if judged else f"n/a (human Sharpe < {MIN_HUMAN_SHARPE})",
                     met=bool(GOAL_SHARPE[0] <= ratio <= GOAL_SHARPE[1]) if judged else None,
                     peer=f"trees {tree['policy_sharpe'] / hs:.2f}",
                     note=f"human {hs:.2f}, policy {ps:.2f} (seeds {each}); "
                          f"policy - human {ps - hs:+.2f}" + (f"; {extra['best_trade']}" if extra and "best_trade" in extra else "")))
    bound = max(GOAL_SPREAD, floor)
    rows.append(dict(metric=f"{name}: Sharpe spread across seeds", value=f"{spread:.2f}",
                     goal=f"<= max(0.10, floor {floor:.2f}) = {bound:.2f}", met=bool(spread <= bound) if len(d) > 1 else None,
                     peer=f"floor {floor:.2f}", note=f"max - min over {seeds}; floor: one trained model (seed 0), 3 policy seeds"))
    return rows


def approach_row(name, what, reps, floor, tree):
    "One row of the approaches table: mean agreement, PnL correlation, Sharpe ratio to the human, spread and its floor."
    avg = lambda k: float(np.nanmean([r[k] for r in reps]))
    hs = reps[0]["human_sharpe"]
    spread = f"spread {np.ptp([r['policy_sharpe'] for r in reps]):.2f}, floor {floor:.2f}" if len(reps) > 1 else "one policy"
    return dict(metric=f"{name}: {what}", value=f"{avg('position_agreement'):.3f}", goal=fmt_goal_agree(tree["position_agreement"]),
                met=bool(avg("position_agreement") >= GOAL_AGREE and avg("position_agreement") >= tree["position_agreement"] - 0.01),
                peer=f"trees {tree['position_agreement']:.3f}",
                note=f"pnl corr {avg('pnl_correlation'):.3f}, Sharpe / human {avg('policy_sharpe') / hs:.2f} (human {hs:.2f}), {spread}")


def case_data(name):
    "(bars, human, StrategyData) of a case."
    where, style = CASES[name]
    bars = market(where)
    human = synthetic_trader(bars, style, seed=0)
    return bars, human, StrategyData.build(bars, human)


def fit_one(job):
    "Train one (case, seed) in a worker process: the chosen model, its metadata, epochs, how it was chosen, seconds."
    name, seed, over, select_mode, choice = job
    torch.set_num_threads(1)
    bars, human, sd = case_data(name)
    cfg = load_config(overrides={**over, "training": {**over.get("training", {}), "seed": seed}})
    t0 = time.perf_counter()
    tr = Trainer(sd, cfg, progress=False); tr.fit()
    model, how = select(tr, bars, human, choice) if select_mode == "replay" else (tr.best_model(), "val loss")
    return dict(model=model, meta=tr.meta, epoch=tr.epoch, how=how, seconds=time.perf_counter() - t0)


def quality(args):
    t_start = time.perf_counter()
    over = {"training": {}}
    for kv in args.set:                                        # --set section.key=value (YAML value)
        import yaml
        key, _, val = kv.partition("="); sec, _, k = key.partition(".")
        over.setdefault(sec, {})[k] = yaml.safe_load(val)
    if args.epochs: over["training"]["epochs"] = args.epochs
    rows, approaches = [], []
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context
    pool = ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn"))          # training runs ahead in the workers
    import atexit; atexit.register(pool.shutdown, wait=False, cancel_futures=True)   # a failing case does not wait for the rest
    jobs = {(n, s): pool.submit(fit_one, (n, s, over, args.select, args.choice)) for n in args.styles for s in range(args.seeds)}
    for name in args.styles:
        t_case = time.perf_counter()
        style = CASES[name][1]
        bars, human, sd = case_data(name)
        rep = replica(bars, style, human, sd)
        ht = Backtest(bars, TargetSeries(human_targets(human, bars)), start=sd.split_times[1]).run().trades
        best = f"the human's best test trade makes {ht.pnl.max() / ht.pnl.sum():.0%} of its net PnL ({len(ht)} trades)" if len(ht) and ht.pnl.sum() > 0 else f"{len(ht)} human trades"
        d, pols, extra, alt = [], [], {"best_trade": best}, []
        for seed in range(args.seeds):
            fit = jobs[(name, seed)].result()
            model, how, meta = fit["model"], fit["how"], fit["meta"]
            pol = DiffusionPolicy(model, meta, seed=seed, choice=args.choice); pols.append(pol)
            r, bt = run(pol, bars, human, sd)
            r["two_lot_share"], r["entries"] = entry_share(bt.positions.values)
            d.append(r)
            if args.compare:
                alt.append(run(DiffusionPolicy(model, meta, seed=seed, choice=args.compare), bars, human, sd)[0])
                if seed == 0: alt_noise = [alt[0]["policy_sharpe"]] + [run(DiffusionPolicy(model, meta, seed=s, choice=args.compare), bars, human, sd)[0]["policy_sharpe"] for s in (1, 2)]
                print(f"  {name:14s} seed {seed}, choice {args.compare}: agreement {alt[-1]['position_agreement']:.3f}  pnl corr {alt[-1]['pnl_correlation']:.3f}  sharpe {alt[-1]['policy_sharpe']:.2f}", flush=True)
            if seed == 0:
                tree, tbt = run(tree_policy(model, meta, sd), bars, human, sd)
                extra["tree_share"] = entry_share(tbt.positions.values)[0]
                noise = [r["policy_sharpe"]] + [run(DiffusionPolicy(model, meta, seed=s, choice=args.choice), bars, human, sd)[0]["policy_sharpe"] for s in (1, 2)]
                if style == "discretionary": extra["samples"] = sample_share(model, sd)
            print(f"  {name:14s} seed {seed}: epochs {fit['epoch']:3d} ({how}, {fit['seconds']:.0f}s)  agreement {r['position_agreement']:.3f}  "
                  f"pnl corr {r['pnl_correlation']:.3f}  sharpe {r['policy_sharpe']:.2f} (human {r['human_sharpe']:.2f})"
                  + (f"  two-lot share of {r['entries']} entries {r['two_lot_share']:.2f}" if style == "discretionary" else ""), flush=True)
        print(f"  {name:14s} trees: agreement {tree['position_agreement']:.3f}  pnl corr {tree['pnl_correlation']:.3f}  "
              f"sharpe {tree['policy_sharpe']:.2f}; another draw of the human: agreement {rep['position_agreement']:.3f}", flush=True)
        if args.ensemble and len(pols) > 1:
            from diffmarket.policy.learned import EnsembleModel
            ens = DiffusionPolicy(EnsembleModel([p.model for p in pols]), pols[0].meta, seed=0, choice=args.choice)
            re_, _ = run(ens, bars, human, sd)
            approaches.append(approach_row(name, f"ensemble of the {len(pols)} seeds ({args.choice})", [re_], None, tree))
            extra["agree"] = f"; ensemble of the {len(pols)} seeds {re_['position_agreement']:.3f} (pnl corr {re_['pnl_correlation']:.3f}, Sharpe {re_['policy_sharpe']:.2f})"
            print(f"  {name:14s} ensemble of {len(pols)}: agreement {re_['position_agreement']:.3f}  pnl corr {re_['pnl_correlation']:.3f}  sharpe {re_['policy_sharpe']:.2f}", flush=True)
        if args.mse:
            m = []
            for seed in range(args.seeds):
                cfg = load_config(overrides={**over, "model": {"kind": "mse"}, "training": {**over["training"], "seed": seed}})
                t = Trainer(sd, cfg, progress=False); t.fit()
                m.append(run(DiffusionPolicy(t.best_model(), t.meta, seed=seed), bars, human, sd)[0])
            extra["agree"] = extra.get("agree", "") + f"; MSE baseline {np.mean([x['position_agreement'] for x in m]):.3f}"
        rows += case_rows(name, style, d, tree, rep, float(np.ptp(noise)), args, extra)
        approaches.insert(len(approaches) - (1 if args.ensemble and len(pols) > 1 else 0), approach_row(name, f"{args.choice} (each seed)", d, float(np.ptp(noise)), tree))
        if args.compare: approaches.append(approach_row(name, f"{args.compare} (each seed, same models)", alt, float(np.ptp(alt_noise)), tree))
        if style == "discretionary":
            hshare, hn = entry_share(position_path(human, bars)[lambda x: x.index >= sd.split_times[1]].values)
            share = float(np.nanmean([r["two_lot_share"] for r in d]))
            n_all = int(sum(r["entries"] for r in d))
            pooled = float(sum(r["two_lot_share"] * r["entries"] for r in d if r["entries"]) / max(n_all, 1))
            half = 1.96 * np.sqrt(pooled * (1 - pooled) / max(n_all, 1))       # binomial 95% half-width of the pooled share
            rows.append(dict(metric=f"{name}: two-lot share of the policy's own entries", value=f"{share:.3f}",
                             goal=f"within {GOAL_SHARE:.2f} of human {hshare:.3f}", met=bool(abs(share - hshare) <= GOAL_SHARE),
                             peer=f"trees {extra['tree_share']:.3f}",
                             note=f"closed loop on the test bars; ~{int(np.mean([r['entries'] for r in d]))} policy entries per seed, human {hn}; "
                                  f"pooled over seeds {pooled:.3f} ± {half:.3f} (95%, {n_all} entries): the resolution these entries allow"))
            s, n = extra["samples"]
            rows.append(dict(metric=f"{name}: two-lot share of samples at the human's entries", value=f"{s:.3f}",
                             goal=f"within {GOAL_SHARE:.2f} of human {hshare:.3f}", met=bool(abs(s - hshare) <= GOAL_SHARE),
                             peer="-", note=f"teacher-forced: 64 samples at each of {n} test entry bars, seed 0"))
        print(f"  {name}: {time.perf_counter() - t_case:.0f}s", flush=True)
    pool.shutdown()
    minutes = (time.perf_counter() - t_start) / 60
    if len(approaches) > len(args.styles):
        print_table("Approaches on the same trained models (agreement; PnL corr, Sharpe ratio to the human, spread across seeds / sampling floor)", approaches)
    print_table(f"Diffusion policy imitation, closed loop on held-out bars ({args.seeds} training seeds, "
                f"{'epochs ' + str(args.epochs) if args.epochs else 'default training'}"
                f"{''.join(', ' + kv for kv in args.set)}{', choice ' + args.choice if args.choice != 'consensus' else ''}"
                f"{', checkpoint chosen by replay on the validation bars' if args.select == 'replay' else ''}; {minutes:.1f} min)", rows)


def select(tr, bars, human, choice):
    "The trainer's candidate checkpoint that best replays the human on the validation bars."
    from diffmarket.policy.learned import select_by_replay
    model, table = select_by_replay(tr, bars, human, choice=choice)
    return model, f"replay: epoch {int(table.epoch[table.chosen].iloc[0])}"


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="2 seeds, 40 epochs: a development run")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None, help="override training.epochs (default: the config's)")
    ap.add_argument("--styles", default=",".join(CASES), help=f"comma-separated cases among {', '.join(CASES)}")
    ap.add_argument("--mse", action="store_true", help="also train the MSE behaviour-cloning baseline")
    ap.add_argument("--select", choices=("loss", "replay"), default="loss", help="checkpoint by validation loss or by closed-loop replay")
    ap.add_argument("--ensemble", action="store_true", help="also trade the ensemble of the trained seeds")
    ap.add_argument("--compare", default=None, help="also trade each trained model with this choice (e.g. probability)")
    ap.add_argument("--choice", default="consensus", help="the policy's choice among its samples (diffmarket.policy.learned.CHOICES)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes that train the seeds ahead (default 2: the machine's cores)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config override, e.g. training.switch_weight=3")
    a = ap.parse_args()
    a.seeds = a.seeds or (2 if a.quick else 3)
    a.epochs = a.epochs or (40 if a.quick else None)
    a.styles = [s.strip() for s in a.styles.split(",") if s.strip()]
    bad = [s for s in a.styles if s not in CASES]
    if bad: sys.exit(f"bench_policy: unknown case(s) {', '.join(bad)} in --styles; choose from {', '.join(CASES)}")
    torch.set_num_threads(1)
    quality(a)
