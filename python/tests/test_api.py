"""The Python API of the issue: a user's own torch renderer trained by sds guidance."""
import math

import pytest
import torch

import sds
from fields import TorchGrid


def test_the_readme_loop_trains_a_torch_field_by_sds_guidance():
    prior = sds.ExactPrior(conditioning="camera")
    guidance = sds.make_guidance({"type": "sds", "timesteps": {"type": "annealed"}},
                                 prior=prior, prompt="a red mug")
    sampler = sds.OrbitSampler({"height": 32, "width": 32, "batch_size": 4})
    field = TorchGrid(resolution=32, samples=48)
    opt = torch.optim.Adam(field.parameters(), lr=0.1, betas=(0.9, 0.99), eps=1e-15)
    held_out = sds.CameraBatch(sds.held_out_views(3.0, 40.0, 32, 32))
    truth = prior.ground_truth("a red mug", held_out)["rgb"]

    def score():
        with torch.no_grad():
            return sds.psnr(field(held_out), truth).mean().item()

    before = score()
    g = torch.Generator().manual_seed(0)
    n = 120
    for i in range(n):
        cams = sampler.sample(i, generator=g)
        rgb = field(cams)
        out = guidance(rgb, cams, step=i, total_steps=n, generator=g)
        opt.zero_grad()
        out.loss.backward()
        assert field.color.grad is not None and field.color.grad.abs().sum() > 0
        opt.step()
    after = score()
    # The exact prior's ground truth measures it: a field that learned nothing stays near the
    # blob's score.
    assert after > before + 5.0
    assert after > 21.0


def test_the_gradient_reaching_the_image_is_the_sds_formula(exact_prior):
    guidance = sds.make_guidance({"type": "sds", "guidance_scale": 1.0}, prior=exact_prior,
                                 prompt="a small robot")
    cams = sds.CameraBatch([sds.Camera.orbit(10, 30, 3, 40, 16, 16)])
    g = torch.Generator().manual_seed(3)
    rgb = torch.rand(1, 3, 16, 16, dtype=torch.float64, generator=g).requires_grad_()
    z = (2 * rgb - 1).detach()
    noise = torch.randn(1, 3, 16, 16, dtype=torch.float64, generator=g)
    t = torch.tensor([400])
    grad = guidance.gradient(z, t, noise, cams)
    a = exact_prior.schedule().alpha_bar(t).item()
    z_t = exact_prior.schedule().add_noise(z, noise, t)
    eps = exact_prior.predict_noise(z_t, t, sds.Conditioning(["a small robot"], cams))
    torch.testing.assert_close(grad, (1 - a) * (eps - noise), rtol=0, atol=1e-12)


def test_every_registered_part_builds_from_a_dict_with_the_config_keys(exact_prior):
    sampler = sds.make_camera_sampler({"type": "orbit", "height": 8, "width": 8,
                                       "batch_size": 2, "elevation_deg": [0, 10]})
    assert (sampler.height, sampler.width) == (8, 8)
    assert len(sampler.sample(0, generator=torch.Generator().manual_seed(1))) == 2
    for t in ["uniform", {"type": "annealed", "max_step": [980, 300]}, "dreamtime",
              "sqrt_anneal", "linear_anneal", "warmup"]:
        schedule = sds.make_timestep_schedule(t)
        ts = schedule.sample(3, 10, 4, generator=torch.Generator().manual_seed(0))
        lo, hi = schedule.range(3, 10)
        assert ts.dtype == torch.int64 and ((ts >= lo) & (ts <= hi)).all()
    a = torch.tensor([0.25, 0.81], dtype=torch.float64)
    torch.testing.assert_close(sds.make_weighting("sds")(a), 1 - a)
    torch.testing.assert_close(sds.make_weighting("fantasia3d")(a), a.sqrt() * (1 - a))
    torch.testing.assert_close(sds.make_weighting("noise_to_signal")(a), ((1 - a) / a).sqrt())
    for kind in ["sds", "csd", "nfsd", "ism", "vsd", "bsd", "magic123"]:
        g = sds.make_guidance(kind, prior=exact_prior, prompt="a red mug")
        assert isinstance(g, sds.Guidance)
    grid = sds.make_representation({"type": "voxel_grid", "resolution": 8})
    assert isinstance(grid, sds.VoxelGrid)
    gs = sds.make_representation({"type": "gaussians", "num_points": 50}, seed=1)
    assert isinstance(gs, sds.Gaussians) and gs.size == 50
    assert isinstance(sds.make_prior({"type": "exact", "conditioning": "text"}), sds.ExactPrior)


