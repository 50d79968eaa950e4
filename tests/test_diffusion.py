"""Network shapes and conditioning, sampler swap, seeded sampling and config errors of diffmarket.diffusion."""
import numpy as np, pytest, torch
from diffmarket.config import ModelConfig, DataConfig
from diffmarket.core import ConfigError
from diffmarket.policy.diffusion import (ConditionalUnet1D, DiffusionPolicyModel, MSEPolicyModel, make_model,
    SAMPLERS, toy_bimodal_data, fit_toy)

SMALL = dict(down_dims=[16, 32], kernel_size=3, diffusion_step_embed_dim=16, obs_embed_dim=16)

@pytest.mark.parametrize("down_dims,horizon", [([16], 16), ([16, 32], 16), ([16, 32, 64], 16), ([8, 16], 8)])
def test_unet_shapes(down_dims, horizon):
    net = ConditionalUnet1D(2, 8, down_dims, 3, 8, 16)
    x = torch.randn(3, horizon, 2)
    assert net(x, torch.tensor([1, 2, 3]), torch.randn(3, 8)).shape == (3, horizon, 2)

def test_film_conditioning_is_used():
    torch.manual_seed(0)
    net = ConditionalUnet1D(1, 8, [16, 32], 3, 8, 16)
    x, g = torch.randn(4, 16, 1), torch.randn(4, 8)
    out = net(x, 10, g)
    assert not torch.allclose(out, net(x, 10, g + 1.0))
    for blk in [m for m in net.modules() if hasattr(m, "cond_encoder")]:   # zero FiLM: obs has no effect any more
        torch.nn.init.zeros_(blk.cond_encoder[1].weight); torch.nn.init.zeros_(blk.cond_encoder[1].bias)
    torch.testing.assert_close(net(x, 10, g), net(x, 10, g + 1.0))

@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samplers_run_and_are_seeded(sampler):
    m = make_model(ModelConfig(sampler=sampler, **SMALL), DataConfig(n_obs_steps=2), 5)
    obs = torch.randn(3, 2, 5)
    s = m.sample(obs, num_samples=4, generator=torch.Generator().manual_seed(7))
    assert s.shape == (3, 4, DataConfig().horizon, 1) and torch.isfinite(s).all() and s.abs().max() <= 1
    torch.testing.assert_close(s, m.sample(obs, num_samples=4, seed=7))

def test_mse_sample_repeats():
    m = make_model(ModelConfig(kind="mse", **SMALL), DataConfig(n_obs_steps=2), 5)
    s = m.sample(torch.randn(2, 2, 5), num_samples=3)
    assert s.shape == (2, 3, DataConfig().horizon, 1) and torch.equal(s[:, 0], s[:, 2])

@pytest.mark.parametrize("kw,path", [(dict(kind="x"), "model.kind"), (dict(sampler="euler"), "model.sampler"),
                                     (dict(down_dims=[12]), "model.down_dims"), (dict(kernel_size=4), "model.kernel_size"),
                                     (dict(num_inference_steps=0), "model.num_inference_steps"),
                                     (dict(obs_encoding="onehot"), "model.obs_encoding"), (dict(n_bins=0), "model.n_bins"),
                                     (dict(bin_edges="kmeans"), "model.bin_edges"),
                                     (dict(prediction_type="v_prediction"), "model.prediction_type")])
def test_bad_model_config(kw, path):
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")): make_model(ModelConfig(**kw), DataConfig(n_obs_steps=2), 5)

