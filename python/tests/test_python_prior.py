"""Priors written in Python drive the C++ objectives, inside sds.Trainer too."""
import gc
import threading

import pytest
import torch

import sds


class Delegating(sds.Prior):
    """A Python prior that asks the C++ exact prior: its numbers must be the C++ ones."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = 0

    def schedule(self):
        return self.inner.schedule()

    def predict_noise(self, x_t, t, conditioning):
        self.calls += 1
        return self.inner.predict_noise(x_t, t, conditioning)


class Raising(sds.Prior):
    def predict_noise(self, x_t, t, conditioning):
        raise KeyError("the prior's own error")


def gradient(guidance, seed=0, size=16):
    cams = sds.OrbitSampler(height=size, width=size, batch_size=2).sample(
        0, generator=torch.Generator().manual_seed(seed))
    rgb = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(seed))
    rgb.requires_grad_()
    out = guidance(rgb, cams, step=3, total_steps=10,
                   generator=torch.Generator().manual_seed(seed))
    out.loss.backward()
    return rgb.grad


@pytest.mark.parametrize("config", [
    {"type": "sds", "guidance_scale": 7.5},
    {"type": "csd"},
    {"type": "nfsd"},
    {"type": "ism", "inversion_stride": 300},
    {"type": "vsd", "particle_samples": 1},
])
def test_a_python_prior_gives_every_objective_the_cpp_numbers(exact_prior, config):
    python_prior = Delegating(sds.ExactPrior(conditioning="camera"))
    expected = gradient(sds.make_guidance(config, prior=exact_prior, prompt="a red mug"))
    got = gradient(sds.make_guidance(config, prior=python_prior, prompt="a red mug"))
    assert python_prior.calls > 0
    assert torch.equal(got, expected)


def test_a_python_exception_inside_the_prior_propagates_as_itself():
    guidance = sds.make_guidance("sds", prior=Raising(), prompt="anything")
    with pytest.raises(KeyError, match="the prior's own error"):
        gradient(guidance)


def test_a_prior_without_predict_noise_is_an_error():
    class Empty(sds.Prior):
        pass

    guidance = sds.make_guidance("sds", prior=Empty(), prompt="anything")
    with pytest.raises(RuntimeError, match="predict_noise"):
        gradient(guidance)


def test_the_objective_outlives_the_python_reference_to_its_prior():
    guidance = sds.make_guidance("sds", prior=Delegating(sds.ExactPrior()), prompt="a red mug")
    gc.collect()
    # The Python object (with its override) is kept alive by the C++ objective.
    assert gradient(guidance).abs().sum() > 0


def test_a_tensor_outlives_the_representation_that_returned_it():
    grid = sds.VoxelGrid(resolution=8)
    density = grid.named_tensors()["density"]
    rgb = grid.render(sds.OrbitSampler(height=8, width=8, batch_size=1).sample(0)).rgb
    del grid
    gc.collect()
    assert torch.isfinite(density).all() and rgb.shape == (1, 3, 8, 8)


def test_the_trainer_calls_a_python_prior_from_its_loop_without_deadlock():
    prior = Delegating(sds.ExactPrior(conditioning="camera"))
    guidance = sds.make_guidance({"type": "sds", "guidance_scale": 1.0}, prior=prior,
                                 prompt="a red mug")
    trainer = sds.Trainer(sds.VoxelGrid(resolution=16, samples_per_ray=16),
                          sds.OrbitSampler(height=16, width=16, batch_size=2), guidance,
                          steps=5, seed=0)
    done = []
    worker = threading.Thread(target=lambda: done.append(trainer.train(progress=False)))
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "the trainer deadlocked calling the Python prior"
    assert done and done[0]["step"] == 5 and prior.calls >= 5
    # The same run with the C++ prior gives the same parameters: the Python prior is exact.
    reference = sds.Trainer(sds.VoxelGrid(resolution=16, samples_per_ray=16),
                            sds.OrbitSampler(height=16, width=16, batch_size=2),
                            sds.make_guidance({"type": "sds", "guidance_scale": 1.0},
                                              prior=sds.ExactPrior(), prompt="a red mug"),
                            steps=5, seed=0)
    reference.train(progress=False)
    for name, tensor in trainer.representation.named_tensors().items():
        assert torch.equal(tensor, reference.representation.named_tensors()[name]), name


def test_a_registered_python_prior_builds_from_config():
    sds.register_prior("delegating_exact", lambda config: Delegating(sds.ExactPrior(config)))
    prior = sds.make_prior({"type": "delegating_exact", "conditioning": "text"})
    guidance = sds.make_guidance({"type": "sds"}, prior=prior, prompt="a red mug")
    assert gradient(guidance).abs().sum() > 0
