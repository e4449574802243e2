"""The stable_diffusion prior on a tiny random-weight pipeline saved by diffusers: its text
embeddings, latents, decoded images and epsilon (from epsilon- and v-prediction UNets) against
the diffusers pipeline's own components on the same inputs; `sds generate` on it for 20 steps,
interrupted after its step-10 checkpoint and resumed to the same result."""
import json

import pytest
import torch

import sds

diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")
from tiny_pipeline import save_tiny_pipeline  # noqa: E402

TOLERANCE = 1e-4


def relative_error(ours, ref):
    return ((ours - ref).abs().max() / ref.abs().max()).item()


@pytest.fixture(scope="module", params=["epsilon", "v_prediction"])
def pipeline(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"tiny_sd_{request.param}")
    pipe = save_tiny_pipeline(folder, prediction_type=request.param)
    prior = sds.make_prior({"type": "stable_diffusion", "path": str(folder), "resolution": 32})
    return folder, pipe, prior


def test_text_embeddings_match_the_pipeline(pipeline):
    _, pipe, prior = pipeline
    prompts = ["a corgi, front view", ""]
    with torch.no_grad():
        cond, uncond = pipe.encode_prompt(prompts[0], "cpu", 1, True, negative_prompt=prompts[1])
    ours = prior.text_embeddings(prompts)
    assert relative_error(ours[0], cond[0]) <= TOLERANCE
    assert relative_error(ours[1], uncond[0]) <= TOLERANCE


def test_epsilon_matches_the_pipeline_unet(pipeline):
    _, pipe, prior = pipeline
    g = torch.Generator().manual_seed(0)
    x_t = torch.randn(2, 4, 16, 16, generator=g)
    t = torch.tensor([980, 35])
    prompts = ["a corgi", ""]
    with torch.no_grad():
        cond, uncond = pipe.encode_prompt(prompts[0], "cpu", 1, True, negative_prompt=prompts[1])
        out = pipe.unet(x_t, t, torch.cat([cond, uncond])).sample
    if pipe.scheduler.config.prediction_type == "v_prediction":
        ab = pipe.scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
        expected = ab.sqrt() * out + (1 - ab).sqrt() * x_t
    else:
        expected = out
    eps = prior.predict_noise(x_t, t, sds.Conditioning(prompts))
    assert prior.prediction_type == pipe.scheduler.config.prediction_type
    assert relative_error(eps, expected) <= TOLERANCE


def test_latents_are_the_vae_mean_and_carry_gradients(pipeline):
    _, pipe, prior = pipeline
    g = torch.Generator().manual_seed(1)
    rgb = torch.rand(2, 3, 24, 24, generator=g, requires_grad=True)
    latents = prior.encode(rgb)
    resized = torch.nn.functional.interpolate(rgb.detach(), (32, 32), mode="bilinear",
                                              align_corners=False)
    with torch.no_grad():
        mean = pipe.vae.encode(resized * 2 - 1).latent_dist.mean
    assert latents.shape == (2, 4, 16, 16)
    assert relative_error(latents.detach(), mean * pipe.vae.config.scaling_factor) <= TOLERANCE
    latents.square().sum().backward()
    assert rgb.grad is not None and torch.isfinite(rgb.grad).all() and rgb.grad.abs().max() > 0
    z = torch.randn(1, 4, 16, 16, generator=g)
    with torch.no_grad():
        decoded = (pipe.vae.decode(z / pipe.vae.config.scaling_factor).sample + 1) / 2
    assert relative_error(prior.decode(z), decoded.clamp(0, 1)) <= TOLERANCE


def test_bad_stable_diffusion_configs(tmp_path, pipeline):
    folder = pipeline[0]
    with pytest.raises(sds.Error, match="is not a folder"):
        sds.make_prior({"type": "stable_diffusion", "path": str(tmp_path / "none")})
    with pytest.raises(sds.Error, match="float16\" needs a CUDA device"):
        sds.make_prior({"type": "stable_diffusion", "path": str(folder), "dtype": "float16"})
    with pytest.raises(sds.Error, match="resolution must be a multiple"):
        sds.make_prior({"type": "stable_diffusion", "path": str(folder), "resolution": 33})
    with pytest.raises(sds.Error, match="unknown key"):
        sds.make_prior({"type": "stable_diffusion", "path": str(folder), "resolutoin": 32})
    (tmp_path / "empty").mkdir()
    with pytest.raises(sds.Error, match="has no unet/ folder"):
        sds.make_prior({"type": "stable_diffusion", "path": str(tmp_path / "empty")})


