"""The diffusion market agent (nbs/31_market_agent): shapes and conditioning, every generated order feasible under
each rule, checkpoint round trip and corrupt checkpoints, seeded reproducibility, and the Ray path."""
import dataclasses, math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from diffmarket.market import environment as market
from diffmarket.core import DataError
from diffmarket.config import load_config
from diffmarket.market.environment import O, BreakerLevel
from diffmarket.games.market_agent.observation import (ACTION_NAMES, CONSTRAINT_FIELDS, FLOW_FIELDS, RESPONSE_FIELDS,
    RULE_NAMES, STATE_FIELDS, Rules, RuleState)
from diffmarket.games.market_agent.agent import MarketDiffusionAgent, load_market_agent
from diffmarket.games.market_agent.model import MarketDiffusionModel, project_plan, rule_tensors
from diffmarket.games.market_agent.training import MarketTrainer, load_market_checkpoint, save_market_checkpoint
from diffmarket.games.market_agent.episodes import (episode_seed, generate_episodes, make_windows, market_episode,
    parallel_map)


from market_agent_setup import small_cfg                                        # noqa: E402


@pytest.fixture(scope="module")
def trained(small_market_agent):
    "A model trained one epoch on six short episodes, and its checkpoint folder (shared with test_evaluate)."
    return small_market_agent


def test_dimensions_and_shapes(trained):
    cfg, w, model, _ = trained
    c = cfg.market_agent
    assert model.dims == dict(action_dim=len(ACTION_NAMES), state_dim=len(STATE_FIELDS), opponent_dim=len(FLOW_FIELDS),
                              constraint_dim=len(CONSTRAINT_FIELDS), response_dim=len(RESPONSE_FIELDS))
    B = 5
    emb = model.condition(w["state"][:B], w["flow"][:B], w["cons"][:B])
    assert emb.shape == (B, c.embed_dim)
    mu, ls = model.self_impact(emb, w["plan"][:B])
    assert mu.shape == ls.shape == (B, c.impact_horizon)
    assert model.opponent_response.predict(emb, w["plan"][:B, 0]).shape == (B, len(RESPONSE_FIELDS))
    s = model.sample(w["state"][:B], w["flow"][:B], w["cons"][:B], num_samples=3, generator=torch.Generator().manual_seed(0))
    assert s.shape == (B, 3, c.horizon, len(ACTION_NAMES)) and s.abs().max() <= 1
    assert set(model.compute_loss({k: v[:8] for k, v in w.items()})) == {"total", "denoise", "rules", "impact", "response"}


