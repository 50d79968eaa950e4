"""Reading the other players and one's own footprint (issue 17): does it work? Each measurement beside its goal.

1. Inferring objectives: held-out agents (other seeds, every agent with its own random parameters) of the five
   heuristic types and the diffusion agent (trained small, as in section 4); type accuracy of the simulation-trained classifier against observed steps, and the recovery of
   the A–S maker's γ and k, the speculator's trend share and switch probability, the informed trader's horizon and
   threshold against observed steps; the switch probability also on tapes of up to 10,000 steps, beside the bound
   of counting the hidden switches.
2. Footprints: a known exponential transient impact switched on in the market (market.transient_impact_lambda,
   transient_impact_decay); its decay fitted to a probe's own orders (directly through the exponentially filtered
   flow, with its standard error and the spread over batches; the windowed kernel beside it) against the truth, and the
   implementation shortfall of the footprint-aware schedule against the same executor without footprints (TWAP).
3. Reflexive beliefs: level-0/1/2 executors against predators of known levels in the market, PnL with 95% CIs: fixed plans
   (the analytic reference, in the footprint market), and the diffusion agent (the small one of section 4) choosing
   among its own candidates with an opponent model of one level less, against the idle predator and predators of
   levels 0, 1 and 2 (a parent order of 2,000 shares in the agent's 8-step horizon, the predator choosing when).
4. Applications: execution (TWAP, VWAP, Almgren-Chriss, a small diffusion agent), market making (the diffusion agent
   against the A-S maker: spread, inventory, mark-outs against the informed trader), a stress test of the A-S maker
   (diffusion-seeded CEM against random search at equal budget), spoofing detection (precision, recall, honest FPR).

Usage: python benchmarks/bench_opponents.py [--quick] [--json out.json] [--sections 1,2,3]
"""
import argparse, json, sys, time, warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table
from diffmarket.games.opponents.applications import (detection_report, maker_loss, maker_report, spoofing_markets,
    stress_search, volume_profile, vwap_schedule)
from diffmarket.games.opponents.footprints import (fit_decay, fit_exponential_kernel, fit_propagator_direct,
    footprint_market, footprint_shortfall, probe_episodes, propagator_kernel, temporary_cost)
from diffmarket.games.opponents.levelk import (diffusion_arrivals, diffusion_level_pnl, diffusion_level_profile,
    duel_table, empirical_duel_game, executor_plans, level_pnl, level_profile, predator_plans, timed_predator_plans)
from diffmarket.games.opponents.parameters import (parameter_recovery, recovery_summary, switch_recovery,
    switch_summary)
from diffmarket.games.opponents.types import simulated_population, type_accuracy

T0 = time.perf_counter()
def stamp(msg): print(f"[{time.perf_counter() - T0:6.0f}s] {msg}", flush=True)
pct = lambda x: f"{x:.1%}"


_AGENT = {}
def diffusion_agent(quick):
    "A small diffusion market agent (trained once per run): (cfg, model, rules, agent, trainer)."
    if "a" not in _AGENT:
        import dataclasses, tempfile
        from diffmarket.config import load_config
        from diffmarket.games.market_agent.agent import MarketDiffusionAgent
        from diffmarket.games.market_agent.training import MarketTrainer, load_market_checkpoint
        from diffmarket.games.market_agent.observation import Rules
        from diffmarket.games.market_agent.episodes import generate_episodes, make_windows
        n, epochs = (30, 3) if quick else (100, 5)
        cfg = load_config()
        cfg = dataclasses.replace(cfg, market_agent=dataclasses.replace(cfg.market_agent, epochs=epochs, n_action_steps=4))
        scratch = Path(tempfile.mkdtemp())
        tr = MarketTrainer(make_windows(generate_episodes(cfg, n, workers=1, progress=False), cfg.market_agent), cfg, progress=False)
        tr.fit(out_dir=scratch / "ckpt")
        model = load_market_checkpoint(scratch / "ckpt")[0]
        rules = Rules.from_config(cfg.market, cfg.market_agent)
        _AGENT["a"] = (cfg, model, rules, MarketDiffusionAgent(model, rules, cfg.market_agent), tr)
        stamp(f"diffusion agent trained ({n} episodes, {epochs} epochs)")
    return _AGENT["a"]