def test_generate_on_a_tiny_pipeline_checkpoints_and_resumes(tmp_path, source_dir):
    folder = tmp_path / "tiny_sd"
    save_tiny_pipeline(folder)
    config = json.loads((source_dir / "examples/configs/sd_gaussians.json").read_text())
    config["steps"] = 20
    config["prior"].update(path=str(folder), resolution=32)
    config["representation"]["num_points"] = 300
    config["camera_sampler"].update(height=32, width=32, batch_size=2)
    config["trainer"].update(checkpoint_every=10, log_every=5)
    config["eval"]["turntable_frames"] = 2

    straight = sds.generate(config, tmp_path / "straight", exports=("ply",), progress=False)
    assert straight["steps"] == 20 and straight["held_out"] is None
    assert len(list((tmp_path / "straight" / "turntable").glob("*.png"))) == 2

    class Interrupt(Exception):
        pass

    def stop_after_the_checkpoint(info):
        if info["step"] == 13:
            raise Interrupt()
        if info["logged"]:  # other steps read nothing back
            assert torch.isfinite(torch.tensor(info["loss"]))

    with pytest.raises(Interrupt):
        sds.generate(config, tmp_path / "resumed", on_step=stop_after_the_checkpoint,
                     progress=False)
    resumed = sds.generate(config, tmp_path / "resumed", resume=True, exports=("ply",),
                           progress=False)
    assert resumed["steps"] == 20
    a = (tmp_path / "straight" / "export" / "gaussians.ply").read_bytes()
    b = (tmp_path / "resumed" / "export" / "gaussians.ply").read_bytes()
    assert a == b


@pytest.fixture
def fresh_prior(tmp_path):
    """A prior of its own (a particle model changes its UNet)."""
    folder = tmp_path / "tiny_sd"
    save_tiny_pipeline(folder)
    return sds.make_prior({"type": "stable_diffusion", "path": str(folder), "resolution": 32})


def test_the_particle_model_is_lora_on_the_prior_unet(fresh_prior):
    prior = fresh_prior
    g = torch.Generator().manual_seed(2)
    x_t = torch.randn(2, 4, 16, 16, generator=g)
    t = torch.tensor([700, 40])
    cond = sds.Conditioning(["a corgi"])
    base = prior.predict_noise(x_t, t, cond)
    particle = prior.make_particle_model(camera_condition=False)
    # Zero-initialised up-projections: the adapters change nothing until trained.
    assert torch.equal(particle.predict_noise(x_t, t, cond), base)
    params = particle.trainable_parameters()
    # 4 transformer blocks (down 0, mid, up 1 twice) x 2 attentions x 4 projections x (A, B).
    assert len(params) == 4 * 2 * 4 * 2
    assert all(p.requires_grad and p.dtype == torch.float32 for p in params)
    noise = torch.randn(x_t.shape, generator=g)
    (particle.predict_noise(x_t, t, cond) - noise).square().mean().backward()
    b_grads = [p.grad for p in params[1::2]]
    assert all(gr is not None for gr in b_grads) and max(gr.abs().max() for gr in b_grads) > 0
    with torch.no_grad():
        for p in params:
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    assert not torch.allclose(particle.predict_noise(x_t, t, cond), base)
    assert torch.equal(prior.predict_noise(x_t, t, cond), base)  # the frozen pass has them off
    with pytest.raises(sds.Error, match="already has a particle model"):
        prior.make_particle_model()


def test_vsd_trains_lora_and_a_camera_embedding_on_stable_diffusion(fresh_prior):
    prior = fresh_prior
    guidance = sds.make_guidance({"type": "vsd", "guidance_scale": 7.5,
                                  "particle": {"lora_rank": 2, "seed": 3}},
                                 prior=prior, prompt="a corgi")
    groups = guidance.parameter_groups()
    assert [grp.name for grp in groups] == ["particle"]
    params = groups[0].parameters
    assert len(params) == 4 * 2 * 4 * 2 + 4  # LoRA A/B and the camera MLP's two linears
    assert tuple(params[0].shape) == (2, 32)  # rank 2
    sampler = sds.OrbitSampler(height=32, width=32, batch_size=2)
    g = torch.Generator().manual_seed(0)
    cams = sampler.sample(0, generator=g)
    rgb = torch.rand(2, 3, 32, 32, generator=g).requires_grad_()
    out = guidance(rgb, cams, step=0, total_steps=10, generator=g)
    out.loss.backward()
    assert torch.isfinite(rgb.grad).all() and rgb.grad.abs().max() > 0
    assert "particle_loss" in out.logged_metrics()
    assert params[-1].grad is not None and params[-1].grad.abs().max() > 0  # camera MLP
    assert params[1].grad is not None and params[1].grad.abs().max() > 0  # a LoRA B


