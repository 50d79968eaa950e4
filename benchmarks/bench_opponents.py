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


SECTIONS = {"1": section1}

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
