"""Market environment speed: agent decisions per second (every agent acts once per step, its orders matched and
booked, observations built) for the default mixed population, 20 agents x 1,000 steps and 1,000 agents; and the
stylized facts the default configuration meets over seeds 0-9 (goal: at least five on every seed)."""
import sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table
from diffmarket.config import MarketConfig
from diffmarket.market.agents import AgentFactory, FACT_NAMES, facts_by_seed, run_market


def bench(n_agents, n_steps, repeats=3):
    cfg = MarketConfig(num_agents=n_agents, num_steps=n_steps)
    best = float("inf")
    for _ in range(repeats):
        agents = AgentFactory.create_mixed_population(n_agents, seed=0, cfg=cfg.agents)
        t0 = time.perf_counter()
        env = run_market(cfg, agents, seed=0)
        best = min(best, time.perf_counter() - t0)
    return best, len(env.trades)


if __name__ == "__main__":
    t20, tr20 = bench(20, 1000)
    t1k, tr1k = bench(1000, 100, repeats=1)
    print_table("market environment: default mixed population (agents act, orders matched, accounts and observations)", [
        dict(metric="20 agents x 1,000 steps: wall", value=f"{t20:.2f} s", goal="< 1 s", met=t20 < 1.0, peer="-",
             note=f"{tr20:,} trades"),
        dict(metric="20 agents x 1,000 steps: decisions/s", value=f"{20_000 / t20:,.0f}", goal=">= 20,000", met=20_000 / t20 >= 20_000,
             peer="-", note=""),
        dict(metric="1,000 agents x 100 steps: decisions/s", value=f"{100_000 / t1k:,.0f}", goal="-", met=None, peer="-",
             note=f"{t1k:.2f} s, {tr1k:,} trades"),
    ])
    t0 = time.perf_counter()
    fb = facts_by_seed(None, seeds=range(10))
    wall = (time.perf_counter() - t0) / 10
    cfg = MarketConfig()
    rows = [dict(metric=f"facts met, seeds 0-9 ({cfg.num_agents} agents x {cfg.num_steps} steps)",
                 value=" ".join(str(int(x)) for x in fb.facts_met), goal=">= 5 each", met=bool((fb.facts_met >= 5).all()),
                 peer="S&P 500 daily: 5 of 6", note=f"{wall:.1f} s a run (simulate + metaorder experiment)")]
    rows += [dict(metric=f"  {k}", value=f"{int(fb[k].fillna(False).astype(bool).sum())}/10 seeds", goal="-", met=None, peer="-",
                  note={"hill": ""}.get(k, "")) for k in FACT_NAMES]
    rows[1 + FACT_NAMES.index("impact_exponent")]["note"] = f"delta {fb.impact_delta.min():.2f}-{fb.impact_delta.max():.2f}"
    rows[1 + FACT_NAMES.index("heavy_tails")]["note"] = f"Hill {fb.hill.min():.2f}-{fb.hill.max():.2f}"
    rows[1 + FACT_NAMES.index("no_autocorrelation")]["note"] = (f"lags out {fb.acf_lags_out.min()}-{fb.acf_lags_out.max()}; "
                                                                f"robust band {fb.acf_lags_out_robust.min()}-{fb.acf_lags_out_robust.max()}")
    print_table("stylized facts of the default market (diffmarket-simulate defaults)", rows)