def test_the_personalised_prior_has_its_own_adapters(fresh_prior):
    prior = fresh_prior
    g = torch.Generator().manual_seed(4)
    x_t = torch.randn(2, 4, 16, 16, generator=g)
    t = torch.tensor([600, 90])
    cond = sds.Conditioning(["a corgi"])
    base = prior.predict_noise(x_t, t, cond)
    personal = prior.make_personalised(lora_rank=2, seed=1)
    particle = prior.make_particle_model(camera_condition=False)
    assert isinstance(personal, sds.PersonalisablePrior)
    assert torch.equal(personal.predict_noise(x_t, t, cond), base)  # zero-initialised
    mine, theirs = personal.trainable_parameters(), particle.trainable_parameters()
    assert len(mine) == len(theirs) == 4 * 2 * 4 * 2
    assert tuple(mine[0].shape) == (2, 32) and tuple(theirs[0].shape) == (4, 32)
    with torch.no_grad():
        for p in mine:
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    fitted = personal.predict_noise(x_t, t, cond)
    assert not torch.allclose(fitted, base)
    # Each pass sees only its own adapters, so one UNet serves all three.
    assert torch.equal(prior.predict_noise(x_t, t, cond), base)
    assert torch.equal(particle.predict_noise(x_t, t, cond), base)
    with torch.no_grad():
        for p in theirs:
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    assert torch.equal(personal.predict_noise(x_t, t, cond), fitted)
    with pytest.raises(sds.Error, match="already has a personalised copy"):
        prior.make_personalised()


def bsd_on(prior, **options):
    config = {"type": "bsd", "cycle_steps": 1000, "pretrain_steps": 200, "augment_every": 1000,
              "cache_size": 4, "augment_t": 300, "augment_steps": 2, "personal_lr": 1e-3,
              "particle": {"lora_rank": 2, "camera_condition": False}}
    config.update(options)
    return sds.make_guidance(config, prior=prior, prompt="a corgi")


def test_bsd_trains_dreambooth_lora_then_distils_on_stable_diffusion(fresh_prior):
    guidance = bsd_on(fresh_prior, cycle_steps=4, pretrain_steps=2)
    groups = {grp.name: grp for grp in guidance.parameter_groups()}
    assert set(groups) == {"particle", "personal"}
    assert groups["personal"].lr == 1e-3
    personal, particle = groups["personal"].parameters, groups["particle"].parameters
    sampler = sds.OrbitSampler(height=32, width=32, batch_size=2)
    g = torch.Generator().manual_seed(0)
    for step in range(4):
        cams = sampler.sample(step, generator=g)
        rgb = torch.rand(2, 3, 32, 32, generator=g).requires_grad_()
        for p in personal + particle:
            p.grad = None
        out = guidance(rgb, cams, step=step, total_steps=8, generator=g)
        out.loss.backward()
        metrics = out.logged_metrics()
        assert metrics["cached_images"] == 2  # one augmentation of the first batch
        if step < 2:  # personalisation: DreamBooth on the cache, the 3D model waits
            assert "personal_loss" in metrics
            assert rgb.grad is None or rgb.grad.abs().max() == 0
            assert personal[1].grad is not None and personal[1].grad.abs().max() > 0
            assert all(p.grad is None for p in particle)
        else:  # BSD: the render gets the gradient, eps_phi trains, the personal prior rests
            assert "personal_loss" not in metrics and "particle_loss" in metrics
            assert torch.isfinite(rgb.grad).all() and rgb.grad.abs().max() > 0
            assert particle[1].grad is not None and particle[1].grad.abs().max() > 0
            assert all(p.grad is None for p in personal)
    assert tuple(guidance.cached_images().shape) == (2, 3, 32, 32)


def test_bsd_dreambooth_fits_the_cached_renders(fresh_prior):
    """The personalised prior's denoising error on the cached images falls below the frozen
    prior's: the DreamBooth steps fit what they are given."""
    prior = fresh_prior
    guidance = bsd_on(prior, personal_prompt_dropout=0.0)
    sampler = sds.OrbitSampler(height=32, width=32, batch_size=2)
    g = torch.Generator().manual_seed(1)
    cams = sampler.sample(0, generator=g)
    rgb = torch.rand(2, 3, 32, 32, generator=g)
    guidance(rgb, cams, step=0, total_steps=100, generator=g)  # fills the cache
    personal = guidance.prior
    images = guidance.cached_images()
    with torch.no_grad():
        z = personal.encode(images).repeat(4, 1, 1, 1)
    t = torch.tensor([50, 250, 500, 750]).repeat_interleave(2)
    noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(9))
    z_t = personal.schedule().add_noise(z, noise, t)
    cond = sds.Conditioning(["a corgi"])

    def error(p):
        with torch.no_grad():
            return (p.predict_noise(z_t, t, cond) - noise).square().mean().item()

    before = error(prior)
    assert error(personal) == before
    params = {grp.name: grp for grp in guidance.parameter_groups()}["personal"].parameters
    optimiser = torch.optim.Adam(params, lr=1e-2)
    for step in range(1, 61):
        optimiser.zero_grad()
        guidance(rgb, cams, step=step, total_steps=100, generator=g).loss.backward()
        optimiser.step()
    after = error(personal)
    print(f"denoising MSE on the cache: frozen {before:.4f}, personalised {after:.4f}")
    assert after < 0.8 * before
    assert error(prior) == before  # the frozen prior is untouched