@pytest.mark.parametrize("build, message", [
    (lambda p: sds.make_guidance({"type": "sds", "guidance_scal": 3}, prior=p, prompt="a red mug"),
     "guidance_scal"),
    (lambda p: sds.make_guidance({"type": "nope"}, prior=p, prompt="a red mug"),
     "unknown guidance type \"nope\""),
    (lambda p: sds.make_guidance({"type": "sds", "guidance_scale": -1}, prior=p,
                                 prompt="a red mug"), "guidance_scale >= 0"),
    (lambda p: sds.make_guidance({"type": "sds", "guidance_scale": "high"}, prior=p,
                                 prompt="a red mug"), "wrong type"),
    (lambda p: sds.OrbitSampler(height=8, widht=8), "widht"),
    (lambda p: sds.OrbitSampler(elevation_deg=[30, 10]), "elevation_deg"),
    (lambda p: sds.ExactPrior(conditioning="telepathy"), "telepathy"),
    (lambda p: sds.VoxelGrid(resolution=0), "resolution"),
    (lambda p: sds.Trainer(sds.VoxelGrid(), sds.OrbitSampler(), sds.make_guidance(
        "sds", prior=p, prompt="a red mug"), steps=0), "steps"),
    (lambda p: sds.make_guidance("sds", prior=p, prompt="a unicorn"), "a unicorn"),
    (lambda p: sds.make_weighting({"type": "sds"}, bogus=1), "bogus"),
])
def test_bad_configs_raise_sds_error_with_the_message(exact_prior, build, message):
    with pytest.raises(sds.Error, match=message.replace("(", r"\(")):
        g = build(exact_prior)
        # some errors surface at first use (an unknown prompt)
        cams = sds.OrbitSampler(height=8, width=8, batch_size=1).sample(0)
        g(torch.rand(1, 3, 8, 8), cams)


def test_bad_tensors_raise_sds_error(exact_prior):
    guidance = sds.make_guidance("sds", prior=exact_prior, prompt="a red mug")
    cams = sds.OrbitSampler(height=8, width=8, batch_size=2).sample(0)
    with pytest.raises(sds.Error, match=r"\[B, 3, H, W\]"):
        guidance(torch.rand(2, 4, 8, 8), cams)
    with pytest.raises(sds.Error, match="one camera per image"):
        guidance(torch.rand(3, 3, 8, 8), cams)
    with pytest.raises(sds.Error, match="sigmas"):
        sds.ops.composite_rays(torch.rand(4, 5, 2), torch.rand(4, 5, 3), torch.rand(4, 5),
                               torch.rand(4, 5))
    with pytest.raises(sds.Error):
        sds.ops.trilinear_sample(torch.rand(2, 2, 2, 1), torch.rand(5, 3, dtype=torch.float64))
    assert issubclass(sds.Error, RuntimeError)


def test_a_cuda_tensor_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the CUDA path is tested by the [cuda] suite")
    # Without a GPU torch itself refuses to make a CUDA tensor, so the op never sees one.
    with pytest.raises(RuntimeError):
        torch.zeros(1, device="cuda")


def test_cameras_general_pinhole_and_conversions():
    cam = sds.Camera.orbit(20, 45, radius=2.5, fovy_deg=50, height=24, width=32)
    assert cam.elevation_deg == pytest.approx(20) and cam.azimuth_deg == pytest.approx(45)
    assert cam.radius == pytest.approx(2.5) and cam.fovy_deg == pytest.approx(50)
    # A user's own [B, 4, 4] matrices and intrinsics give the same cameras.
    c2w = torch.stack([cam.c2w(), sds.Camera.orbit(0, -90, 3, 40, 24, 32).c2w()])
    K = torch.tensor([[cam.fx, 0, cam.cx], [0, cam.fy, cam.cy], [0, 0, 1]], dtype=torch.float64)
    batch = sds.CameraBatch.from_tensors(c2w, K, 32, 24)
    assert len(batch) == 2 and batch[1].azimuth_deg == pytest.approx(-90)
    # viewmat is the OpenCV world-to-camera: the camera centre maps to the origin, and a point in
    # front of the camera has +z.
    vm = batch.viewmats()[0].double()
    centre = torch.tensor([*cam.position, 1.0], dtype=torch.float64)
    torch.testing.assert_close(vm @ centre, torch.tensor([0, 0, 0, 1.0], dtype=torch.float64),
                               atol=1e-6, rtol=0)
    assert (vm @ torch.tensor([0, 0, 0, 1.0], dtype=torch.float64))[2] == pytest.approx(2.5,
                                                                                      rel=1e-6)
    # An off-centre principal point shifts the rays: the ray through (cx, cy) is the optical axis.
    off = sds.Camera(cam.c2w(), cam.fx, cam.fy, 10.0, 7.0, 32, 24)
    origins, dirs = sds.CameraBatch([off]).rays(dtype=torch.float64)
    axis = -off.c2w()[:3, 2]
    # pixel centres (j + 0.5, i + 0.5): cx = 10 lies between columns 9 and 10
    mid = (dirs[0, 6, 9] + dirs[0, 6, 10] + dirs[0, 7, 9] + dirs[0, 7, 10]) / 4
    assert torch.dot(mid / mid.norm(), axis).item() > 1 - 1e-6
    scaled = torch.eye(4, dtype=torch.float64)
    scaled[:3, :3] *= 2
    with pytest.raises(sds.Error, match="rotation"):
        sds.Camera(scaled, 10, 10, 5, 5, 10, 10)
    with pytest.raises(sds.Error, match=r"\[B, 4, 4\]"):
        sds.CameraBatch.from_tensors(torch.eye(3)[None], K, 32, 24)


