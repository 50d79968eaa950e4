"""Network shapes and conditioning, sampler swap, seeded sampling and config errors of diffmarket.diffusion."""
import pytest, torch
from diffmarket.core import ModelConfig, DataConfig, ConfigError
from diffmarket.diffusion import (ConditionalUnet1D, DiffusionPolicyModel, MSEPolicyModel, make_model, SAMPLERS,
                                  toy_bimodal_data, fit_toy)

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
    m = make_model(ModelConfig(sampler=sampler, **SMALL), DataConfig(), 5)
    obs = torch.randn(3, 2, 5)
    s = m.sample(obs, num_samples=4, generator=torch.Generator().manual_seed(7))
    assert s.shape == (3, 4, 16, 1) and torch.isfinite(s).all() and s.abs().max() <= 1
    torch.testing.assert_close(s, m.sample(obs, num_samples=4, seed=7))

def test_mse_sample_repeats():
    m = make_model(ModelConfig(kind="mse", **SMALL), DataConfig(), 5)
    s = m.sample(torch.randn(2, 2, 5), num_samples=3)
    assert s.shape == (2, 3, 16, 1) and torch.equal(s[:, 0], s[:, 2])

@pytest.mark.parametrize("kw,path", [(dict(kind="x"), "model.kind"), (dict(sampler="euler"), "model.sampler"),
                                     (dict(down_dims=[12]), "model.down_dims"), (dict(kernel_size=4), "model.kernel_size"),
                                     (dict(num_inference_steps=0), "model.num_inference_steps")])
def test_bad_model_config(kw, path):
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")): make_model(ModelConfig(**kw), DataConfig(), 5)

def test_diffusion_keeps_modes_mse_averages():
    torch.manual_seed(0)
    cfg = ModelConfig(**SMALL)
    obs, act = toy_bimodal_data(n=256, seed=1)
    dm, mm = DiffusionPolicyModel(cfg, DataConfig(), 3), MSEPolicyModel(cfg, DataConfig(), 3)
    fit_toy(dm, obs, act, steps=250, seed=1); fit_toy(mm, obs, act, steps=250, seed=1)
    q = torch.zeros(1, 2, 3)
    end = dm.sample(q, num_samples=200, seed=0)[0, :, -4:, 0].mean(-1)
    long, short = (end > 0.5).float().mean().item(), (end < -0.5).float().mean().item()
    assert long + short > 0.8 and 0.2 < long < 0.8
    assert abs(mm.sample(q, 1)[0, 0, -4:, 0].mean().item()) < 0.3
