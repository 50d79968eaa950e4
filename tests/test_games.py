"""diffmarket.games: property tests (NashConv, Shapley axioms, commitment, the core), every GameError path, and the
parallel empirical game agreeing with the serial one."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from diffmarket.core import DiffmarketError
from diffmarket.config import MarketConfig
from diffmarket.games.forms import CooperativeGame, ContinuousGame, GameError, NormalFormGame
from diffmarket.games.nash_solver import GaussianProposal, NashEquilibriumSolver, almgren_chriss_game
from diffmarket.games.market_games import (Role, empirical_game, market_payoffs, kyle_game, liquidity_game,
    depth_near_mid)
from diffmarket.games.equilibria import (best_response, cournot_game, iterated_best_response, nash_conv,
    nash_equilibria, stackelberg)
from diffmarket.games.levelk import cognitive_hierarchy, level_k
from diffmarket.games.cooperative import core_point, least_core, nucleolus, shapley_sample, shapley_values

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def random_game(seed, m, n, integer=False):
    r = np.random.default_rng(seed)
    A, B = r.integers(-9, 10, (2, m, n)) if integer else r.standard_normal((2, m, n))
    return NormalFormGame([A, B])


def random_profile(game, seed):
    r = np.random.default_rng(seed)
    return tuple(r.dirichlet(np.ones(m)) for m in game.shape)


# --- NashConv and equilibria ------------------------------------------------------------------------------------

@FAST
@given(st.integers(0, 10_000), st.integers(1, 5), st.integers(1, 5), st.integers(0, 100))
def test_nash_conv_is_never_negative(seed, m, n, pseed):
    g = random_game(seed, m, n)
    assert nash_conv(g, random_profile(g, pseed)) >= 0


@FAST
@given(st.integers(0, 10_000), st.integers(2, 5), st.integers(2, 5))
def test_every_equilibrium_found_has_zero_nash_conv_and_pure_deviations_do_not_pay(seed, m, n):
    g = random_game(seed, m, n)
    eqs = nash_equilibria(g)
    assert len(eqs) >= 1 and len(eqs) % 2 == 1          # a non-degenerate game has an odd number of equilibria
    for e in eqs:
        assert nash_conv(g, e) < 1e-9
        for i in range(2):
            v = g.strategy_payoffs(e, i)
            assert v.max() <= v @ e[i] + 1e-9


@FAST
@given(st.integers(0, 10_000), st.integers(2, 4))
def test_three_player_logit_equilibrium_has_small_nash_conv(seed, m):
    r = np.random.default_rng(seed)
    g = NormalFormGame(list(r.integers(-5, 6, (3, m, m, m))))
    e = nash_equilibria(g)
    assert len(e) == 1 and e.nash_convs[0] < 1e-5


@FAST
@given(st.integers(0, 10_000), st.integers(2, 4), st.integers(2, 4))
def test_commitment_never_hurts_the_leader(seed, m, n):
    g = random_game(seed, m, n)
    sse = stackelberg(g)
    assert sse.follower_gain < 1e-7
    for e in nash_equilibria(g):
        assert sse.payoffs[0] >= g.expected_payoffs(e)[0] - 1e-7


def test_tolerance_aware_enumeration_matches_pygambit_exact_on_integer_games():
    for seed in range(15):
        g = random_game(seed, 4, 4, integer=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore"); ours = nash_equilibria(g)
        if ours.degenerate: continue
        ref = nash_equilibria(g, method="enummixed")
        assert len(ours) == len(ref)
        for e in ref: assert any(all(np.allclose(a, b, atol=1e-7) for a, b in zip(e, f)) for f in ours)


def test_fictitious_play_on_rock_paper_scissors_approaches_uniform():
    a = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]])
    g = NormalFormGame([a, -a])
    r = iterated_best_response(g, x0=(np.array([1.0, 0, 0]), np.array([0, 1.0, 0])), max_iter=2000, tol=1e-3)
    assert r.history.nash_conv.iloc[-1] < 0.1 < r.history.nash_conv.iloc[1]


@FAST
@given(st.integers(3, 8), st.floats(50, 200), st.floats(0.5, 2), st.floats(0, 40))
def test_cournot_ibr_reaches_the_closed_form(n, a, b, c):
    r = iterated_best_response(cournot_game(n, a, b, c), seed=0, tol=1e-14, max_iter=2000, damping=0.5)
    assert r.converged
    np.testing.assert_allclose(r.strategies, (a - c) / ((n + 1) * b), rtol=1e-5)


def test_level_k_of_a_dominance_solvable_game_reaches_the_equilibrium():
    # prisoner's dilemma: defecting (1) dominates; level 1 already defects
    g = NormalFormGame([[[3, 0], [5, 1]], [[3, 5], [0, 1]]])
    assert all((s == [0, 1]).all() for s in level_k(g, 1))
    ch = cognitive_hierarchy(g, 1.5, 3)
    assert ch.aggregate[0][1] > 0.7 and abs(ch.weights.sum() - 1) < 1e-12


# --- Shapley axioms, the core, the nucleolus --------------------------------------------------------------------

def random_coop(seed, n):
    r = np.random.default_rng(seed)
    vals = r.uniform(0, 10, 2 ** n); vals[0] = 0.0
    return CooperativeGame(n, lambda m: vals[(m * (1 << np.arange(n))).sum(1)], vectorized=True), vals


@FAST
@given(st.integers(0, 10_000), st.integers(1, 7))
def test_shapley_efficiency(seed, n):
    g, vals = random_coop(seed, n)
    assert math.isclose(shapley_values(g).sum(), vals[-1], rel_tol=1e-12, abs_tol=1e-12)
    est, se = shapley_sample(g, 50, seed=seed)
    assert math.isclose(est.sum(), vals[-1], rel_tol=1e-12, abs_tol=1e-12) and (se >= 0).all()


@FAST
@given(st.integers(0, 10_000), st.integers(2, 6))
def test_shapley_symmetry_and_dummy(seed, n):
    r = np.random.default_rng(seed)
    h = r.uniform(0, 5, (n + 1, 2))                       # players 0 and 1 are interchangeable; the last is a dummy
    dummy_value = float(r.uniform(-2, 2))
    def v(s):
        core = s - {n}
        return float(h[len(core), int(bool({0, 1} & core) and len({0, 1} & core) == 2)] * bool(core)) + dummy_value * (n in s)
    g = CooperativeGame(n + 1, v)
    phi = shapley_values(g)
    assert math.isclose(phi[0], phi[1], rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(phi[n], dummy_value, rel_tol=1e-9, abs_tol=1e-9)


@FAST
@given(st.integers(0, 10_000), st.integers(2, 6))
def test_sampled_shapley_is_calibrated(seed, n):
    g, _ = random_coop(seed, n)
    exact = shapley_values(g)
    est, se = shapley_sample(g, 400, seed=seed)
    assert (np.abs(est - exact) <= 5 * se + 1e-9).all()


def test_sampled_standard_errors_are_calibrated_over_many_samples():
    g, _ = random_coop(7, 6)
    exact = shapley_values(g)
    z = np.concatenate([(shapley_sample(g, 100, seed=s)[0] - exact) / shapley_sample(g, 100, seed=s)[1] for s in range(200)])
    assert 0.8 < z.std() < 1.2 and abs(z.mean()) < 0.15


@FAST
@given(st.integers(0, 10_000), st.integers(2, 6))
def test_convex_games_have_the_shapley_value_and_nucleolus_in_the_core(seed, n):
    w = np.random.default_rng(seed).uniform(0.5, 2, n)
    g = CooperativeGame(n, lambda m: (m * w).sum(1) ** 2, vectorized=True)        # supermodular
    assert core_point(g) is not None
    for x in (shapley_values(g), nucleolus(g)):
        for s in range(1, 2 ** n):
            members = [j for j in range(n) if s >> j & 1]
            assert x[members].sum() >= g.value(members) - 1e-6


@FAST
@given(st.integers(0, 10_000), st.integers(2, 5))
def test_nucleolus_lies_in_the_least_core(seed, n):
    g, vals = random_coop(seed, n)
    eps, _ = least_core(g)
    x = nucleolus(g)
    assert math.isclose(x.sum(), vals[-1], rel_tol=1e-9)
    for s in range(1, 2 ** n - 1):
        assert vals[s] - x[[j for j in range(n) if s >> j & 1]].sum() <= eps + 1e-6


# --- every GameError names what is wrong and where ----------------------------------------------------------------

mp = NormalFormGame([[[1, -1], [-1, 1]], [[-1, 1], [1, -1]]])
cg = cournot_game(2)

ERRORS = [
    (lambda: NormalFormGame([]), "NormalFormGame(payoffs): needs a list"),
    (lambda: NormalFormGame([[["a", 1]], [[1, 2]]]), "payoffs[0]: is not a numeric array"),
    (lambda: NormalFormGame([[[1, np.inf]], [[1, 2]]]), "payoffs[0]: has a non-finite payoff inf at (0, 1)"),
    (lambda: NormalFormGame([[[1, 2]], [[1, 2, 3]]]), "payoffs[1]: has shape (1, 3) but payoffs[0] has (1, 2)"),
    (lambda: NormalFormGame([[1, 2], [3, 4]]), "payoffs: 2 players need arrays with 2 axes"),
    (lambda: mp.check_profile(([0.5, 0.5],)), "profile: has 1 strategies for 2 players"),
    (lambda: mp.check_profile(([0.5, 0.5], [1.5, -0.5])), "profile[1]: has a negative probability -0.5"),
    (lambda: mp.check_profile(([0.5, 0.5], [0.5, 0.6])), "profile[1]: sums to 1.1, not 1"),
    (lambda: mp.check_profile(([np.nan, 0.5], [0.5, 0.5])), "profile[0]: is not finite"),
    (lambda: nash_equilibria(mp, method="magic"), "nash_equilibria(method): is 'magic'"),
    (lambda: nash_equilibria("game"), "nash_equilibria(game): is a str"),
    (lambda: best_response(mp, mp.uniform_profile(), 5), "player: is 5; the game has players 0..1"),
    (lambda: nash_conv(3, None), "game: is a int"),
    (lambda: ContinuousGame([], []), "ContinuousGame(utilities): needs a list"),
    (lambda: ContinuousGame([lambda x: 0.0], [(0, 1), (0, 1)]), "bounds: has 2 entries for 1 players"),
    (lambda: ContinuousGame([lambda x: 0.0], [(2, 1)]), "bounds[0]: has lo > hi"),
    (lambda: ContinuousGame([lambda x: 0.0], [(0, np.nan)]), "bounds[0]: must be finite"),
    (lambda: ContinuousGame([lambda x: 0.0], [5]), "bounds[0]: must be a pair (lo, hi)"),
    (lambda: ContinuousGame([lambda x: 0.0], [(0, 1)], oracles=[3]), "oracles[0]: is int, not a callable"),
    (lambda: cg.check_actions([1.0]), "actions: has shape (1,), expected (2,)"),
    (lambda: cg.check_actions([1.0, 1e9]), "actions[1]: = 1000000000.0 lies outside the bounds"),
    (lambda: ContinuousGame([lambda x: 1 / 0], [(0, 1)]).payoffs([0.5]), "utilities[0]: failed at actions [0.5]: ZeroDivisionError"),
    (lambda: ContinuousGame([lambda x: np.inf], [(0, 1)]).payoffs([0.5]), "utilities[0]: returned inf"),
    (lambda: iterated_best_response(cg, order="random"), "iterated_best_response(order): is 'random'"),
    (lambda: iterated_best_response(cg, damping=0), "iterated_best_response(damping): is 0"),
    (lambda: iterated_best_response(cg, averaging="mean"), "iterated_best_response(averaging): is 'mean'"),
    (lambda: iterated_best_response(cg, x0=[1.0, -5.0]), "x0[1]: = -5.0 lies outside the bounds"),
    (lambda: iterated_best_response(cg, players=[3]), "iterated_best_response(players): names player 3"),
    (lambda: stackelberg(cg, leader=2), "stackelberg(leader): is 2"),
    (lambda: stackelberg(NormalFormGame([np.zeros((2, 2, 2))] * 3)), "commitment in normal form is solved for two players"),
    (lambda: level_k(mp, -1), "level_k(k): is -1"),
    (lambda: level_k(mp, 1, level0=([1.0], [1.0])), "level0[0]: has shape (1,); player 0 has 2 strategies"),
    (lambda: cognitive_hierarchy(mp, -1.0, 3), "cognitive_hierarchy(tau): is -1.0"),
    (lambda: cognitive_hierarchy(mp, 1.5, -2), "cognitive_hierarchy(max_level): is -2"),
    (lambda: CooperativeGame(0, {}), "CooperativeGame(n): must be a positive integer"),
    (lambda: CooperativeGame(2, 5), "CooperativeGame(v): must be a callable or a dict"),
    (lambda: CooperativeGame(2, {frozenset({0, 3}): 1.0}), "v (dict key): names players outside 0..1: [0, 3]"),
    (lambda: shapley_values(CooperativeGame(2, {frozenset({0}): 1.0})), "v: has no value for coalition {1}"),
    (lambda: shapley_values(CooperativeGame(3, lambda s: 1 / (3 - len(s)))), "v: failed on coalition {0, 1, 2}: ZeroDivisionError"),
    (lambda: shapley_values(CooperativeGame(2, lambda s: "x")), "v: returned 'x' on coalition {}, not a number"),
    (lambda: shapley_values(CooperativeGame(2, lambda s: float("nan"))), "v: returned nan on coalition {}"),
    (lambda: shapley_values(CooperativeGame(25, lambda s: 0.0)), "exact methods stop at 24"),
    (lambda: shapley_sample(CooperativeGame(2, lambda s: 0.0), 1), "shapley_sample(n_samples): is 1"),
    (lambda: CooperativeGame(2, lambda s: 0.0).value([0, 4]), "coalition: names players outside 0..1: [0, 4]"),
    (lambda: nucleolus(CooperativeGame(17, lambda s: 0.0)), "nucleolus stops at 16"),
    (lambda: NashEquilibriumSolver(object(), 2), "NashEquilibriumSolver(model)"),
    (lambda: NashEquilibriumSolver(GaussianProposal(), 0), "NashEquilibriumSolver(num_agents): is 0"),
    (lambda: NashEquilibriumSolver(GaussianProposal(), 2).find_nash_equilibrium(mp), "market_state: is a NormalFormGame"),
    (lambda: NashEquilibriumSolver(GaussianProposal(), 2).find_nash_equilibrium(cg, [(0, 1)]), "constraints bounds: has 1 entries for 2 agents"),
    (lambda: NashEquilibriumSolver(GaussianProposal(), 2).find_nash_equilibrium(cg, [(200, 300), (0, 1)]), "constraints bounds[0]: (200, 300) leaves no action"),
    (lambda: NashEquilibriumSolver(GaussianProposal(), 2).find_nash_equilibrium(cg, {"limits": 1}), "constraints: has unknown keys ['limits']"),
    (lambda: GaussianProposal(decay=2), "GaussianProposal(decay): is 2"),
    (lambda: kyle_game(0, 1), "kyle_game: sigma_v=0, sigma_u=1 must both be > 0"),
    (lambda: almgren_chriss_game(1e6, 5, 5, 1, eta=1e-9, gamma=1e-6, lam=1e-6), "almgren_chriss_game: eta - gamma*tau/2"),
    (lambda: empirical_game([Role("noise", {"a": {}})]), "empirical_game(roles): needs at least two roles"),
    (lambda: empirical_game([Role("noise", {"a": {}}), Role("noise", {})]), "roles[1] (noise): has no settings"),
    (lambda: empirical_game([Role("noise", {"a": {}}), Role("noise", {"b": {}})], seeds=[0]), "empirical_game(seeds): needs at least two seeds"),
    (lambda: market_payoffs([Role("noise", {"a": {"no_such_key": 1}})], ["a"], 0), "roles[0] (noise): setting 'a'"),
    (lambda: depth_near_mid(type("E", (), {"depth_history": []})()), "depth_near_mid(env): the run recorded no depth"),
]


@pytest.mark.parametrize("call, message", ERRORS, ids=[m[:40] for _, m in ERRORS])
def test_every_game_error_names_what_is_wrong(call, message):
    with pytest.raises(GameError) as e:
        call()
    assert message in str(e.value)
    assert isinstance(e.value, DiffmarketError)


def test_an_oracle_that_fails_is_named():
    g = ContinuousGame([lambda x: 0.0, lambda x: 0.0], [(0, 1), (0, 1)], oracles=[None, lambda x: 1 / 0])
    with pytest.raises(GameError, match=r"oracles\[1\]: failed at actions"):
        nash_conv(g, [0.5, 0.5])


def test_a_vectorised_characteristic_function_that_fails_names_the_coalition():
    g = CooperativeGame(3, lambda m: np.where(m.sum(1) == 2, np.nan, m.sum(1)), vectorized=True)
    with pytest.raises(GameError, match=r"returned nan on coalition \{0, 1\}"):
        shapley_values(g)


# --- the market's games -----------------------------------------------------------------------------------------

def test_parallel_empirical_game_equals_the_serial_one():
    roles = [Role("market_maker", {"k=1.5": dict(mm_k=1.5), "k=0.25": dict(mm_k=0.25)}),
             Role("informed", {"size=100": dict(informed_order_size=100), "size=900": dict(informed_order_size=900)})]
    m = MarketConfig(num_steps=80)
    serial = empirical_game(roles, seeds=range(2), market=m)
    parallel = empirical_game(roles, seeds=range(2), market=m, n_jobs=2)
    for a, b in zip(serial.game.payoffs, parallel.game.payoffs): np.testing.assert_array_equal(a, b)
    for a, b in zip(serial.std_errors, parallel.std_errors): np.testing.assert_array_equal(a, b)


def test_liquidity_game_caches_runs_and_has_zero_empty_value():
    g = liquidity_game([dict(mm_k=1.5), dict(mm_k=0.5)], seed=0, market=MarketConfig(num_steps=60))
    assert g.value([]) == 0.0
    v01 = g.value([0, 1])
    assert v01 == g.value([1, 0]) and v01 > 0