def test_the_generator_reads_the_rules(rules_market_agent):
    """Trained under drawn rules, the model alone (no projection) shrinks its orders under a tighter order cap and keeps to
    it, and sends fewer first orders during a halt: a proposer blind to the condition would do neither."""
    _, w, model = rules_market_agent
    idx = torch.arange(0, len(w["ret"]), max(1, len(w["ret"]) // 64))[:64]
    st, fl, co = w["state"][idx], w["flow"][idx], w["cons"][idx].clone()
    cap, halt = CONSTRAINT_FIELDS.index("order_cap"), CONSTRAINT_FIELDS.index("halted")
    co[:, halt], co[:, cap] = 0.0, 1.0
    def sent(cons):
        x = model.sample(st, fl, cons, num_samples=4, generator=torch.Generator().manual_seed(0))
        return x[..., 0] > 0, x[..., 1].abs()
    tight, halted = co.clone(), co.clone()
    tight[:, cap], halted[:, halt] = 0.1, 1.0
    (g1, q1), (g2, q2), (g3, _) = sent(co), sent(tight), sent(halted)
    over = lambda g, q: (q[g] > 0.1 + 1e-3).float().mean()
    assert q2[g2].mean() < 0.7 * q1[g1].mean()                                   # sizes shrink with the cap
    assert over(g2, q2) < 0.6 * over(g1, q1)                                      # fewer orders above 100 shares when that is the cap
    assert g3[..., 0].float().mean() < 0.7 * g1[..., 0].float().mean()             # first orders during a halt: fewer


def test_the_seeds_signature():
    m = MarketDiffusionModel(action_dim=3, state_dim=14, opponent_dim=4, constraint_dim=12)
    assert m.denoiser.unet.final_conv[-1].out_channels == 3


def test_generation_is_conditioned(trained):
    "Seeded generation; the impact and response modules read the action, and their ablations do not."
    _, w, model, _ = trained
    args = (w["state"][:2], w["flow"][:2], w["cons"][:2])
    gen = lambda **kw: model.sample(*args, num_samples=4, generator=torch.Generator().manual_seed(1), **kw)
    base = gen()
    assert torch.equal(base, gen())                                               # same seed, same strategies
    emb = model.condition(*args)
    a0, a1 = torch.zeros(2, 8, 3), torch.zeros(2, 8, 3)
    a0[:, :, 0] = -1; a1[:, 0] = torch.tensor([1.0, 0.8, 1.0])
    assert not torch.allclose(model.self_impact(emb, a0)[0], model.self_impact(emb, a1)[0])
    assert not torch.allclose(model.opponent_response(emb, a0[:, 0]), model.opponent_response(emb, a1[:, 0]))
    model.self_impact.use_action = False
    try: assert torch.allclose(model.self_impact(emb, a0)[0], model.self_impact(emb, a1)[0])
    finally: model.self_impact.use_action = True
    cons2 = w["cons"][:2].clone(); cons2[:, CONSTRAINT_FIELDS.index("halted")] = 1.0
    assert not torch.allclose(emb, model.condition(w["state"][:2], w["flow"][:2], cons2))


# ---------------------------------------------------------------- feasibility under each rule
rule_states = st.builds(
    lambda mid, lo, hi, pos, halted, rb, rs: RuleState(mid, min(lo, mid), max(hi, mid), float(pos), halted, rb, rs),
    st.integers(50, 20_000), st.integers(1, 20_000), st.integers(1, 30_000), st.integers(-12_000, 12_000), st.booleans(),
    st.integers(0, 500), st.integers(0, 500))
rules_st = st.builds(lambda L, cap, pl: Rules(price_limit=pl, position_limit=float(L), max_order_qty=cap),
                     st.integers(100, 10_000), st.integers(1, 1_000), st.sampled_from([None, 0.01, 0.1]))


@settings(max_examples=400, deadline=None)
@given(rules_st, rule_states, st.integers(-5_000, 5_000), st.integers(-100, 100))
def test_projected_order_breaks_no_rule(rules, rs, qty, offset):
    q, o = rules.project_order(rs, qty, offset)
    assert rules.violations(rs, q, o) == ()
    if rs.halted: assert q == 0
    assert abs(q) <= rules.max_order_qty
    if q: assert rs.band_lo <= rs.mid + np.sign(q) * o <= rs.band_hi


@settings(max_examples=150, deadline=None)
@given(rules_st, rule_states, st.integers(0, 10_000))
def test_projected_plan_respects_every_rule(rules, rs, seed):
    "A plan projected during generation: sizes within the order limit, the path within the position limit (resting"
    "orders counted at the first step), nothing in the first step during a halt, every offset inside the band."
    g = torch.Generator().manual_seed(seed)
    pp = project_plan(torch.rand((4, 8, 3), generator=g) * 2 - 1, rule_tensors([rs] * 4), rules).double()
    q = torch.where(pp[..., 0] > 0, pp[..., 1], torch.zeros_like(pp[..., 1])) * rules.qty_scale
    off = pp[..., 2] * rules.offset_scale
    tol = 1e-3 * max(1.0, rules.position_limit)
    assert (q.abs() <= rules.max_order_qty + 1e-3).all()
    path = rs.position + q.cumsum(1)
    first = rs.position + q[:, 0]
    assert (path <= rules.position_limit + tol).all() or rs.position > rules.position_limit
    assert (path >= -rules.position_limit - tol).all() or rs.position < -rules.position_limit
    assert (first + rs.resting_buy * (q[:, 0] > 0) <= max(rules.position_limit, rs.position) + tol).all()
    if rs.halted: assert (q[:, 0] == 0).all()
    price = rs.mid + torch.sign(q) * off
    live = q.abs() > 0.5
    assert ((price[live] >= rs.band_lo - 1e-3) & (price[live] <= rs.band_hi + 1e-3)).all()


def test_each_rule_counted_and_projected():
    rules = Rules(position_limit=1_000.0, max_order_qty=300, price_limit=0.01)
    rs = RuleState(10_000, 9_900, 10_100, 900.0, False)
    assert rules.violations(rs, 200, 1) == ("position_limit",)
    assert rules.violations(rs, -400, 1) == ("order_size",)
    assert rules.violations(rs, -100, 150) == ("price_limit",)
    assert rules.violations(rs._replace(halted=True), -100, 1) == ("halt",)
    assert set(RULE_NAMES) == {"halt", "order_size", "position_limit", "price_limit"}


def agent_for(model, cfg, project=True, **rule_kw):
    rules = dataclasses.replace(Rules.from_config(cfg.market, cfg.market_agent), **rule_kw)
    return MarketDiffusionAgent(model, rules, cfg.market_agent, seed=0, project=project)


def test_agent_sends_no_infeasible_order_under_tight_rules(trained):
    cfg, _, model, _ = trained
    tight = dataclasses.replace(cfg, market=dataclasses.replace(cfg.market, position_limit=800.0, price_limit=0.003))
    for project in (True, False):
        a = agent_for(model, tight, project=project, max_order_qty=20)      # below what it learned to send: the projection must act
        eps = [market_episode(tight.market, tight.market_agent, episode_seed(5, i), slot=a, num_steps=60) for i in range(3)]
        counts = {k: sum(e["counts"][k] for e in eps) for k in eps[0]["counts"]}
        if project:
            assert counts["sent_infeasible"] == 0 and sum(e["rejected"].sum() for e in eps) == 0
            assert all(np.abs(e["action"][:, 0]).max() <= 20 for e in eps)
        else:
            assert counts["infeasible"] > 0 and counts["sent_infeasible"] == counts["infeasible"]
            assert counts["order_size"] > 0


def test_no_order_during_a_halt(trained, monkeypatch):
    "A breaker that trips on a 0.2% move: whenever the agent's observation says halted, it sends nothing."
    cfg, _, model, _ = trained
    monkeypatch.setitem(market.CIRCUIT_BREAKERS, "tiny", [BreakerLevel(0.002, 10, None, "both")])
    monkeypatch.setitem(market.SESSION_MINUTES, "tiny", 390)
    m = dataclasses.replace(cfg.market, circuit_breaker="tiny")
    a = agent_for(model, dataclasses.replace(cfg, market=m))
    halted_steps = 0
    for i in range(4):
        ep = market_episode(m, cfg.market_agent, episode_seed(9, i), slot=a, num_steps=60)
        h = ep["cons"][:, CONSTRAINT_FIELDS.index("halted")] > 0.5
        halted_steps += int(h.sum())
        assert (ep["action"][h, 0] == 0).all()
    assert halted_steps > 0, "the breaker never tripped: the test proves nothing"


# ---------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip(trained, tmp_path):
    _, w, model, out = trained
    back, meta = load_market_checkpoint(out / "best_model.pt")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), back.state_dict().values()))
    args = (w["state"][:3], w["flow"][:3], w["cons"][:3])
    assert torch.equal(model.sample(*args, generator=torch.Generator().manual_seed(4)), back.sample(*args, generator=torch.Generator().manual_seed(4)))
    save_market_checkpoint(tmp_path / "again.pt", back, meta)
    again, _ = load_market_checkpoint(tmp_path / "again.pt")
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), back.state_dict().values()))
    obj = torch.load(out / "best_model.pt", weights_only=True)                  # plain data: nothing pickled runs
    assert obj["format"] == "diffmarket-market-agent"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_format", "pickled_object", "wrong_shapes", "missing"])
