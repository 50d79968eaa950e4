"""Training determinism, checkpoint round trip and corruption, resume, CLI end to end (train → backtest)."""
import json, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from diffmarket.config import load_config
from diffmarket.core import DataError, Observation
from diffmarket.data.loaders import load_bars, sample_path
from diffmarket.data.humans import synthetic_trader
from diffmarket.data.features import StrategyData
from diffmarket.policy.train import Trainer, load_checkpoint, save_checkpoint
from diffmarket.policy.learned import load_policy
from diffmarket.policy.imitation import imitation_report
from diffmarket.app.cli import train_cmd as train_main
from diffmarket.trading.backtest import Backtest

TINY = {"model": {"down_dims": [16, 32], "diffusion_step_embed_dim": 16, "obs_embed_dim": 16},
        "training": {"epochs": 2, "batch_size": 128, "lr_warmup_steps": 5}}

@pytest.fixture(scope="module")
def market():
    bars = load_bars(sample_path("sp500_daily.csv"))
    spx = bars[bars.timestamp >= "2015-06-01"].reset_index(drop=True)
    human = synthetic_trader(spx, "trend", seed=0)
    return spx, human, StrategyData.build(spx, human)

def _weights(model): return [v.clone() for v in model.state_dict().values()]

@pytest.mark.parametrize("kind", ["diffusion", "mse"])
def test_same_seed_same_weights(market, kind):
    cfg = load_config(overrides={**TINY, "model": {**TINY["model"], "kind": kind}})
    a, b = Trainer(market[2], cfg, progress=False), Trainer(market[2], cfg, progress=False)
    ha, hb = a.fit(), b.fit()
    assert ha.train_loss.tolist() == hb.train_loss.tolist()
    assert all(torch.equal(x, y) for x, y in zip(_weights(a.best_model()), _weights(b.best_model())))
    cfg.training.seed = 1
    c = Trainer(market[2], cfg, progress=False); c.fit()
    assert not all(torch.equal(x, y) for x, y in zip(_weights(a.best_model()), _weights(c.best_model())))

