"""Reading the other players and one's own footprint (issue 17): does it work? Each measurement beside its goal.

1. Inferring objectives: held-out agents (other seeds, every agent with its own random parameters) of the five
   heuristic types; type accuracy of the simulation-trained classifier against observed steps, and the recovery of
   the A–S maker's γ and k, the speculator's trend share and switch probability, the informed trader's horizon and
   threshold against observed steps.
2. Footprints: a known exponential transient impact switched on in the market (market.transient_impact_lambda,
   transient_impact_decay); the propagator kernel fitted to a probe's own orders against the truth, and the
   implementation shortfall of the footprint-aware schedule against the same executor without footprints (TWAP).
3. Reflexive beliefs: level-0/1/2 executors against predators of known levels in the market, PnL with 95% CIs.

Usage: python benchmarks/bench_opponents.py [--quick] [--json out.json] [--sections 1,2,3]
"""
import argparse, json, sys, time, warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table
import diffmarket.opponents as op

T0 = time.perf_counter()
def stamp(msg): print(f"[{time.perf_counter() - T0:6.0f}s] {msg}", flush=True)
pct = lambda x: f"{x:.1%}"


def section1(quick):
    n_train, n_test, steps = (10, 6, 400) if quick else (30, 20, 400)
    n_steps = (25, 50, 100, 200, 400)
    train, test = op.simulated_population(n_train, steps, seed=10), op.simulated_population(n_test, steps, seed=20)
    stamp(f"simulated {n_train} + {n_test} markets")
    acc = op.type_accuracy(train, test, n_steps)
    stamp("type accuracy")
    rec = op.parameter_recovery(test[: (3 if quick else 8)], (50, 100, 200, 400))
    summ = op.recovery_summary(rec)
    stamp("parameter recovery")
    curve = ", ".join(f"{n}: {a:.1%}" for n, a in acc.accuracy.items())
    a200 = acc.loc[200]
    rows = [dict(metric=f"type accuracy, held-out, after 200 observed steps ({int(a200.agents)} agents, 5 types)",
                 value=f"{a200.accuracy:.1%} [{a200.lo:.1%}, {a200.hi:.1%}]", goal=">= 95% after a few hundred actions",
                 met=bool(a200.accuracy >= 0.95), note=f"by observed steps: {curve}")]
    for p, label in (("mm_gamma", "A–S γ"), ("mm_k", "A–S k"), ("informed_horizon", "informed horizon"),
                     ("informed_threshold", "informed threshold"), ("trend_share", "speculator trend share (absolute error)"),
                     ("spec_switch_prob", "speculator switch probability")):
        s = summ.loc[p]
        curve = ", ".join(f"{n}: {r.median_error:.3f}" for n, r in s.iterrows())
        r = s.loc[200]
        rows.append(dict(metric=f"{label}: median error after 200 steps ({int(r.agents)} agents)", value=f"{r.median_error:.3f}",
                         goal="<= 0.10 (within 10%)", met=bool(r.median_error <= 0.10),
                         note=f"share within 10%: {r.within_tol:.0%}; median error by steps: {curve}"))
    return rows, dict(accuracy=acc.reset_index().to_dict("records"), recovery=summ.reset_index().to_dict("records"))


