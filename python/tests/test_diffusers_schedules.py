"""The noise schedule and ISM's DDIM step and inversion against diffusers' schedulers on the same
inputs."""
import pytest
import torch

import sds

diffusers = pytest.importorskip("diffusers")


def test_the_noise_schedule_is_diffusers_scaled_linear():
    ours = sds.NoiseSchedule.scaled_linear()
    ref = diffusers.DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085,
                                  beta_end=0.012, num_train_timesteps=1000)
    # diffusers accumulates in float32; we keep float64 of the same formula.
    torch.testing.assert_close(ours.alphas_cumprod.float(), ref.alphas_cumprod, rtol=2e-5, atol=1e-7)
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    torch.testing.assert_close(ours.alphas_cumprod, torch.cumprod(1 - betas, 0), rtol=1e-12, atol=0)
    # add_noise is DDPMScheduler.add_noise given the same alpha_bar.
    ref.alphas_cumprod = ours.alphas_cumprod.clone()
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(5, 3, 4, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(5, 3, 4, 4, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 1, 250, 731, 999])
    torch.testing.assert_close(ours.add_noise(x0, eps, t), ref.add_noise(x0, eps, t),
                               rtol=1e-12, atol=1e-12)


def ddim(cls, alphas_cumprod, stride):
    s = cls(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085,
            beta_end=0.012, clip_sample=False, set_alpha_to_one=False, steps_offset=0,
            prediction_type="epsilon")
    s.set_timesteps(1000 // stride)
    s.alphas_cumprod = alphas_cumprod.clone()
    return s


@pytest.mark.parametrize("t_from, t_to", [(500, 400), (980, 780), (100, 0), (0, 250), (300, 500)])
def test_ddim_step_matches_diffusers(t_from, t_to):
    schedule = sds.NoiseSchedule.scaled_linear()
    g = torch.Generator().manual_seed(t_from)
    x = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    eps = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    ours = sds.Ism.ddim_step(schedule, x, eps, t_from, t_to)
    stride = abs(t_to - t_from)
    if t_to < t_from:  # denoising: DDIMScheduler.step from t to t - stride
        ref = ddim(diffusers.DDIMScheduler, schedule.alphas_cumprod, stride).step(
            eps, t_from, x, eta=0.0).prev_sample
    else:  # inversion: DDIMInverseScheduler.step(eps, t) goes from t - stride to t
        ref = ddim(diffusers.DDIMInverseScheduler, schedule.alphas_cumprod, stride).step(
            eps, t_to, x).prev_sample
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    # The check can fail: another target is another sample.
    assert not torch.allclose(sds.Ism.ddim_step(schedule, x, eps, t_from, t_to + 10), ref)


def test_ism_gradient_equals_its_formula_with_diffusers_inversion(exact_prior):
    """ISM (LucidDreamer): invert the barely noised render with DDIM to s = t - interval, one more
    inversion step to t, then g = w(t) (eps_cfg(x_t; y, t) - eps(x_s; "", s))."""
    interval, stride, scale = 100, 100, 7.5
    guidance = sds.make_guidance({"type": "ism", "interval": interval, "inversion_stride": stride,
                                  "guidance_scale": scale}, prior=exact_prior, prompt="a red mug")
    cams = sds.CameraBatch([sds.Camera.orbit(15, 40, 3, 40, 16, 16),
                            sds.Camera.orbit(5, -120, 3, 40, 16, 16)])
    g = torch.Generator().manual_seed(4)
    z = torch.rand(2, 3, 16, 16, generator=g, dtype=torch.float64) * 2 - 1
    noise = torch.randn(2, 3, 16, 16, generator=g, dtype=torch.float64)
    t = torch.tensor([500, 300])
    ours = guidance.gradient(z, t, noise, cams)

    schedule = exact_prior.schedule()
    inverse = ddim(diffusers.DDIMInverseScheduler, schedule.alphas_cumprod, stride)
    ddpm = diffusers.DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085,
                                   beta_end=0.012)
    ddpm.alphas_cumprod = schedule.alphas_cumprod.clone()
    expected = []
    for b in range(2):
        cam = sds.CameraBatch([cams[b]])
        null = sds.Conditioning([""], cam)
        eps_null = lambda x, step: exact_prior.predict_noise(x, torch.tensor([step]), null)
        x = ddpm.add_noise(z[b:b + 1], noise[b:b + 1], torch.tensor([0]))
        tb = int(t[b])
        for cur in range(0, tb - interval, stride):
            x = inverse.step(eps_null(x, cur), cur + stride, x).prev_sample
        s = tb - interval
        eps_s = eps_null(x, s)
        x_t = inverse.step(eps_s, tb, x).prev_sample
        cond = exact_prior.predict_noise(x_t, t[b:b + 1], sds.Conditioning(["a red mug"], cam))
        uncond = eps_null(x_t, tb)
        eps_cfg = uncond + scale * (cond - uncond)
        a = schedule.alphas_cumprod[tb]
        expected.append(((1 - a) / a).sqrt() * (eps_cfg - eps_s))
    torch.testing.assert_close(ours, torch.cat(expected), rtol=1e-9, atol=1e-9)