def test_diffusion_keeps_modes_mse_averages():
    torch.manual_seed(0)
    cfg = ModelConfig(**SMALL)
    obs, act = toy_bimodal_data(n=256, seed=1)
    dm, mm = DiffusionPolicyModel(cfg, DataConfig(horizon=16, n_obs_steps=2), 3), MSEPolicyModel(cfg, DataConfig(horizon=16, n_obs_steps=2), 3)   # 16-bar toy paths
    fit_toy(dm, obs, act, steps=250, seed=1); fit_toy(mm, obs, act, steps=250, seed=1)
    q = torch.zeros(1, 2, 3)
    end = dm.sample(q, num_samples=200, seed=0)[0, :, -4:, 0].mean(-1)
    long, short = (end > 0.5).float().mean().item(), (end < -0.5).float().mean().item()
    assert long + short > 0.8 and 0.2 < long < 0.8
    assert abs(mm.sample(q, 1)[0, 0, -4:, 0].mean().item()) < 0.3

# --- the fast sampling path (DenseUnet1D twin, FiLM precomputed per step, fused DDIM update) ---
from diffmarket.policy.diffusion import DenseUnet1D, ddim_coefficients, ddim_step, make_noise_scheduler

@pytest.mark.parametrize("down_dims,horizon,longest", [([16], 16, 8), ([16, 32], 16, 8), ([16, 32, 64], 16, 16),
                                                       ([16, 32], 16, 0), ([8, 16], 8, 8)])
def test_dense_twin_matches_unet(down_dims, horizon, longest):
    torch.manual_seed(0)
    net = ConditionalUnet1D(2, 8, down_dims, 3, 8, 16)
    for m in net.modules():                                   # non-trivial GroupNorm affine
        if isinstance(m, torch.nn.GroupNorm): torch.nn.init.normal_(m.weight); torch.nn.init.normal_(m.bias)
    twin, x, g = DenseUnet1D(net, horizon, longest), torch.randn(5, horizon, 2), torch.randn(5, 8)
    with torch.no_grad():
        films = twin.films(torch.tensor([3, 70]), g)
        for i, t in enumerate([3, 70]):
            out = twin(x.transpose(1, 2).flatten(1), films[i]).view(5, 2, horizon).transpose(1, 2)
            torch.testing.assert_close(out, net(x, t, g), atol=1e-5, rtol=1e-5)

@pytest.mark.parametrize("prediction_type", ["epsilon", "sample"])
def test_ddim_step_matches_diffusers(prediction_type):
    sch = make_noise_scheduler(ModelConfig(prediction_type=prediction_type), "ddim")
    for n in (3, 5, 10, 20):
        ts, coefs = ddim_coefficients(sch, n)
        x, e = torch.randn(7, 16, 1) * 3, torch.randn(7, 16, 1)
        for t, c in zip(ts, coefs):
            torch.testing.assert_close(ddim_step(e, x, c, prediction_type=prediction_type), sch.step(e, t, x).prev_sample,
                                       atol=1e-5, rtol=1e-5)

@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("B", [1, 20])                      # B·K = 8 (dense twin) and 160 (convolution twin)
def test_fast_sample_matches_plain(sampler, B):
    torch.manual_seed(0)
    m = make_model(ModelConfig(sampler=sampler), DataConfig(n_obs_steps=2), 5).eval()
    obs = torch.randn(B, 2, 5)
    fast = m.sample(obs, num_samples=8, seed=3)
    torch.testing.assert_close(fast, m.sample(obs, num_samples=8, seed=3, fast=False), atol=1e-3 if sampler == "dpmsolver" else 1e-4, rtol=0)
    assert torch.equal(fast, m.sample(obs, num_samples=8, seed=3))          # deterministic with a seed

def test_fast_sample_follows_weight_changes_and_copies():
    import copy, pickle
    m = make_model(ModelConfig(), DataConfig(n_obs_steps=2), 5)
    obs = torch.randn(1, 2, 5)
    before = m.sample(obs, seed=0)
    with torch.no_grad():
        for p in m.parameters(): p.mul_(1.1)                # in place, as an optimiser or EMA does
    after = m.sample(obs, seed=0)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, m.sample(obs, seed=0, fast=False), atol=1e-4, rtol=0)
    m2 = make_model(ModelConfig(), DataConfig(n_obs_steps=2), 5); m2.load_state_dict(m.state_dict())
    torch.testing.assert_close(m2.sample(obs, seed=0), after, atol=1e-4, rtol=0)
    torch.testing.assert_close(copy.deepcopy(m).sample(obs, seed=0), after, atol=1e-4, rtol=0)
    pickle.dumps(m)                                          # the sampling caches are not pickled
    assert not any("dense" in k for k in m.state_dict())      # checkpoints keep the same keys


