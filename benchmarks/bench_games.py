"""Game layer: speed and answers side by side.

1. All equilibria of random 8x8 and 10x10 bimatrix games (integer payoffs in -99..99, exact in every solver):
   diffmarket's tolerance-aware batched support enumeration against pygambit's exact enumeration (enummixed,
   rational arithmetic) and nashpy (support_enumeration, and vertex_enumeration on 8x8). Goal: every equilibrium
   pygambit finds, and at least nashpy's speed.
2. Exact Shapley values for n = 20 (the airport game, a vectorised characteristic function; closed form known),
   goal < 5 s on one core; sampled for n = 100: error against the number of permutations and whether the standard
   errors are calibrated (share of players whose error is within 1.96 standard errors).
3. Iterated best response on a 100-firm Cournot game with the numerical oracle: goal < 10 s to NashConv < 1e-6 of
   total profit; and the sweeps plain against damped Gauss-Seidel need (exact oracle).
4. Empirical-game payoffs per second from the simulator (a 3x3 game, 300-step runs), serially and on all cores.
"""
import os, sys, time, warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table
from diffmarket.config import MarketConfig
from diffmarket.games.forms import NormalFormGame, CooperativeGame
from diffmarket.games.equilibria import nash_equilibria, same_equilibria, cournot_game, iterated_best_response
from diffmarket.games.cooperative import shapley_values, shapley_sample
from diffmarket.games.market_games import Role, empirical_game


def bimatrix(m, seeds, nashpy_seeds, vertex):
    import nashpy
    found = dict(ours=0, gambit=0, nashpy=0, vertex=0)
    t = dict(ours=0.0, gambit=0.0, nashpy=0.0, ours_on_nashpy=0.0, vertex=0.0, ours_on_vertex=0.0)
    all_found, degenerate, games, np_games = True, 0, 0, 0
    for s in seeds:
        A, B = np.random.default_rng([m, s]).integers(-99, 100, (2, m, m))
        G = NormalFormGame([A, B])
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore"); ours = nash_equilibria(G)
        dt = time.perf_counter() - t0
        if ours.degenerate: degenerate += 1; continue
        games += 1; t["ours"] += dt; found["ours"] += len(ours)
        t0 = time.perf_counter(); ref = nash_equilibria(G, method="enummixed"); t["gambit"] += time.perf_counter() - t0
        found["gambit"] += len(ref); all_found &= same_equilibria(ours, ref)
        if s in nashpy_seeds:
            np_games += 1
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter(); n_np = len(list(nashpy.Game(A, B).support_enumeration())); t["nashpy"] += time.perf_counter() - t0
                found["nashpy"] += n_np; t["ours_on_nashpy"] += dt
                if vertex:
                    t0 = time.perf_counter(); n_v = len(list(nashpy.Game(A, B).vertex_enumeration())); t["vertex"] += time.perf_counter() - t0
                    found["vertex"] += n_v; t["ours_on_vertex"] += dt
    rows = [dict(metric=f"{m}x{m}: equilibria found ({games} games)", value=f"{found['ours']} (pygambit exact: {found['gambit']})",
                 goal="every one pygambit finds", met=all_found,
                 peer=f"nashpy support_enumeration: {found['nashpy']} on {np_games} of the games" + (f"; vertex_enumeration {found['vertex']}" if vertex else ""),
                 note=f"{degenerate} degenerate game(s) skipped"),
            dict(metric=f"{m}x{m}: seconds per game", value=f"{t['ours'] / games:.3f}", goal="-", met=None,
                 peer=f"pygambit {t['gambit'] / games:.3f}; nashpy support {t['nashpy'] / np_games:.2f}" + (f"; vertex {t['vertex'] / np_games:.2f}" if vertex else "")),
            dict(metric=f"{m}x{m}: speed ratio to nashpy support_enumeration", value=f"{t['nashpy'] / t['ours_on_nashpy']:.0f}x",
                 goal=">= 1x", met=t["nashpy"] >= t["ours_on_nashpy"],
                 peer=(f"to vertex_enumeration {t['vertex'] / t['ours_on_vertex']:.0f}x; " if vertex else "") + f"to pygambit {t['gambit'] / t['ours']:.1f}x")]
    return rows


def airport(n, seed=0):
    cost = np.sort(np.random.default_rng(seed).uniform(1, 100, n))
    steps = np.diff(np.r_[0, cost])
    closed = np.cumsum(steps / (n - np.arange(n)))
    g = CooperativeGame(n, lambda m: np.where(m.any(1), np.max(np.where(m, cost, 0.0), axis=1), 0.0), vectorized=True)
    return g, closed