def section1(quick):
    from diffmarket.market.environment import MarketConfig
    from diffmarket.games.market_agent.agent import MarketDiffusionAgent
    from diffmarket.games.market_agent.observation import Rules
    n_train, n_test, steps = (10, 6, 400) if quick else (30, 20, 400)
    n_steps = (25, 50, 100, 200, 400)
    cfg, model, _, _, _ = diffusion_agent(quick)
    rules = Rules.from_config(MarketConfig(), cfg.market_agent)
    extra = lambda s: [MarketDiffusionAgent(model, rules, cfg.market_agent, seed=s)]
    train, test = simulated_population(n_train, steps, seed=10, extra=extra), simulated_population(n_test, steps, seed=20, extra=extra)
    stamp(f"simulated {n_train} + {n_test} markets")
    acc = type_accuracy(train, test, n_steps)
    stamp("type accuracy")
    rec = parameter_recovery(test[: (3 if quick else 8)], (50, 100, 200, 400))
    summ = recovery_summary(rec)
    stamp("parameter recovery")
    curve = ", ".join(f"{n}: {a:.1%}" for n, a in acc.accuracy.items())
    a200 = acc.loc[200]
    rows = [dict(metric=f"type accuracy, held-out, after 200 observed steps ({int(a200.agents)} agents, 6 types: the five heuristic and the diffusion agent)",
                 value=f"{a200.accuracy:.1%} [{a200.lo:.1%}, {a200.hi:.1%}]", goal=">= 95% after a few hundred actions",
                 met=bool(a200.accuracy >= 0.95), note=f"by observed steps: {curve}")]
    for p, label in (("mm_gamma", "A–S γ"), ("mm_k", "A–S k"), ("informed_horizon", "informed horizon"),
                     ("informed_threshold", "informed threshold"), ("trend_share", "speculator trend share (absolute error)")):
        s = summ.loc[p]
        curve = ", ".join(f"{n}: {r.median_error:.3f}" for n, r in s.iterrows())
        r = s.loc[200]
        rows.append(dict(metric=f"{label}: median error after 200 steps ({int(r.agents)} agents)", value=f"{r.median_error:.3f}",
                         goal="<= 0.10 (within 10%)", met=bool(r.median_error <= 0.10),
                         note=f"share within 10%: {r.within_tol:.0%}; median error by steps: {curve}"))
    # the switch probability against the length of the tape: longer markets, every speculator cut at n steps
    n_sw, len_sw = (4, 5000) if quick else (12, 10_000)
    judged = len_sw
    sw_steps = tuple(n for n in (200, 1000, 2000, 5000, 10_000) if n <= len_sw)
    sw = switch_summary(switch_recovery(simulated_population(n_sw, len_sw, seed=20), sw_steps))
    stamp(f"switch probability on {n_sw} markets of {len_sw} steps")
    curve = lambda k: ", ".join(f"{n}: {v:.3f}" for n, v in sw[k].items())
    for n in (200, judged):
        r = sw.loc[n]
        rows.append(dict(metric=f"speculator switch probability: median error of the exact-likelihood MLE after {n} steps ({int(r.agents)} speculators of {n_sw} markets of {len_sw} steps)",
                         value=f"{r.mle:.3f}", goal="<= 0.10 (within 10%)", met=bool(r.mle <= 0.10),
                         note=f"share within 10%: {r.mle_within_tol:.0%}; posterior median (population prior) {r.posterior_median:.3f}; "
                              f"bound, counting the hidden switches: {r.count_estimate:.3f} (median {r.switches:.0f} switches, observed-information s.e. {r.rel_se:.3f})"))
    rows.append(dict(metric="  switch probability by observed steps: MLE / posterior median / hidden-switch count (median errors)", value=f"{sw.mle.iloc[-1]:.3f} at {sw.index[-1]}",
                     goal="(how both improve with the number of observed actions)", met=None,
                     note=f"MLE {curve('mle')}; posterior {curve('posterior_median')}; count {curve('count_estimate')}"))
    return rows, dict(accuracy=acc.reset_index().to_dict("records"), recovery=summ.reset_index().to_dict("records"), switch=sw.reset_index().to_dict("records"))


