"""Diffusion policy vs the MSE behaviour-cloning baseline: imitation quality on held-out bars.

Quality: synthetic humans of three styles (trend, mean_reversion, discretionary) trade the shipped S&P 500
daily bars from 2008; each model is trained with several seeds on the first 60% of the decision bars and
backtested on the last 20% (never seen in training or validation). Reported per style: position agreement,
per-bar PnL correlation, Sharpe ratio of the policy over the human's (both run through the same backtester and
costs; judged only where the human's
Sharpe ratio is at least 0.3 — near zero or negative the ratio is meaningless and the difference is shown
instead), and the spread of the policy's Sharpe ratio across training seeds. For the multimodal (discretionary)
style — the human picks one or two lots at random when it enters — the share of two-lot entries among the
diffusion policy's samples at the human's entry bars is compared with the human's own share; the MSE baseline
can only predict one size.

Also reported: each style's decision accuracy given the human's own state (teacher-forced, so it separates the
model's errors from closed-loop compounding); for trend seed 0, the agreement when the same model samples with 10
DDIM steps instead of the default; for the discretionary human, the two-lot share of samples at 3 and 10 steps
for sample and epsilon prediction (one extra model trained with the other prediction type).

Context for the goals: each agreement row also shows gradient-boosted trees (scikit-learn's
HistGradientBoostingClassifier on the last bar's features, trading through the same policy loop), i.e. what these
features and this much data allow; and each Sharpe-spread row shows the spread from the sampling noise alone (one
trained model, three policy seeds), a floor under the spread across training seeds. Policies execute with the
default choice ('consensus': majority direction, size drawn among the agreeing samples).

Speed (latency, batched throughput, training time) is measured by bench_policy_speed.py.

Usage: python benchmarks/bench_policy.py [--seeds 3] [--epochs N]
"""
import argparse, sys, warnings
from pathlib import Path
import numpy as np
import torch

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table
from diffmarket.core import load_config
from diffmarket.data import load_bars, sample_path, synthetic_trader, StrategyData
from diffmarket.train import Trainer, DiffusionPolicy, imitation_report
from diffmarket.backtest import Backtest

STYLES = ("trend", "mean_reversion", "discretionary")


def entry_share(positions):
    "Share of two-lot entries among the entries (flat -> non-zero) of a position path, and their number."
    p = np.asarray(positions, dtype=float).reshape(-1); prev = np.concatenate([[0.0], p[:-1]])
    e = np.abs(p[(np.abs(prev) < 1e-9) & (np.abs(p) > 1e-9)])
    return (float((e > 1.5 * e.min()).mean()) if len(e) else float("nan")), len(e)


def sharpe_row(style, d, m, deterministic, min_human=0.3):
    "Sharpe goal: ratio >= 0.9 only where the human's Sharpe is clearly positive; otherwise not judged (difference shown)."
    hs = d[0]["human_sharpe"]
    ps, ms = float(np.nanmean([r["policy_sharpe"] for r in d])), float(np.nanmean([r["policy_sharpe"] for r in m]))
    judged = deterministic and hs >= min_human
    return dict(metric=f"{style}: Sharpe policy / human", value=f"{ps / hs:.2f}",
                goal=">= 0.90" if judged else (f"n/a (human Sharpe < {min_human})" if deterministic else "-"),
                met=bool(ps / hs >= 0.9) if judged else None, peer=f"MSE {ms / hs:.2f}",
                note=f"human Sharpe {hs:.2f}, policy {ps:.2f} (MSE {ms:.2f}); policy - human {ps - hs:+.2f}")