def section2(quick):
    from diffmarket.market_diffusion import episode_seed
    eps, steps, n_sf = (6, 2000, 100) if quick else (10, 2000, 200)
    rows, out = [], {}
    for decay in ((10.0,) if quick else (5.0, 10.0, 20.0)):
        cfg = op.footprint_market(2e-6, decay)
        flows, mids, slip = op.probe_episodes(cfg, eps, steps, seed=1)
        kern = op.fit_exponential_kernel(op.propagator_kernel(flows, mids))
        out[f"kernel_decay_{decay:g}"] = kern
        if decay == 10.0: K10, eta, cfg10 = kern, op.temporary_cost(slip), cfg
        rows.append(dict(metric=f"fitted decay time, true {decay:g} steps ({eps} probe episodes of {steps} steps)", value=f"{kern['decay']:.2f}",
                         goal=f"within 10% of {decay:g}", met=bool(abs(kern["decay"] / decay - 1) <= 0.10),
                         note=f"amplitude {kern['amplitude'] * 1e3:.1f} bps/1000 shares (true 20.0), permanent {kern['permanent'] * 1e3:.1f}"))
        stamp(f"kernel, decay {decay:g}")
    dflt = op.footprint_market(2e-6, 10.0, arb_threshold=None, informed=True)
    f, m, _ = op.probe_episodes(dflt, eps, steps, seed=1)
    kd = op.fit_exponential_kernel(op.propagator_kernel(f, m))
    rows.append(dict(metric="  the same in the default population (informed trader, 5 bp arbitrage band), true 10", value=f"{kd['decay']:.2f}",
                     goal="(no goal: how far the market's own participants bend the footprint)", met=None,
                     note=f"amplitude {kd['amplitude'] * 1e3:.1f} bps/1000, permanent {kd['permanent'] * 1e3:.1f}"))
    stamp("kernel, default population")
    summ, table = op.footprint_shortfall(cfg10, K10, eta, 3000, 20, n_sf)
    d = summ.loc["footprint_minus_twap"]
    rows.append(dict(metric=f"shortfall gain of the footprint schedule over TWAP (3000 shares in 20 steps, {n_sf} markets, bps)",
                     value=f"{-d['mean']:.1f} [{-d['hi']:.1f}, {-d['lo']:.1f}]", goal="> 0, 95% CI above 0", met=bool(d["hi"] < 0),
                     note=f"TWAP {summ.loc['twap', 'mean']:.1f} bps, footprint {summ.loc['footprint', 'mean']:.1f} bps; schedule {summ.attrs['schedule'].tolist()}"))
    stamp("footprint shortfall")
    out["eta"] = eta; out["shortfall"] = summ.reset_index().to_dict("records")
    return rows, out


def section3(quick):
    from diffmarket.market_diffusion import episode_seed
    n_est, n_eval = (30, 50) if quick else (60, 150)
    cfg = op.footprint_market(2e-6, 10.0)
    flows, mids, slip = op.probe_episodes(cfg, 6, 2000, seed=1)
    kern, eta = op.fit_exponential_kernel(op.propagator_kernel(flows, mids)), op.temporary_cost(slip)
    ep, pp = op.executor_plans(3000, 20, 1000, kern, eta), op.predator_plans(1000, 20)
    game = op.empirical_duel_game(op.duel_table(cfg, ep, pp, [episode_seed(31, i) for i in range(n_est)]))
    levels = op.level_profile(game)
    stamp("level-k profile")
    lp = op.level_pnl(op.duel_table(cfg, ep, pp, [episode_seed(32, i) for i in range(n_eval)]), levels)
    stamp("held-out level table")
    rows = []
    for _, r in lp.iterrows():
        row = dict(metric=f"executor level {r.executor_level} ({r.executor}) vs predator level {r.predator_level} ({r.predator}): payoff",
                   value=f"{r.payoff:.0f} [{r.lo:.0f}, {r.hi:.0f}]", goal=f"95% CI (n = {int(r.n)} held-out markets)", met=None)
        if r.executor_level > 0:
            pays = r.gain_lo > 0; hurts = r.gain_hi < 0
            row["note"] = (f"one level deeper: {r.gain_over_shallower:+.0f} [{r.gain_lo:.0f}, {r.gain_hi:.0f}] -> "
                           + ("pays" if pays else "costs" if hurts else "no significant difference"))
        rows.append(row)
    deeper = lp[lp.executor_level == 2]
    rows.append(dict(metric="where level 2 pays over level 1 (gain CI above 0) / where not", value=f"{int((deeper.gain_lo > 0).sum())} / {int((deeper.gain_lo <= 0).sum())} predator levels",
                     goal="shown both ways", met=bool((deeper.gain_lo > 0).any() and (deeper.gain_lo <= 0).any()),
                     note="levels: " + ", ".join(f"{k}: {r.executor}/{r.predator}" for k, r in levels.iterrows())))
    return rows, dict(levels=levels.reset_index().to_dict("records"), table=lp.to_dict("records"))


SECTIONS = {"1": section1, "2": section2, "3": section3}

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs (about a third of the time)")
    ap.add_argument("--json", default=None, help="write the numbers to this file")
    ap.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated sections to run")
    args = ap.parse_args()
    import torch; torch.set_num_threads(1)
    rows, out = [], {}
    for s in args.sections.split(","):
        r, o = SECTIONS[s](args.quick); rows += r; out[s] = o
    print_table("Opponents and footprints (issue 17)" + (" [quick]" if args.quick else ""), rows)
    stamp("done")
    if args.json: Path(args.json).write_text(json.dumps(out, indent=1, default=str))