def section2(quick):
    from diffmarket.games.market_agent.episodes import episode_seed
    eps, steps, n_sf = (6, 2000, 100) if quick else (10, 2000, 200)
    many = 12 if quick else 40                                    # probe episodes for the decay (4 batches of `many` / 4)
    rows, out = [], {}
    for decay in ((10.0,) if quick else (5.0, 10.0, 20.0)):
        cfg = footprint_market(2e-6, decay)
        flows, mids, slip = probe_episodes(cfg, many, steps, seed=1)
        kern = fit_exponential_kernel(propagator_kernel(flows[:eps], mids[:eps]))
        kd = fit_decay(flows, mids); kp = fit_propagator_direct(flows, mids)
        b = many // 4; part = lambda i: (flows[i * b:(i + 1) * b], mids[i * b:(i + 1) * b])
        bw = [fit_decay(*part(i))["decay"] for i in range(4)]
        bp = [fit_propagator_direct(*part(i))["decay"] for i in range(4)]
        out[f"kernel_decay_{decay:g}"] = dict(lags_40=kern, windowed={k: v for k, v in kd.items() if k != "kernel"}, direct=kp, windowed_batches=bw, direct_batches=bp)
        if decay == 10.0: K10, eta, cfg10 = kd, temporary_cost(slip), cfg
        need = int(np.ceil(many * (2 * kp["decay_se"] / (0.1 * decay)) ** 2))
        sd = lambda x: np.std(x, ddof=1)
        rows.append(dict(metric=f"fitted decay time, true {decay:g} steps: windowed weighted kernel, >= 4 decay times ({many} probe episodes of {steps} steps)",
                         value=f"{kd['decay']:.2f} ({kd['max_lag']} lags)", goal=f"within 10% of {decay:g}", met=bool(abs(kd["decay"] / decay - 1) <= 0.10),
                         note=f"amplitude {kd['amplitude'] * 1e3:.1f} bps/1000 shares (true 20.0), permanent {kd['permanent'] * 1e3:.1f}; "
                              f"batches of {b} episodes: {', '.join(f'{x:.1f}' for x in bw)} (sd {sd(bw):.2f}); "
                              f"direct fit {kp['decay']:.2f} ± {kp['decay_se']:.2f} (batches {', '.join(f'{x:.1f}' for x in bp)}); "
                              f"40 lags unweighted on {eps} episodes (before): {kern['decay']:.2f}; 2 s.e. of the direct fit within 10% needs about {need} episodes"))
        stamp(f"kernel, decay {decay:g}")
    dflt = footprint_market(2e-6, 10.0, arb_threshold=None, informed=True)
    f, m, _ = probe_episodes(dflt, eps, steps, seed=1)
    kd = fit_propagator_direct(f, m)
    rows.append(dict(metric=f"  the same in the default population (informed trader, 5 bp arbitrage band), true 10 ({eps} episodes)", value=f"{kd['decay']:.2f} ± {kd['decay_se']:.2f}",
                     goal="(no goal: how far the market's own participants bend the footprint)", met=None,
                     note=f"amplitude {kd['amplitude'] * 1e3:.1f} bps/1000, permanent {kd['permanent'] * 1e3:.1f}"))
    stamp("kernel, default population")
    summ, table = footprint_shortfall(cfg10, K10, eta, 3000, 20, n_sf)
    d = summ.loc["footprint_minus_twap"]
    rows.append(dict(metric=f"shortfall gain of the footprint schedule over TWAP (3000 shares in 20 steps, {n_sf} markets, bps)",
                     value=f"{-d['mean']:.1f} [{-d['hi']:.1f}, {-d['lo']:.1f}]", goal="> 0, 95% CI above 0", met=bool(d["hi"] < 0),
                     note=f"TWAP {summ.loc['twap', 'mean']:.1f} bps, footprint {summ.loc['footprint', 'mean']:.1f} bps; schedule {summ.attrs['schedule'].tolist()}"))
    stamp("footprint shortfall")
    out["eta"] = eta; out["shortfall"] = summ.reset_index().to_dict("records")
    return rows, out


