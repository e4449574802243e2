"""The fused ops through the bindings: torch tensors in and out without copies, gradients from
torch's autograd equal to finite differences (float64), values against plain torch."""
import pytest
import torch

import sds


def rays(seed, r=7, s=9):
    g = torch.Generator().manual_seed(seed)
    d = torch.float64
    sigmas = torch.rand(r, s, generator=g, dtype=d) * 3
    rgbs = torch.rand(r, s, 3, generator=g, dtype=d)
    deltas = torch.rand(r, s, generator=g, dtype=d) * 0.2 + 0.01
    ts = torch.cumsum(deltas, 1)
    return sigmas, rgbs, deltas, ts


@pytest.mark.parametrize("seed", [0, 1])
def test_composite_rays_values_and_gradients(seed):
    sigmas, rgbs, deltas, ts = rays(seed)
    out = sds.ops.composite_rays(sigmas, rgbs, deltas, ts)
    # The quadrature in plain torch.
    alpha = 1 - torch.exp(-sigmas * deltas)
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], 1), 1)
    w = trans * alpha
    torch.testing.assert_close(out.weights, w, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.rgb, (w[..., None] * rgbs).sum(1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.depth, (w * ts).sum(1), rtol=1e-12, atol=1e-12)

    def f(sig, col):
        o = sds.ops.composite_rays(sig, col, deltas, ts)
        return o.rgb, o.alpha, o.depth, o.weights

    assert torch.autograd.gradcheck(f, (sigmas.requires_grad_(), rgbs.requires_grad_()),
                                    eps=1e-6, atol=1e-7)


def test_trilinear_sample_matches_grid_sample_and_finite_differences():
    g = torch.Generator().manual_seed(2)
    grid = torch.rand(4, 5, 6, 2, generator=g, dtype=torch.float64)
    points = torch.rand(30, 3, generator=g, dtype=torch.float64) * 2.2 - 1.1
    out = sds.ops.trilinear_sample(grid, points)
    ref = torch.nn.functional.grid_sample(grid.permute(3, 0, 1, 2)[None],
                                          points.view(1, 1, 1, -1, 3), align_corners=True,
                                          padding_mode="zeros").view(2, -1).t()
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda gr: sds.ops.trilinear_sample(gr, points),
                                    (grid.requires_grad_(),), eps=1e-6, atol=1e-8)


def test_ops_share_memory_with_torch():
    grid = sds.VoxelGrid(resolution=8)
    density = grid.named_tensors()["density"]
    with torch.no_grad():
        density.fill_(-50.0)  # writes reach the C++ object: the tensor is its own
    out = grid.render(sds.OrbitSampler(height=8, width=8, batch_size=1).sample(0))
    assert out.alpha.max() < 1e-3
    x = torch.rand(5, 4, dtype=torch.float64)
    o = sds.ops.composite_rays(x, torch.rand(5, 4, 3, dtype=torch.float64), x, x)
    assert o.weights.data_ptr() != 0 and o.weights.shape == (5, 4)


def test_spherical_harmonics_gradcheck():
    g = torch.Generator().manual_seed(3)
    dirs = torch.randn(6, 3, generator=g, dtype=torch.float64)
    coeffs = torch.randn(6, 9, 3, generator=g, dtype=torch.float64) * 0.2
    assert torch.autograd.gradcheck(lambda d, c: sds.ops.spherical_harmonics(2, d, c),
                                    (dirs.requires_grad_(), coeffs.requires_grad_()), eps=1e-6,
                                    atol=1e-7)