def quality(args):
    bars = load_bars(sample_path("sp500_daily.csv"))
    spx = bars[bars.timestamp >= "2008-01-01"].reset_index(drop=True)
    rows, mode_rows, shares, steps_rows, sampling, ceiling = [], [], {}, [], {}, {}
    for style in STYLES:
        human = synthetic_trader(spx, style, seed=0)
        sd = StrategyData.build(spx, human)
        res = {}
        for kind in ("diffusion", "mse"):
            res[kind] = []
            for seed in range(args.seeds):
                over = {"model": {"kind": kind}, "training": {"seed": seed}}
                if args.epochs: over["training"]["epochs"] = args.epochs
                tr = Trainer(sd, load_config(overrides=over), progress=False); tr.fit()
                pol = DiffusionPolicy(tr.best_model(), tr.meta, seed=seed)          # default choice: consensus
                bt = Backtest(spx, pol, start=sd.split_times[1]).run()
                r = imitation_report(bt, human, spx)
                if kind == "diffusion" and seed == 0:
                    sampling[style] = [r["policy_sharpe"]] + [policy_sharpe(tr, sd, human, spx, s) for s in (1, 2)]
                    ceiling[style] = tree_ceiling(tr, sd, human, spx)
                r["two_lot_share"], r["entries"] = entry_share(bt.positions.values)
                r["decision_accuracy"] = decision_accuracy(tr.best_model(), sd, tr.meta)
                if style == "trend" and kind == "diffusion" and seed == 0: steps_rows.append(steps_check(tr, sd, human, spx, r))
                res[kind].append(r)
                print(f"  {style:15s} {kind:9s} seed {seed}: epochs {tr.epoch:3d}  decision accuracy {r['decision_accuracy']:.3f}  "
                      f"agreement {r['position_agreement']:.3f}  "
                      f"pnl corr {r['pnl_correlation']:.3f}  sharpe {r['policy_sharpe']:.2f} (human {r['human_sharpe']:.2f})"
                      + (f"  two-lot share of {r['entries']} entries {r['two_lot_share']:.2f}" if style == "discretionary" else ""), flush=True)
                if style == "discretionary" and seed == 0:
                    mode_rows.append(modes(tr, sd, human))
                    if kind == "diffusion": steps_rows.append(mode_steps(tr, sd, human, args))
        d, m = res["diffusion"], res["mse"]
        avg = lambda rs, k: float(np.nanmean([r[k] for r in rs]))
        deterministic = style != "discretionary"
        rows += [
            dict(metric=f"{style}: decision accuracy given the human's state", value=f"{avg(d, 'decision_accuracy'):.3f}",
                 goal="-", met=None, peer=f"MSE {avg(m, 'decision_accuracy'):.3f}",
                 note="teacher-forced: share of test bars whose next target (snapped) equals the human's"),
            dict(metric=f"{style}: position agreement (test bars)", value=f"{avg(d, 'position_agreement'):.3f}",
                 goal=">= 0.90" if deterministic else "-", met=(avg(d, "position_agreement") >= 0.9) if deterministic else None,
                 peer=f"MSE {avg(m, 'position_agreement'):.3f}",
                 note=f"mean of {args.seeds} seeds (min {min(r['position_agreement'] for r in d):.3f}); "
                      f"gradient-boosted trees on the same features {ceiling[style]['position_agreement']:.3f}"),
            dict(metric=f"{style}: per-bar PnL correlation", value=f"{avg(d, 'pnl_correlation'):.3f}",
                 goal=">= 0.90" if deterministic else "-", met=(avg(d, "pnl_correlation") >= 0.9) if deterministic else None,
                 peer=f"MSE {avg(m, 'pnl_correlation'):.3f}",
                 note=f"min {min(r['pnl_correlation'] for r in d):.3f}; trees {ceiling[style]['pnl_correlation']:.3f}"),
            sharpe_row(style, d, m, deterministic),
            dict(metric=f"{style}: Sharpe spread across seeds", value=f"{np.ptp([r['policy_sharpe'] for r in d]):.2f}",
                 goal="<= 0.10", met=bool(np.ptp([r['policy_sharpe'] for r in d]) <= 0.1),
                 peer=f"MSE {np.ptp([r['policy_sharpe'] for r in m]):.2f}",
                 note=f"max - min over training seeds; one trained model (seed 0) over 3 sampling seeds alone: {np.ptp(sampling[style]):.2f}"),
        ]
        if style == "discretionary":
            hshare, hn = entry_share(human_test_positions(human, spx, sd))
            shares = dict(d=avg(d, "two_lot_share"), m=avg(m, "two_lot_share"), h=hshare, hn=hn, n=int(np.mean([r["entries"] for r in d])))
    (dfreq, hfreq, n, dboth), (mfreq, _, _, mboth) = mode_rows
    rows.append(dict(metric="discretionary: two-lot share of samples at human entries", value=f"{dfreq:.3f}",
                     goal=f"within 0.05 of human {hfreq:.3f}", met=bool(abs(dfreq - hfreq) <= 0.05), peer=f"MSE {mfreq:.3f}",
                     note=f"{n} test entry bars, 64 samples each (teacher-forced: the human's own state); both sizes "
                          f"among one bar's samples at {dboth:.0%} of them (MSE {mboth:.0%}: one size per state)"))
    rows.append(dict(metric="discretionary: two-lot share of traded entries", value=f"{shares['d']:.3f}",
                     goal=f"within 0.05 of human {shares['h']:.3f}", met=bool(abs(shares['d'] - shares['h']) <= 0.05),
                     peer=f"MSE {shares['m']:.3f}",
                     note=f"closed loop on the test bars, choice='consensus'; ~{shares['n']} policy entries/seed, human {shares['hn']}"))
    rows += steps_rows
    print_table("Diffusion policy quality (S&P 500 daily 2008-2018, test = last 20% of decision bars; "
                "defaults: 4-bar plans re-planned every bar, tree-binned PLE features, level channels, consensus choice)", rows)


@torch.no_grad()
def decision_accuracy(model, sd, meta, K=8):
    "Teacher-forced: share of test windows where the median of K samples' first action, snapped to the human's levels, is the human's."
    obs, act = sd.test.tensors()
    s = model.sample(obs, num_samples=K, seed=0)[:, :, 0, 0].median(dim=1).values.numpy()
    lv = np.asarray(meta["position_levels"] or np.unique(act[:, 0, 0].numpy()))
    snap = lambda x: lv[np.abs(np.asarray(x)[:, None] - lv[None]).argmin(1)]
    return float(np.mean(snap(s) == snap(act[:, 0, 0].numpy())))