def test_docstrings_come_from_the_public_headers():
    assert "closed-form mixture prior" in sds.ExactPrior.__doc__
    assert "Composites dense samples" in sds.ops.composite_rays.__doc__
    assert "pinhole camera" in sds.Camera.__doc__
    assert "step protocol" in sds.guidance_step.__doc__ or "reference view" in sds.guidance_step.__doc__


def test_devices_are_options_and_metrics_stay_tensors_until_logged(exact_prior):
    grid = sds.make_representation({"type": "voxel_grid", "resolution": 8}, device="cpu")
    assert grid.device == torch.device("cpu")
    grid.to(torch.device("cpu"))  # a torch.device works as well as a string
    with pytest.raises(sds.Error, match="cpu.*cuda"):
        sds.make_representation({"type": "voxel_grid"}, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(sds.Error, match="CUDA"):
            sds.make_representation({"type": "voxel_grid"}, device="cuda")
    cams = sds.OrbitSampler({"height": 8, "width": 8, "batch_size": 2}).sample(0)
    origins, directions = cams.rays(device="cpu")
    assert directions.shape == (2, 8, 8, 3)
    assert torch.allclose(directions.norm(dim=-1), torch.ones(2, 8, 8))
    # Metrics: floats become 0-dim tensors; logged_metrics reads them back in one copy.
    out = sds.GuidanceOutput(torch.zeros(()), {"a": 1.5, "b": torch.tensor(2.0)})
    assert isinstance(out.metrics["a"], torch.Tensor)
    assert out.logged_metrics() == {"a": 1.5, "b": 2.0}
    guidance = sds.make_guidance({"type": "sds"}, prior=exact_prior, prompt="a red mug")
    rgb = torch.rand(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    result = guidance(rgb, cams, generator=torch.Generator().manual_seed(0))
    assert result.metrics["grad_norm"].dim() == 0
    assert sds.step_device_generator(0, 3, "cpu") is not None


def test_a_concept_family_from_python_scores_samples_against_its_variants():
    prior = sds.ExactPrior(scene="builtin:families", conditioning="text")
    concept = next(c for c in prior.scene["concepts"] if c["prompt"] == "a post with a sign")
    assert [v["name"] for v in concept["variants"]] == ["+x", "+y", "-x", "-y"]
    cams = sds.CameraBatch(sds.held_out_views(3.0, 40.0, 16, 16)[:4])
    members = [prior.ground_truth("a post with a sign", cams, member=m)["rgb"] for m in range(4)]
    # A sample equal to the third variant: nearest is 2, infinite PSNR against it.
    scores = sds.score_family(members[2], members)
    assert scores["nearest"] == 2
    assert math.isinf(scores["variant_mean_db"][2])
    mean = sum(members) / 4
    mse = ((members[2] - mean) ** 2).mean(dim=(1, 2, 3))
    assert scores["family_mean_db"] == pytest.approx((-10 * torch.log10(mse)).mean().item())
    assert sds.variant_coverage([2, 2, 0], [30.0, 25.0, 10.0], 24.0) == 1
    with pytest.raises(sds.Error, match=r"\[0, 4\)"):
        prior.ground_truth("a post with a sign", cams, member=4)