def test_ple_encoder_fits_quantiles_and_learns_a_step():
    "PLE edges sit at training quantiles, the encoding is monotone in the value, and an MLP on it learns a sharp step."
    from diffmarket.policy.diffusion import ObsEncoder
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 1, 1, generator=g)
    enc = ObsEncoder(1, 1, 8, n_bins=8).fit_bins(x[:, 0].numpy())
    torch.testing.assert_close(enc.edges[0], torch.quantile(x.flatten(), torch.linspace(0, 1, 9)))
    e = enc.encode(torch.linspace(-4, 4, 50).view(-1, 1, 1))
    assert (e.diff(dim=0) >= -1e-6).all()           # every coordinate grows with the value
    head = torch.nn.Linear(e.shape[-1], 1); opt = torch.optim.Adam(head.parameters(), lr=0.05)
    y = (x.flatten() < -1.0).float()                # a threshold rule
    for _ in range(300):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(enc.encode(x)[:, 0]).flatten(), y)
        opt.zero_grad(); loss.backward(); opt.step()
    acc = ((head(enc.encode(x)[:, 0]).flatten() > 0).float() == y).float().mean()
    assert acc > 0.97

def test_tree_edges_land_on_the_rule_thresholds():
    "Target-aware edges sit on a rule's thresholds, for a few-valued and for a continuous target; quantiles do not."
    from diffmarket.policy.diffusion import ObsEncoder
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 3, size=(3000, 2))
    held = rng.choice([0.0, 1.0], len(x))                       # between the thresholds: whatever was held
    y = np.where(x[:, 0] < -1.1, 1.0, np.where(x[:, 0] > 0.4, 0.0, held))
    near = lambda e, v: float(np.abs(e - v).min())
    tree = ObsEncoder(1, 2, 8, n_bins=8).fit_bins(x, target=y).edges.numpy()
    quant = ObsEncoder(1, 2, 8, n_bins=8).fit_bins(x).edges.numpy()
    assert near(tree[0], -1.1) < 0.03 and near(tree[0], 0.4) < 0.03, tree[0]
    assert near(quant[0], -1.1) > 0.1 and near(quant[0], 0.4) > 0.1
    assert (np.diff(tree, axis=1) >= 0).all() and tree[:, 0].min() >= -3 and tree[:, -1].max() <= 3
    cont = ObsEncoder(1, 2, 8, n_bins=4).fit_bins(x, target=np.c_[2.0 * (x[:, 1] > 0.3) + 0.01 * x[:, 1], x[:, 0]]).edges.numpy()
    assert near(cont[1], 0.3) < 0.03, cont[1]

def test_fit_bins_rejects_bad_rows_and_skips_non_finite():
    from diffmarket.policy.diffusion import ObsEncoder
    enc = ObsEncoder(1, 2, 8, n_bins=4)
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"): enc.fit_bins(np.zeros((10, 3)))
    x = np.c_[np.linspace(-1, 1, 50), np.linspace(0, 2, 50)]; x[3, 1] = np.nan
    y = (x[:, 0] > 0).astype(float); y[7] = np.inf
    e = enc.fit_bins(x, target=y).edges
    assert torch.isfinite(e).all()
    with pytest.raises(ValueError, match="two finite rows"): enc.fit_bins(np.full((5, 2), np.nan))

