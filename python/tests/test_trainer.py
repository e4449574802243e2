"""sds.Trainer, the step protocol of a hand-written loop, generate and evaluate from Python."""
import json
import math

import pytest
import torch

import sds


def small(config):
    config["camera_sampler"].update(height=16, width=16)
    config["representation"].update(resolution=24, samples_per_ray=24)
    config["steps"] = 40
    return config


def parts(config):
    prior = sds.make_prior(config.get("prior", "exact"))
    guidance = sds.make_guidance(config["guidance"], prior=prior, prompt=config["prompt"])
    representation = sds.make_representation(config["representation"], seed=config["seed"])
    sampler = sds.make_camera_sampler(config["camera_sampler"])
    return representation, sampler, guidance


def adam_step(params, grads, state, lr, betas, eps):
    """LibTorch's Adam (torch/csrc/api/src/optim/adam.cpp) in the same operation order: the
    Trainer uses it, and torch.optim.Adam rounds differently (lerp_ for the first moment)."""
    b1, b2 = betas
    for p, g in zip(params, grads):
        s = state.setdefault(id(p), {"step": 0, "m": torch.zeros_like(p), "v": torch.zeros_like(p)})
        s["step"] += 1
        bc1, bc2 = 1 - b1 ** s["step"], 1 - b2 ** s["step"]
        s["m"].mul_(b1).add_(g, alpha=1 - b1)
        s["v"].mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (s["v"].sqrt() / math.sqrt(bc2)).add_(eps)
        with torch.no_grad():
            p.addcdiv_(s["m"], denom, value=-lr / bc1)


@pytest.mark.parametrize("name", ["sds_dreamtime", "vsd", "magic123"])
def test_a_hand_written_python_loop_matches_the_trainer_bit_for_bit(source_dir, name):
    config = small(json.loads((source_dir / f"examples/configs/eval/{name}.json").read_text()))
    if config["guidance"]["type"] == "sds":
        config["guidance"]["time_prioritized_lr"] = True  # the lr scale is part of the protocol
    steps = 4

    trained_repr, sampler, trained_guidance = parts(config)
    trainer = sds.Trainer(trained_repr, sampler, trained_guidance, steps=config["steps"],
                          seed=config["seed"], checkpoint_every=0)
    for _ in range(steps):
        trainer.step()

    representation, sampler, guidance = parts(config)
    groups = sds.TrainingGroups(representation, guidance)
    state = {}
    render = lambda cams: representation.render(cams)
    for i in range(steps):
        gen = sds.step_generator(config["seed"], i)
        cams = sampler.sample(i, generator=gen)
        params = [p for g in groups.groups for p in g.parameters]
        for p in params:
            p.grad = None
        out = sds.guidance_step(guidance, render(cams).rgb, cams, i, config["steps"], gen, render)
        out.loss.backward()
        for g, lr in zip(groups.groups, groups.learning_rates(i, out.lr_scale)):
            adam_step(g.parameters, [p.grad for p in g.parameters], state, lr, (0.9, 0.99), 1e-15)
    ours = {**representation.named_tensors(), **guidance.named_tensors()}
    theirs = {**trained_repr.named_tensors(), **trained_guidance.named_tensors()}
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key


def test_generate_returns_the_metrics_and_writes_the_run_folder(source_dir, tmp_path):
    config = json.loads((source_dir / "examples/configs/quick.json").read_text())
    config["steps"] = 12
    config["eval"] = {"every": 6, "views": 2, "turntable_frames": 3}
    seen = []
    result = sds.generate(config, tmp_path / "run", on_step=seen.append, progress=False)
    assert result["steps"] == 12 and len(seen) == 12 and seen[-1]["step"] == 12
    assert 5.0 < result["held_out"]["mean"] < 60 and len(result["held_out"]["per_view"]) == 24
    assert result["held_out"]["min"] <= result["held_out"]["mean"]
    assert 0.0 <= result["geometry_iou"] <= 1.0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["psnr_heldout_mean"] == pytest.approx(result["held_out"]["mean"])
    assert len(list((tmp_path / "run" / "turntable").glob("*.png"))) == 3
    # The same config resumed from its checkpoint is complete and gives the same numbers.
    again = sds.generate(config, tmp_path / "run", resume=True, progress=False)
    assert again["held_out"]["mean"] == pytest.approx(result["held_out"]["mean"], abs=1e-9)
    with pytest.raises(sds.Error, match="unknown"):
        sds.generate({**config, "guidanc": {}}, tmp_path / "bad", progress=False)


def test_evaluate_small_returns_the_table(source_dir, tmp_path):
    lines = []
    table = sds.evaluate([source_dir / "examples/configs/eval/sds.json"], tmp_path, small=True,
                         log=lines.append)
    assert len(lines) == 1
    assert len(table["runs"]) == 1 and "| sds |" in table["markdown"].replace("|sds|", "| sds |")
    assert (tmp_path / "results.md").exists()


def test_gaussians_render_export_and_expose_tensors(tmp_path):
    gs = sds.Gaussians({"num_points": 200}, seed=3)
    cams = sds.OrbitSampler(height=24, width=24, batch_size=2).sample(0)
    out = gs.render(cams)
    assert out.rgb.shape == (2, 3, 24, 24) and out.alpha.max() > 0.1
    (out.rgb.mean()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gs.parameters())
    t = gs.tensors()
    assert t["means"].shape == (200, 3) and t["sh"].shape[1:] == (1, 3)
    assert set(gs.export_formats()) == {"ply", "obj", "mesh_ply"}
    gs.export_file(tmp_path / "g.ply", "ply")
    gs.export_file(tmp_path / "m.obj", "obj")
    back = sds.Gaussians({"init": "ply", "ply": str(tmp_path / "g.ply")})
    assert torch.equal(back.tensors()["means"], t["means"])
    obj = (tmp_path / "m.obj").read_text().splitlines()
    assert sum(line.startswith("v ") for line in obj) > 10
    assert sum(line.startswith("f ") for line in obj) > 10
    with pytest.raises(sds.Error, match='not "glb"'):
        gs.export_file(tmp_path / "x.glb", "glb")


def test_concept_occupancy_is_the_exact_objects_inside_test():
    prior = sds.ExactPrior()
    # The house's body is the box centred at (0, 0, -0.25) of size 0.9 x 1.0 x 0.7.
    points = torch.tensor([[0.0, 0.0, -0.25], [0.0, 0.0, -0.95], [0.0, 0.7, -0.25]],
                          dtype=torch.float64)
    inside = sds.concept_occupancy(prior, "a house", points)
    assert inside.tolist() == [1.0, 0.0, 0.0]
    # A cell of side 0.1 centred on the face y = 0.5: half of its 2^3 sub-points lie inside.
    face = torch.tensor([[0.0, 0.5, -0.25]], dtype=torch.float64)
    assert sds.concept_occupancy(prior, "a house", face, cell=0.1).item() == pytest.approx(0.5)
    with pytest.raises(sds.Error):
        sds.concept_occupancy(prior, "a house", points, member=1)
    with pytest.raises(sds.Error):
        sds.concept_occupancy(prior, "no such concept", points)