def test_checkpoint_round_trip_and_errors(market, tmp_path):
    t = Trainer(market[2], load_config(overrides=TINY), progress=False); t.fit(out_dir=tmp_path)
    m, meta = load_checkpoint(tmp_path / "best_model.pt")
    assert all(torch.equal(x, y) for x, y in zip(_weights(t.best_model()), _weights(m)))
    assert meta["normalizer"]["mean"] == market[2].normalizer.to_dict()["mean"]
    raw = (tmp_path / "best_model.pt").read_bytes()
    for name, data in [("trunc.pt", raw[: len(raw) // 2]), ("junk.pt", b"not a checkpoint at all"), ("empty.pt", b"")]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match="not a readable diffmarket checkpoint"): load_checkpoint(tmp_path / name)
    torch.save({"a": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(DataError, match="not a diffmarket policy checkpoint"): load_checkpoint(tmp_path / "other.pt")
    meta2 = dict(meta, model=dict(meta["model"], down_dims=[32, 64]))          # config that does not fit the weights
    save_checkpoint(tmp_path / "mismatch.pt", m, meta2)
    with pytest.raises(DataError, match="does not match its model config"): load_checkpoint(tmp_path / "mismatch.pt")
    with pytest.raises(DataError, match="checkpoint not found"): load_checkpoint(tmp_path / "none.pt")

def test_resume_matches_uninterrupted(market, tmp_path):
    cfg = load_config(overrides={**TINY, "training": {**TINY["training"], "epochs": 3}})
    a = Trainer(market[2], cfg, progress=False); a.cfg.training.epochs = 2; a.fit(out_dir=tmp_path)
    b = Trainer(market[2], cfg, progress=False); hb = b.fit(resume=tmp_path / "last_state.pt")
    c = Trainer(market[2], cfg, progress=False); hc = c.fit()
    np.testing.assert_allclose(hb.train_loss.values, hc.train_loss.values, rtol=1e-6)

def test_policy_is_deterministic_and_confident_in_range(market, tmp_path):
    spx, human, sd = market
    t = Trainer(sd, load_config(overrides=TINY), progress=False); t.fit(out_dir=tmp_path)
    runs = [Backtest(spx, load_policy(tmp_path), start=sd.split_times[1]).run() for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0].positions, runs[1].positions)
    pol = load_policy(tmp_path / "best_model.pt")
    rerun = Backtest(spx, pol, start=sd.split_times[1]).run()           # the same object twice: it resets itself
    pd.testing.assert_frame_equal(rerun.positions, Backtest(spx, pol, start=sd.split_times[1]).run().positions)
    ex = pol.last_samples[:, :, :pol.n_action_steps]
    assert pol.last_confidence == pytest.approx(float(np.clip(1 - ex.std(axis=1).mean(), 0, 1)))
    rep = imitation_report(runs[0], human, spx, out_dir=tmp_path)
    saved = json.loads((tmp_path / "imitation.json").read_text())
    assert saved["position_agreement"] == pytest.approx(rep["position_agreement"])
    assert saved["num_bars"] == len(runs[0].equity) and saved["start"] == str(sd.split_times[1])

def test_cli_train_then_backtest(market, tmp_path):
    spx, human, _ = market
    spx.assign(timestamp=spx.timestamp.dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "bars.csv", index=False)
    human.to_csv(tmp_path / "trades.csv", index=False)
    (tmp_path / "config.yaml").write_text(json.dumps(TINY))                 # JSON is YAML
    exe = Path(sys.executable).parent
    r = subprocess.run([exe / "diffmarket-train", "--config", tmp_path / "config.yaml", "--data_path", tmp_path / "trades.csv",
                        "--market_path", tmp_path / "bars.csv", "--out", tmp_path / "ckpt", "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "ckpt" / "best_model.pt").exists()
    r = subprocess.run([exe / "diffmarket-backtest", "--market_path", tmp_path / "bars.csv", "--model_path",
                        tmp_path / "ckpt" / "best_model.pt", "--start_date", "2017-06-01", "--report", tmp_path / "rep"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["num_bars"] > 100 and (tmp_path / "rep" / "metrics.json").exists()

@pytest.mark.parametrize("args,msg", [(["--model", "gan"], "model.kind"), (["--epochs", "0"], "training.epochs"),
                                      (["--market_path", "nope.csv"], "file not found")])
def test_cli_bad_input_one_line_nothing_written(market, tmp_path, capsys, args, msg):
    spx, human, _ = market
    spx.to_csv(tmp_path / "bars.csv", index=False); human.to_csv(tmp_path / "trades.csv", index=False)
    base = {"--data_path": str(tmp_path / "trades.csv"), "--market_path": str(tmp_path / "bars.csv"), "--out": str(tmp_path / "out")}
    for k, v in zip(args[::2], args[1::2]): base[k] = str(tmp_path / v) if v.endswith(".csv") else v
    assert train_main([x for kv in base.items() for x in kv] + ["--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and msg in err[0]
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.tmp-*"))

def test_policy_features_equal_training_features(market):
    "At inference the policy rebuilds exactly the features the model was trained on (given the same positions)."
    from diffmarket.data.loaders import bars_to_panel
    from diffmarket.policy.learned import DiffusionPolicy
    spx, human, sd = market
    t = Trainer(sd, load_config(overrides=TINY), progress=False)
    pol = DiffusionPolicy(t.best_model(), t.meta)
    idx, syms, ohlcv = bars_to_panel(spx)
    for k in range(len(idx) - 1):
        obs = Observation(k, idx[k], syms, ohlcv[:k + 1], sd.positions[k].copy())
        pol._last_t = k; pol._record(obs)
        if k >= 70 and k % 7 == 0:
            To = sd.cfg.n_obs_steps
            np.testing.assert_allclose(pol._obs_features(obs)[0], sd.features[0][k - To + 1:k + 1], atol=1e-5)

class _Evil:
    def __reduce__(self): return (print, ("pickled code ran",))

def test_checkpoint_never_runs_pickled_code(tmp_path, capsys):
    torch.save({"format": "diffmarket-policy", "meta": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(DataError, match="Python objects other than tensors"): load_checkpoint(tmp_path / "evil.pt")
    assert "pickled code ran" not in capsys.readouterr().out

def test_switch_windows_are_oversampled(market):
    from diffmarket.policy.train import switch_windows
    from diffmarket.core import ConfigError
    sd = market[2]
    sw = switch_windows(sd.train, 1)
    assert 0 < sw.sum() < len(sw) // 5                      # switches are rare
    obs, act = sd.train.tensors()                            # a switch: next target differs from the position held now
    pc = sd.feature_names.index("position")
    cur = obs[:, -1, pc].numpy() * sd.normalizer.std[pc] + sd.normalizer.mean[pc]
    np.testing.assert_array_equal(sw, np.abs(act[:, 0, 0].numpy() - cur) > 1e-4)
    t = Trainer(sd, load_config(overrides={**TINY, "training": {**TINY["training"], "switch_weight": 10.0}}), progress=False)
    draws = torch.multinomial(t.weights, 20_000, replacement=True, generator=torch.Generator().manual_seed(0)).numpy()
    expected = 10 * sw.sum() / (10 * sw.sum() + (~sw).sum())
    assert abs(sw[draws].mean() - expected) < 0.02 and sw[draws].mean() > 3 * sw.mean()
    assert Trainer(sd, load_config(overrides={**TINY, "training": {**TINY["training"], "switch_weight": 1.0}}), progress=False).weights is None
    with pytest.raises(ConfigError, match="training.switch_weight"):
        Trainer(sd, load_config(overrides={**TINY, "training": {**TINY["training"], "switch_weight": 0.0}}), progress=False)

def test_action_levels_from_training_windows(market):
    from diffmarket.core import ConfigError
    from diffmarket.data.features import WindowDataset
    from diffmarket.policy.train import action_levels
    assert action_levels(market[2].train, "auto") == [-1.0, 0.0, 1.0]          # the trend human: short, flat, long
    assert action_levels(market[2].train, "value") is None
    many = WindowDataset(np.zeros((60, 3)), np.linspace(-1, 1, 60)[:, None], np.arange(2, 40), 2, 4)
    assert action_levels(many, "auto") is None                                # sized continuously: diffuse the value
    with pytest.raises(ConfigError, match="model.action_encoding"): action_levels(many, "levels")

def test_level_encoded_policy_round_trips_and_samples_levels(market, tmp_path):
    t = Trainer(market[2], load_config(overrides=TINY), progress=False); t.fit(out_dir=tmp_path)
    assert t.meta["action_levels"] == [-1.0, 0.0, 1.0] and t.model.net_dim == 3
    m, meta = load_checkpoint(tmp_path / "best_model.pt")
    torch.testing.assert_close(m.levels, torch.tensor([-1.0, 0.0, 1.0]))
    obs = market[2].test.tensors()[0][:5]
    s = m.sample(obs, num_samples=4, seed=0)
    assert s.shape == (5, 4, market[2].cfg.horizon, 1) and set(s.unique().tolist()) <= {-1.0, 0.0, 1.0}
    torch.testing.assert_close(s, t.best_model().sample(obs, num_samples=4, seed=0))
    v = Trainer(market[2], load_config(overrides={**TINY, "model": {**TINY["model"], "action_encoding": "value"}}), progress=False)
    assert v.meta["action_levels"] is None and v.model.net_dim == 1

def test_consensus_takes_the_majority_direction_and_draws_the_size(market):
    "Majority direction decides whether to trade; the size keeps the agreeing samples' odds; ties hold, then go flat."
    from diffmarket.policy.learned import DiffusionPolicy
    t = Trainer(market[2], load_config(overrides=TINY), progress=False)
    pol = DiffusionPolicy(t.best_model(), t.meta, seed=0)
    pol.levels = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])                     # a human who trades one or two lots
    ex = np.array([1.0, 1.0, 1.0, 0.5, 0.5, 0.0, 0.0, 0.0])[None, :, None]  # 5 of 8 long, 3 of them two lots
    picks = np.array([pol._consensus(ex)[0, 0] for _ in range(2000)])
    assert set(picks) == {0.5, 1.0} and abs((picks == 1.0).mean() - 0.6) < 0.04
    tie = np.array([1.0] * 4 + [0.0] * 4)[None, :, None]
    assert pol._consensus(tie, current=[pol.scale])[0, 0] == 1.0          # a tie keeps the current direction
    assert pol._consensus(tie, current=[0.0])[0, 0] == 0.0
    assert pol._consensus(tie, current=[-pol.scale])[0, 0] == 0.0         # neither side holds it: flat


NEW_FEATURES = ("entry_return", "unrealised_return", "session_bar")

def _without_new_features(sd):
    "The StrategyData an older diffmarket built: the same bars and positions without the entry-price and session features."
    import dataclasses
    from diffmarket.data.features import Normalizer, WindowDataset
    keep = [i for i, n in enumerate(sd.feature_names) if n not in NEW_FEATURES]
    nz = Normalizer(sd.normalizer.mean[keep], sd.normalizer.std[keep], [sd.feature_names[i] for i in keep])
    ds = lambda d: WindowDataset(d.features[:, keep], d.actions, d.t, d.n_obs_steps, d.horizon)
    return dataclasses.replace(sd, features=[f[:, keep] for f in sd.features], feature_names=nz.names, normalizer=nz,
                               train=ds(sd.train), val=ds(sd.val), test=ds(sd.test), position_scales=None)

def _assert_policy_features_match(pol, sd, bars, every=7):
    "Replay the human's positions through the policy's own record: its features equal the training features at every `every`-th bar."
    from diffmarket.data.loaders import bars_to_panel
    from diffmarket.trading.backtest import as_panel
    pol.check_bars(as_panel(bars))
    idx, syms, ohlcv = bars_to_panel(bars)
    for k in range(len(idx) - 1):
        obs = Observation(k, idx[k], syms, ohlcv[:k + 1], sd.positions[k].copy())
        pol._last_t = k; pol._record(obs)
        if k >= 70 and k % every == 0:
            got = pol._obs_features(obs)
            for j in range(len(syms)):
                want = sd.features[j][k - sd.cfg.n_obs_steps + 1:k + 1]
                if np.isfinite(want).all(): np.testing.assert_allclose(got[j], want, atol=1e-5, err_msg=f"bar {k}, {syms[j]}")

def test_old_checkpoint_without_new_features_loads_and_acts(market, tmp_path):
    "A checkpoint trained before the entry-price and session features maps its feature names onto today's columns."
    from diffmarket.policy.learned import DiffusionPolicy
    spx, human, sd = market
    old = _without_new_features(sd)
    t = Trainer(old, load_config(overrides=TINY), progress=False); t.fit()
    meta = {k: v for k, v in t.meta.items() if k != "position_scales"}          # nor did it store per-symbol scales
    save_checkpoint(tmp_path / "old.pt", t.best_model(), meta)
    pol = load_policy(tmp_path / "old.pt")
    assert not set(NEW_FEATURES) & set(pol.meta["feature_names"]) and len(pol.columns) == len(old.feature_names)
    _assert_policy_features_match(pol, old, spx, every=23)
    res = Backtest(spx, load_policy(tmp_path / "old.pt"), start=sd.split_times[1]).run()
    assert np.isfinite(res.equity.values).all() and len(res.positions) == (spx.timestamp >= sd.split_times[1]).sum()
    bad = dict(meta, feature_names=meta["feature_names"][:-1] + ["no_such_feature"])
    with pytest.raises(DataError, match="no_such_feature"): DiffusionPolicy(t.best_model(), bad)

def test_policy_features_equal_training_features_intraday_stops_and_two_symbols():
    "Entry return, unrealised return and the session clock at inference equal training's: session human on 5-minute bars, stops human on two symbols."
    from diffmarket.policy.learned import DiffusionPolicy
    intra = load_bars(sample_path("synthetic_intraday.csv")).iloc[:2400].reset_index(drop=True)
    human = synthetic_trader(intra, "session", seed=0); sd = StrategyData.build(intra, human)
    t = Trainer(sd, load_config(overrides=TINY), progress=False)
    pol = DiffusionPolicy(t.best_model(), t.meta)
    _assert_policy_features_match(pol, sd, intra, every=11)
    spx = load_bars(sample_path("sp500_daily.csv")); nq = load_bars(sample_path("nasdaq_daily.csv"))
    two = pd.concat([spx[spx.timestamp >= "2014-01-01"], nq[nq.timestamp >= "2014-06-01"]]).sort_values(["timestamp", "symbol"]).reset_index(drop=True)
    human2 = synthetic_trader(two, "stops", seed=0); sd2 = StrategyData.build(two, human2)
    assert len(set(sd2.position_scales)) == 2                              # each symbol in its own lots
    t2 = Trainer(sd2, load_config(overrides=TINY), progress=False)
    pol2 = DiffusionPolicy(t2.best_model(), t2.meta)
    _assert_policy_features_match(pol2, sd2, two, every=13)
    np.testing.assert_allclose(pol2._symbol_scales(sd2.symbols), sd2.position_scales)