def section3(quick):
    from diffmarket.games.market_agent.episodes import episode_seed
    n_est, n_eval = (30, 50) if quick else (60, 150)
    cfg = footprint_market(2e-6, 10.0)
    flows, mids, slip = probe_episodes(cfg, 6, 2000, seed=1)
    kern, eta = fit_exponential_kernel(propagator_kernel(flows, mids)), temporary_cost(slip)
    ep, pp = executor_plans(3000, 20, 1000, kern, eta), predator_plans(1000, 20)
    game = empirical_duel_game(duel_table(cfg, ep, pp, [episode_seed(31, i) for i in range(n_est)]))
    levels = level_profile(game)
    stamp("level-k profile")
    lp = level_pnl(duel_table(cfg, ep, pp, [episode_seed(32, i) for i in range(n_eval)]), levels)
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
    out = dict(levels=levels.reset_index().to_dict("records"), table=lp.to_dict("records"))
    r2, o2 = section3_diffusion(quick)
    out["diffusion"] = o2
    return rows + r2, out


def section3_diffusion(quick):
    "Level-k with the diffusion executor: the chain on estimation markets, the table on held-out ones."
    from diffmarket.games.market_agent.episodes import episode_seed
    n_est, n_eval, n_cand = (40, 60, 16) if quick else (100, 200, 32)
    Q, T, q = 2000, 8, 1000
    cfg, _, _, agent, _ = diffusion_agent(quick)
    plans = timed_predator_plans(q, T, 2)
    lv = diffusion_level_profile(diffusion_arrivals(cfg, agent, [episode_seed(33, i) for i in range(n_est)], Q, T, n_cand), plans)
    stamp(f"diffusion level-k chain ({n_est} estimation markets)")
    lp = diffusion_level_pnl(diffusion_arrivals(cfg, agent, [episode_seed(34, i) for i in range(n_eval)], Q, T, n_cand), lv)
    stamp(f"diffusion level-k table ({n_eval} held-out markets)")
    rows = []
    for _, r in lp.iterrows():
        row = dict(metric=f"diffusion executor level {r.agent_level} vs {r.opponent} predator ({r.opponent_plan}): shortfall, {Q} shares in {T} steps (bps)",
                   value=f"{r.shortfall_bps:.2f} [{r.lo:.2f}, {r.hi:.2f}]", goal=f"95% CI (n = {int(r.n)} held-out markets)", met=None,
                   note=f"predator PnL {r.predator_pnl:+.0f} [{r.predator_lo:.0f}, {r.predator_hi:.0f}]")
        if r.agent_level > 0:
            row["note"] += (f"; one level deeper: {r.gain_bps:+.2f} bps [{r.gain_lo:.2f}, {r.gain_hi:.2f}] -> "
                            + ("pays" if r.gain_lo > 0 else "costs" if r.gain_hi < 0 else "no significant difference"))
        if r.agent_level > 1:
            row["note"] += f"; over level 0: {r.gain_over_level0_bps:+.2f} [{r.gain_over_level0_lo:.2f}, {r.gain_over_level0_hi:.2f}]"
        rows.append(row)
    sched = lp.attrs["schedules"]
    for k in (1, 2):
        d = lp[lp.agent_level == k]
        rows.append(dict(metric=f"diffusion: where level {k} pays over level {k - 1} (gain CI above 0) / where not, of {len(d)} opponents",
                         value=f"{int((d.gain_lo > 0).sum())} / {int((d.gain_lo <= 0).sum())}", goal="shown both ways",
                         met=bool((d.gain_lo > 0).any() and (d.gain_lo <= 0).any()),
                         note=f"pays against: {', '.join(d[d.gain_lo > 0].opponent) or 'none'}; costs against: {', '.join(d[d.gain_hi < 0].opponent) or 'none'}; "
                              f"choices changed from level {k - 1}: {lp.attrs['changed'][k]:.0%}; level {k} mean slices {sched.loc[k].round().astype(int).tolist()}"))
    rows.append(dict(metric="  diffusion level-k chain: each level's opponent (level 0 uniform over the predator's plans)", value=", ".join(f"{k}: {p}" for k, p in lv.opponents.items()),
                     goal="(the opponent a level-(k+1) agent conditions on)", met=None,
                     note=f"level 0 mean slices {sched.loc[0].round().astype(int).tolist()}; predator's best mean PnL by agent level (estimation): "
                          + ", ".join(f"{k}: {v.max():+.0f} ({v.idxmax()})" for k, v in lv.predator_pnl.iterrows())))
    return rows, dict(opponents=lv.opponents, predator_pnl=lv.predator_pnl.to_dict(), table=lp.to_dict("records"), schedules=sched.to_dict())