def test_ple_edges_travel_in_the_state_dict():
    cfg = ModelConfig(**SMALL)
    m = make_model(cfg, DataConfig(n_obs_steps=2), 5); m.obs_encoder.fit_bins(np.random.default_rng(0).normal(size=(100, 5)) * 3)
    m2 = make_model(cfg, DataConfig(n_obs_steps=2), 5); m2.load_state_dict(m.state_dict())
    torch.testing.assert_close(m2.obs_encoder.edges, m.obs_encoder.edges)
    assert not torch.equal(m2.obs_encoder.edges, make_model(cfg, DataConfig(n_obs_steps=2), 5).obs_encoder.edges)

def test_level_encoding_round_trip_and_bad_levels():
    from diffmarket.core import ConfigError
    from diffmarket.policy.diffusion import encode_levels, decode_levels
    lv = torch.tensor([0.0, 0.5, 1.0])
    a = torch.rand(6, 4, 1)
    e = encode_levels(a, lv)
    assert e.shape == (6, 4, 3) and set(e.unique().tolist()) == {-1.0, 1.0} and (e.sum(-1) == -1).all()
    torch.testing.assert_close(decode_levels(e, lv), lv[(a - lv).abs().argmin(-1)].unsqueeze(-1))
    m = make_model(ModelConfig(**SMALL), DataConfig(n_obs_steps=2), 5, levels=[0.0, 0.5, 1.0])
    assert "levels" not in m.state_dict()                         # checkpoints keep the levels in their metadata
    assert torch.isfinite(m.compute_loss(torch.randn(3, 2, 5), torch.rand(3, DataConfig().horizon, 1)))
    assert set(m.sample(torch.randn(2, 2, 5), num_samples=5, seed=0).unique().tolist()) <= {0.0, 0.5, 1.0}
    for bad in ([0.0], [0.0, float("nan")]):
        with pytest.raises(ConfigError, match="model.action_encoding"): make_model(ModelConfig(**SMALL), DataConfig(n_obs_steps=2), 5, levels=bad)

def test_level_encoding_keeps_size_frequencies_on_a_toy():
    "Entries of one lot (~35%) or two lots (~65%): level channels sample both sizes near their frequencies (300 toy steps)."
    g = torch.Generator().manual_seed(0)
    n, H = 512, 4
    obs = torch.randn(n, 2, 3, generator=g) * 0.1
    size = torch.where(torch.rand(n, generator=g) < 0.65, 1.0, 0.5)
    act = size[:, None, None].expand(n, H, 1).clone()
    torch.manual_seed(0); m = make_model(ModelConfig(**SMALL), DataConfig(n_obs_steps=2), 3, levels=[0.0, 0.5, 1.0])
    fit_toy(m, obs, act, steps=300, seed=0)
    s = m.sample(torch.zeros(1, 2, 3), num_samples=400, seed=1)[0, :, 0, 0]
    share = (size == 1.0).float().mean().item()
    assert abs((s == 1.0).float().mean().item() - share) < 0.15 and (s == 0.0).float().mean().item() < 0.05

def test_fit_bins_keeps_anchors_as_edges():
    "An anchor (raw zero of a signed feature) is an edge wherever the rows straddle it, and only there."
    from diffmarket.policy.diffusion import ObsEncoder
    rng = np.random.default_rng(2)
    x = np.c_[rng.normal(size=500) + 0.5, rng.uniform(1, 2, size=500)]
    y = (x[:, 0] > 1.0).astype(float)
    e = ObsEncoder(1, 2, 8, n_bins=6).fit_bins(x, target=y, anchors=[0.0, 0.0]).edges.numpy()
    assert np.isclose(e[0], 0.0).any() and np.abs(e[0] - 1.0).min() < 0.05     # the anchor and the rule's threshold
    assert not np.isclose(e[1], 0.0).any()                                    # feature 1 never crosses its anchor
    assert e.shape == (2, 7) and (np.diff(e, axis=1) >= 0).all()
    with pytest.raises(ValueError, match="one anchor per feature"): ObsEncoder(1, 2, 8, n_bins=6).fit_bins(x, target=y, anchors=[0.0])