def steps_check(tr, sd, human, bars, r):
    "Closed-loop agreement of one trained policy sampled with 10 DDIM steps, beside `r`, its report at the default steps."
    m = tr.best_model(); default = m.num_inference_steps
    m.set_sampler(m.sampler_name, 10)
    r10 = imitation_report(Backtest(bars, DiffusionPolicy(m, tr.meta, seed=0), start=sd.split_times[1]).run(), human, bars)
    return dict(metric=f"trend: agreement at {default} DDIM steps (default) vs 10", value=f"{r['position_agreement']:.3f}",
                goal="-", met=None, peer=f"10 steps {r10['position_agreement']:.3f}", note="seed 0, same trained model")


def mode_steps(tr, sd, human, args):
    "Two-lot share of samples at the human's entries at 3 and 10 steps, for the default prediction type and for the other."
    out = {}
    for pt in ("sample", "epsilon"):
        if pt == tr.cfg.model.prediction_type: t = tr
        else:
            over = {"model": {"prediction_type": pt}, "training": {"seed": 0}}
            if args.epochs: over["training"]["epochs"] = args.epochs
            t = Trainer(sd, load_config(overrides=over), progress=False); t.fit()
        m = t.best_model()
        for n in (3, 10):
            m.set_sampler("ddim", n)
            out[(pt, n)] = modes(t, sd, human, model=m)[0]
    return dict(metric="discretionary: two-lot share at entries, 3 / 10 DDIM steps", value=f"{out[('sample', 3)]:.3f} / {out[('sample', 10)]:.3f}",
                goal="-", met=None, peer=f"epsilon {out[('epsilon', 3)]:.3f} / {out[('epsilon', 10)]:.3f}",
                note="sample (default) vs epsilon prediction, seed 0, 64 samples at each human test entry")


def policy_sharpe(tr, sd, human, bars, seed):
    "Test Sharpe of the seed-0 trained policy sampled with another policy seed (the sampling noise alone)."
    pol = DiffusionPolicy(tr.best_model(), tr.meta, seed=seed)
    return imitation_report(Backtest(bars, pol, start=sd.split_times[1]).run(), human, bars)["policy_sharpe"]


class TreePolicy(DiffusionPolicy):
    "The policy's own features and loop, with the decision taken by a classifier on the last bar's features."
    def __init__(self, clf, levels, *a, **kw):
        super().__init__(*a, **kw); self.clf, self.lv = clf, np.asarray(levels)
    def _plan_from(self, feats, current=None):
        self.last_confidence = 1.0
        return (self.lv[self.clf.predict(feats[:, -1])] * self.scale)[None]


def tree_ceiling(tr, sd, human, bars):
    "Imitation by gradient-boosted trees (scikit-learn) on the same last-bar features: what these features allow."
    from sklearn.ensemble import HistGradientBoostingClassifier
    ds = sd.train
    nxt = ds.actions[ds.t + 1, 0]                            # the human's next target at each training decision bar
    lv = np.unique(np.round(nxt, 6))
    y = np.abs(nxt[:, None] - lv[None]).argmin(1)
    clf = HistGradientBoostingClassifier(random_state=0).fit(ds.features[ds.t], y)
    pol = TreePolicy(clf, lv, tr.best_model(), tr.meta, seed=0)
    return imitation_report(Backtest(bars, pol, start=sd.split_times[1]).run(), human, bars)


def human_test_positions(human, bars, sd):
    "The human's positions over the test bars."
    from diffmarket.data import position_path
    pp = position_path(human, bars)
    return pp[pp.index >= sd.split_times[1]].values


@torch.no_grad()
def modes(tr, sd, human, K=64, model=None):
    """Share of two-lot plans among K samples at the human's entry bars of the test split, the human's share, the
    number of entry bars, and the share of entry bars where both sizes occur among the K samples."""
    obs, act = sd.test.tensors()
    pos_now = obs[:, -1, sd.feature_names.index("position")] * sd.normalizer.std[sd.feature_names.index("position")] \
        + sd.normalizer.mean[sd.feature_names.index("position")]
    entry = (pos_now.abs() < 0.25) & (act[:, 0, 0].abs() > 0.25)
    model = model or tr.best_model()
    per = model.sample(obs[entry], num_samples=K, seed=0)[:, :, 0, 0].abs()          # (entries, K)
    both = float((((per > 0.25) & (per < 0.75)).any(1) & (per > 0.75).any(1)).float().mean()) if len(per) else float("nan")
    s = per.flatten(); s = s[s > 0.25]
    share = float((s > 0.75).float().mean()) if len(s) else float("nan")
    entries = np.abs(sd.positions[1:, 0])[(np.abs(sd.positions[:-1, 0]) < 1e-9) & (np.abs(sd.positions[1:, 0]) > 0)]
    human_share = float((entries > 1.5 * entries.min()).mean())
    return share, human_share, int(entry.sum()), both


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=None, help="override training.epochs (default: the config's)")
    quality(ap.parse_args())