def section4(quick):
    import torch
    from diffmarket.market.agents import MarketMaker
    from diffmarket.games.market_agent.agent import MarketDiffusionAgent
    from diffmarket.games.market_agent.episodes import SlotAgent, episode_seed, market_episode
    from diffmarket.games.evaluate import (ac_parameters, ac_schedule, candidate_schedules, mean_ci, predicted_cost,
        shortfall_episode, split_evenly)
    n_exec, n_mm, budget, n_det = (40, 6, 32, 6) if quick else (100, 15, 96, 10)
    cfg, model, rules, agent, tr = diffusion_agent(quick)
    rows, out = [], {}
    # execution
    Q, T, cap = 1000, cfg.market_agent.horizon, cfg.market_agent.max_order_qty
    profile = volume_profile(cfg, T, 20)
    ac = ac_parameters(model, tr.val if tr.val is not None else tr.train, Q, T, cfg.market.initial_price)
    def diff_sched(f, rs, s):
        c = candidate_schedules(agent, f, rs, Q, T, 16, s)
        return c[int(np.argmin(predicted_cost(model, f, c, rules.qty_scale)))]
    res = []
    for i in range(n_exec):
        s = episode_seed(61, i)
        sched = {"twap": lambda f, rs: split_evenly(Q, T), "vwap": lambda f, rs: vwap_schedule(profile, Q, cap),
                 "almgren_chriss": lambda f, rs: ac_schedule(ac), "diffusion": lambda f, rs, s=s: diff_sched(f, rs, s)}
        res.append({k: v["shortfall_bps"] for k, v in shortfall_episode(cfg, s, sched, Q, T).items()})
    w = pd.DataFrame(res)
    best = w.mean().idxmin()
    for k in w.columns:
        a, d = mean_ci(w[k]), mean_ci(w[k] - w["twap"])
        rows.append(dict(metric=f"execution: {k} shortfall, {Q} shares in {T} steps, {n_exec} markets (bps)", value=f"{a['mean']:.2f} [{a['lo']:.2f}, {a['hi']:.2f}]",
                         goal="measured (spread over episodes beside it)", met=None,
                         note=f"std over episodes {w[k].std():.2f}; minus TWAP {d['mean']:+.2f} [{d['lo']:.2f}, {d['hi']:.2f}]" + ("; lowest mean" if k == best else "")))
    out["execution"] = w.describe().to_dict()
    stamp("execution")
    # market making
    a_s = maker_report(cfg, lambda s: MarketMaker(cfg.market.agents, seed=s), n_mm, 200)
    dm = maker_report(cfg, lambda s: MarketDiffusionAgent(model, rules, cfg.market_agent, seed=s), n_mm, 200)
    for name, r in (("A–S maker", a_s), ("diffusion agent", dm)):
        m = r.mean()
        rows.append(dict(metric=f"market making, {name} in the slot ({n_mm} markets of 200 steps)", value=f"spread {m.spread_captured_bps:.2f} bps/share",
                         goal="measured", met=None,
                         note=f"maker shares {m.maker_shares:.0f}, inventory std {m.inventory_std:.0f} (max {m.inventory_max:.0f}), mark-out vs informed "
                              f"{m.adverse_vs_informed_bps:.1f} bps vs others {m.adverse_vs_others_bps:.1f}, PnL {m.pnl:.0f}"))
    out["market_making"] = dict(avellaneda_stoikov=a_s.mean().to_dict(), diffusion=dm.mean().to_dict())
    stamp("market making")
    # stress test
    seeds = [episode_seed(71, i) for i in range(3)]
    probe = SlotAgent(rules, cfg.market_agent)
    market_episode(cfg.market, cfg.market_agent, seeds[0], slot=probe, num_steps=1)
    plans = agent.generate([probe.last_features], [probe.tracker.rule_state], num_samples=16, generator=torch.Generator().manual_seed(0))[0]
    init = np.where(plans[:, :T, 0] > 0, np.round(plans[:, :T, 1] * rules.qty_scale), 0).astype(int)
    rand = stress_search(cfg, budget, T, cap, seeds, "random", seed=1)
    cem = stress_search(cfg, budget, T, cap, seeds, "cem", init=init, seed=1)
    fresh = [episode_seed(72, i) for i in range(10)]
    oos = lambda t: maker_loss(cfg, np.array(t.loc[t.loss.idxmax(), "plan"]), fresh)
    rows.append(dict(metric=f"stress test: worst A–S maker loss found, diffusion-seeded CEM vs random search ({budget} plans each)",
                     value=f"{cem.loss.max():.0f} vs {rand.loss.max():.0f}", goal="the adversary finds a worse case than random search at equal budget",
                     met=bool(cem.loss.max() > rand.loss.max()), note=f"on 10 fresh markets: {oos(cem):.0f} vs {oos(rand):.0f}; mean loss of plans tried {cem.loss.mean():.0f} vs {rand.loss.mean():.0f}"))
    stamp("stress test")
    # manipulation detection
    train = (spoofing_markets(n_det // 2, True, 300, seed=1, rate=0.2) + spoofing_markets(n_det // 2, True, 300, seed=4, rate=0.05)
             + spoofing_markets(n_det // 2, True, 300, seed=5, rate=0.015) + spoofing_markets(n_det, False, 300, seed=1))
    honest = spoofing_markets(4 * n_det, False, 300, seed=2)
    for rate in (0.3, 0.1, 0.03):
        test = spoofing_markets(2 * n_det, True, 300, seed=2, rate=rate) + honest
        for rule in ("midpoint", "honest_max", "classifier"):
            r = detection_report(train, test, rule)
            rows.append(dict(metric=f"spoofing detection, spoofer on {rate:.0%} of steps, {rule} ({r['spoofers']} spoofers, {r['honest']} honest; trained on 20% / 5% / 1.5%)",
                             value=f"precision {r['precision']:.2f}, recall {r['recall']:.2f}", goal="precision and recall >= 0.9; honest FPR <= 1%",
                             met=bool(r["precision"] >= 0.9 and r["recall"] >= 0.9 and r["false_positive_rate"] <= 0.01),
                             note=f"false-positive rate on the honest population {r['false_positive_rate']:.3f}"))
    stamp("manipulation detection")
    return rows, out


SECTIONS = {"1": section1, "2": section2, "3": section3, "4": section4}

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