def test_corrupt_checkpoint_one_clear_error(trained, tmp_path, damage):
    _, _, _, out = trained
    raw = (out / "best_model.pt").read_bytes()
    p = tmp_path / "bad.pt"
    if damage == "truncate": p.write_bytes(raw[: len(raw) // 3])
    elif damage == "garbage": p.write_bytes(b"\x00" * 100)
    elif damage == "other_format": torch.save({"format": "diffmarket-policy", "meta": "{}"}, p)
    elif damage == "pickled_object":
        import pathlib; torch.save({"format": "diffmarket-market-agent", "x": pathlib.PurePosixPath("x")}, p)
    elif damage == "wrong_shapes":
        obj = torch.load(out / "best_model.pt", weights_only=True)
        k = next(iter(obj["state_dict"])); obj["state_dict"][k] = torch.zeros(3, 3, 3); torch.save(obj, p)
    with pytest.raises(DataError) as e: load_market_checkpoint(p)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg
    assert {"truncate": "truncated, corrupt", "garbage": "truncated, corrupt", "other_format": "not a diffmarket market-agent checkpoint",
            "pickled_object": "Python objects", "wrong_shapes": "does not match its model config", "missing": "not found"}[damage] in msg


# ---------------------------------------------------------------- seeded reproducibility
def test_episodes_reproducible_and_seeded():
    cfg = small_cfg()
    a, b = generate_episodes(cfg, 3, progress=False), generate_episodes(cfg, 3, progress=False)
    assert all(np.array_equal(x["mid"], y["mid"]) and np.array_equal(x["action"], y["action"]) for x, y in zip(a, b))
    c = generate_episodes(cfg, 3, seed=1, progress=False)
    assert not np.array_equal(a[0]["mid"], c[0]["mid"])


def test_training_reproducible():
    cfg = small_cfg()
    w = make_windows(generate_episodes(cfg, 3, progress=False), cfg.market_agent)
    models = []
    for _ in range(2):
        tr = MarketTrainer(w, cfg, progress=False); tr.fit(); models.append(tr.best_model())
    assert all(torch.equal(x, y) for x, y in zip(models[0].state_dict().values(), models[1].state_dict().values()))


def test_agent_episode_reproducible(trained):
    cfg, _, _, out = trained
    runs = [market_episode(cfg.market, cfg.market_agent, 11, slot=load_market_agent(out, seed=s), num_steps=40) for s in (0, 3)]
    assert np.array_equal(runs[0]["action"], runs[1]["action"]) and np.array_equal(runs[0]["mid"], runs[1]["mid"])


def test_same_results_whatever_the_local_workers():
    cfg = small_cfg()
    one, two = (generate_episodes(cfg, 4, workers=w, progress=False) for w in (1, 2))
    assert all(np.array_equal(x["mid"], y["mid"]) and np.array_equal(x["pnl_all"], y["pnl_all"]) for x, y in zip(one, two))


# ---------------------------------------------------------------- Ray
def test_ray_same_seeds_same_results_whatever_the_workers(trained):
    "A local Ray cluster on this machine: data and agent episodes equal the local serial run, for 1 and 2 workers."
    ray = pytest.importorskip("ray")
    from diffmarket.games.evaluate import run_episodes
    cfg, _, model, out = trained
    serial = generate_episodes(cfg, 4, workers=1, progress=False)
    agent = load_market_agent(out, seed=0)
    local_agent = run_episodes(cfg, "diffusion", agent, num_episodes=3, workers=1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for w in (1, 2):
            got = generate_episodes(cfg, 4, workers=w, ray_address="auto", progress=False)
            assert all(np.array_equal(x["mid"], y["mid"]) and np.array_equal(x["action"], y["action"]) for x, y in zip(serial, got))
            remote = run_episodes(cfg, "diffusion", agent, num_episodes=3, workers=w, ray_address="auto")
            assert all(np.array_equal(x["action"], y["action"]) and np.array_equal(x["pnl_all"], y["pnl_all"]) for x, y in zip(local_agent, remote))
            assert [e["seed"] for e in remote] == [e["seed"] for e in local_agent]
    finally: ray.shutdown()