def shapley_rows():
    g, closed = airport(20)
    t0 = time.perf_counter(); phi = shapley_values(g); dt = time.perf_counter() - t0
    rows = [dict(metric="exact Shapley, n=20 (2^20 coalitions)", value=f"{dt:.2f} s", goal="< 5 s, one core", met=dt < 5,
                 note=f"max error vs closed form {np.abs(phi - closed).max():.1e}")]
    g, closed = airport(100, seed=1)
    for m in (100, 1000, 10_000):
        t0 = time.perf_counter(); est, se = shapley_sample(g, m, seed=0); dt = time.perf_counter() - t0
        err = est - closed
        cover = float((np.abs(err) <= 1.96 * se).mean())
        rows.append(dict(metric=f"sampled Shapley, n=100, {m} orders", value=f"RMS error {np.sqrt((err ** 2).mean()):.3f}",
                         goal="std errors calibrated (~95% within 1.96 se)", met=0.88 <= cover <= 0.99,
                         peer=f"mean std error {se.mean():.3f}", note=f"{cover:.0%} within 1.96 se; efficiency off by {abs(est.sum() - closed.sum()):.1e}; {dt:.2f} s"))
    rows[-3]["note"] += " (a plane's marginal cost is non-zero only in the orders where it arrives before every longer plane, rare for short planes: a few hundred orders underestimate that spread)"
    return rows


def cournot_rows():
    n, a, b, c = 100, 100.0, 1.0, 10.0
    g = cournot_game(n, a, b, c, exact=False)
    t0 = time.perf_counter(); r = iterated_best_response(g, seed=0, max_iter=2000, damping=0.1); dt = time.perf_counter() - t0
    profit = g.payoffs(r.strategies).sum()
    rel = r.nash_conv / profit
    plain = iterated_best_response(cournot_game(n, a, b, c), seed=0, max_iter=5000)
    damped = iterated_best_response(cournot_game(n, a, b, c), seed=0, max_iter=5000, damping=0.1)
    return [dict(metric="IBR, 100-firm Cournot (numerical oracle, damped Gauss-Seidel a=0.1)", value=f"{dt:.1f} s",
                 goal="< 10 s to NashConv < 1e-6 of total profit", met=dt < 10 and rel < 1e-6,
                 note=f"{r.iterations} sweeps; NashConv/profit {rel:.1e}; max |q - (a-c)/(n+1)b| {np.abs(r.strategies - (a - c) / ((n + 1) * b)).max():.1e}"),
            dict(metric="  sweeps to the same tolerance, exact oracle", value=f"a=1: {plain.iterations}; a=0.1: {damped.iterations}",
                 goal="-", met=None, note="plain Gauss-Seidel overshoots with many players")]


def empirical_rows():
    roles = [Role("market_maker", {"k=1.5": dict(mm_k=1.5), "k=0.5": dict(mm_k=0.5), "k=0.25": dict(mm_k=0.25)}),
             Role("informed", {"size=100": dict(informed_order_size=100), "size=300": dict(informed_order_size=300),
                               "size=900": dict(informed_order_size=900)})]
    m = MarketConfig(num_steps=300)
    seeds = range(8)
    runs = 9 * len(seeds)
    t0 = time.perf_counter(); serial = empirical_game(roles, seeds, m); ds = time.perf_counter() - t0
    cores = os.cpu_count() or 1
    t0 = time.perf_counter(); par = empirical_game(roles, seeds, m, n_jobs=cores); dp = time.perf_counter() - t0
    same = all(np.array_equal(x, y) for x, y in zip(serial.game.payoffs, par.game.payoffs))
    return [dict(metric="empirical-game payoffs per second (300-step runs, 4 agents)", value=f"serial {runs / ds:.1f}/s",
                 goal="-", met=None, peer=f"{cores} cores: {runs / dp:.1f}/s ({ds / dp:.2f}x)",
                 note=f"{runs} runs; parallel payoffs identical to serial: {same}")]


if __name__ == "__main__":
    rows = []
    rows += bimatrix(8, seeds=range(5), nashpy_seeds=set(range(5)), vertex=True)
    rows += bimatrix(10, seeds=range(3), nashpy_seeds={0}, vertex=False)
    rows += shapley_rows()
    rows += cournot_rows()
    rows += empirical_rows()
    print_table("games: equilibria, Shapley values, IBR, empirical games", rows)
