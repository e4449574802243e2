"""VSD's diversity claim with several exact particles, in image space, on a concept family.

n images ("particles") at one camera are optimised with Adam, each by
  SDS: w(t) (eps_prior(x_t) - eps), or
  VSD: w(t) (eps_prior(x_t) - eps_q(x_t)), where eps_q is the exact noise prediction of the
       particles' own distribution, q_t = mean_j N(sqrt(a) x_j, (a s^2 + 1 - a) I): the optimum
       ProlificDreamer's eps_phi is trained towards (arXiv 2305.16213), with no network.
Both use the exact prior's posterior mean (camera-conditioned, scale 1), w(t) = 1 - a and
threestudio's annealed t (max 980 -> 300). Each particle is scored against the family's
variants at that camera: nearest variant, its PSNR, and coverage (distinct variants reached at
>= 24 dB) per seed. docs/results.md reports the output.

usage: PYTHONPATH=build/python python python/tools/vsd_particles.py [--particles 4] [--seeds 5]
"""
import argparse

import torch

import sds


def psnr(a, b):
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


class Testbed:
    def __init__(self, prompt, size):
        self.prior = sds.ExactPrior(scene="builtin:families", conditioning="camera")
        self.prompt = prompt
        self.camera = sds.Camera.orbit(15.0, 20.0, 3.0, 40.0, size, size)
        concept = next(c for c in self.prior.scene["concepts"] if c["prompt"] == prompt)
        one = sds.CameraBatch([self.camera])
        self.variants = [
            self.prior.ground_truth(prompt, one, member=m)["rgb"][0].double()
            for m in range(len(concept["variants"]))
        ]
        self.alpha_bar = self.prior.schedule().alpha_bar(torch.arange(1000)).double().flatten()
        self.sigma = 0.01  # the prior's s

    def nearest(self, image):
        scores = [psnr(image, v) for v in self.variants]
        best = max(range(len(scores)), key=scores.__getitem__)
        return best, scores[best]


def particle_noise(x_t, particles, a, s2):
    """eps of q_t = mean_j N(sqrt(a) x_j, v I), v = a s^2 + 1 - a, at each x_t (one row each)."""
    v = a * s2 + 1 - a
    d2 = ((x_t[:, None] - a.sqrt()[:, None] * particles[None]) ** 2).flatten(2).sum(-1)
    r = torch.softmax(-d2 / (2 * v.view(-1, 1)), dim=1)
    mean = torch.einsum("ij,jchw->ichw", r, particles)
    return (1 - a).sqrt() * (x_t - a.sqrt() * mean) / v


def run(bed, objective, n, steps, seed, size):
    g = torch.Generator().manual_seed(seed)
    cond = sds.Conditioning([bed.prompt], sds.CameraBatch([bed.camera] * n))
    x = (0.1 * torch.randn(n, 3, size, size, generator=g, dtype=torch.float64)).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.02)
    for i in range(steps):
        high = int(980 - (980 - 300) * i / steps)
        t = torch.randint(20, high + 1, (1,), generator=g).expand(n).contiguous()
        a = bed.alpha_bar[t].view(-1, 1, 1, 1)
        noise = torch.randn(x.shape, generator=g, dtype=torch.float64)
        x_t = a.sqrt() * x.detach() + (1 - a).sqrt() * noise
        eps_prior = (x_t - a.sqrt() * bed.prior.posterior_mean(x_t, t, cond)) / (1 - a).sqrt()
        target = noise if objective == "sds" else particle_noise(x_t, x.detach(), a, bed.sigma**2)
        opt.zero_grad()
        x.grad = (1 - a) * (eps_prior - target)
        opt.step()
    images = (x.detach().clamp(-1, 1) + 1) / 2
    return [bed.nearest(image) for image in images]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompt", default="a mug in one of four colours")
    p.add_argument("--particles", type=int, default=4)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--size", type=int, default=32)
    args = p.parse_args()
    bed = Testbed(args.prompt, args.size)
    for objective in ("sds", "vsd"):
        coverage, scores = [], []
        for seed in range(args.seeds):
            result = run(bed, objective, args.particles, args.steps, seed, args.size)
            reached = {m for m, db in result if db >= 24}
            coverage.append(len(reached))
            scores += [db for _, db in result]
            print(f"{objective} seed {seed}: nearest {''.join(str(m) for m, _ in result)}, "
                  f"PSNR {' '.join(f'{db:.1f}' for _, db in result)}, coverage {len(reached)}")
        s = torch.tensor(scores)
        print(f"{objective}: coverage per seed {coverage} of {len(bed.variants)}, nearest-variant "
              f"PSNR {s.mean():.2f} +- {s.std(unbiased=False):.2f} over {len(scores)} particles")


if __name__ == "__main__":
    main()
