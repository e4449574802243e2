"""Projection, SH and the rasteriser facade against gsplat's pure-PyTorch reference
(gsplat.cuda._torch_impl, run on the CPU in float64): values and gradients, several seeds,
off-centre principal points."""
import math

import pytest
import torch

import sds

torch_impl = pytest.importorskip("gsplat.cuda._torch_impl")


def scene(seed, n=48, cameras=2, width=28, height=22):
    g = torch.Generator().manual_seed(seed)
    d = torch.float64
    means = (torch.rand(n, 3, generator=g, dtype=d) - 0.5) * 1.2
    quats = torch.randn(n, 4, generator=g, dtype=d)
    scales = torch.rand(n, 3, generator=g, dtype=d) * 0.12 + 0.02
    opacities = torch.rand(n, generator=g, dtype=d) * 0.9 + 0.05
    cams = [sds.Camera.orbit(10 + 15 * c, 30 + 70 * c, 3.0, 45, height, width) for c in range(cameras)]
    # Off-centre principal points and unequal focal lengths.
    cams = [sds.Camera(c.c2w(), c.fx * 1.1, c.fy * 0.95, c.cx + 2.5 - c_i, c.cy - 1.5 + c_i,
                       width, height) for c_i, c in enumerate(cams)]
    batch = sds.CameraBatch(cams)
    viewmats = torch.stack([c.viewmat() for c in cams])
    Ks = torch.stack([c.K() for c in cams])
    return means, quats, scales, opacities, viewmats, Ks, width, height, g


def gsplat_projection(means, quats, scales, viewmats, Ks, width, height, antialiased=False):
    covars, _ = torch_impl._quat_scale_to_covar_preci(quats, scales, compute_preci=False)
    return torch_impl._fully_fused_projection(means, covars, viewmats, Ks, width, height,
                                              eps2d=0.3, calc_compensations=antialiased)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("antialiased", [False, True])
def test_projection_matches_gsplat_values_and_gradients(seed, antialiased):
    means, quats, scales, opacities, viewmats, Ks, w, h, g = scene(seed)
    inputs = [t.clone().requires_grad_() for t in (means, quats, scales)]
    ours = sds.ops.project_gaussians(*inputs, None, viewmats, Ks, w, h, antialiased=antialiased)
    ref_inputs = [t.clone().requires_grad_() for t in (means, quats, scales)]
    radii, means2d, depths, conics, comp = gsplat_projection(*ref_inputs, viewmats, Ks, w, h,
                                                             antialiased)
    valid = (radii > 0).all(-1)
    assert valid.sum() > 20
    assert torch.equal((ours.radii > 0).all(-1), valid)
    assert torch.equal(ours.radii[valid], radii[valid])
    tol = dict(rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(ours.means2d[valid], means2d[valid], **tol)
    torch.testing.assert_close(ours.depths[valid], depths[valid], **tol)
    torch.testing.assert_close(ours.conics[valid], conics[valid], **tol)
    if antialiased:
        torch.testing.assert_close(ours.compensations[valid], comp[valid], **tol)
    # Gradients of one random functional of the visible outputs.
    weights = [torch.randn(t.shape, generator=g, dtype=torch.float64)
               for t in (means2d, depths, conics)]

    def functional(m2, dp, cn, cp):
        v = valid.to(torch.float64)
        out = (m2 * weights[0] * v[..., None]).sum() + (dp * weights[1] * v).sum() + \
            (cn * weights[2] * v[..., None]).sum()
        return out + (cp * v).sum() if antialiased else out

    functional(ours.means2d, ours.depths, ours.conics, ours.compensations).backward()
    functional(means2d, depths, conics, comp).backward()
    for a, b in zip(inputs, ref_inputs):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_spherical_harmonics_matches_gsplat(degree):
    g = torch.Generator().manual_seed(degree)
    dirs = torch.randn(200, 3, generator=g, dtype=torch.float64).requires_grad_()
    coeffs = (torch.randn(200, 16, 3, generator=g, dtype=torch.float64) * 0.3).requires_grad_()
    ours = sds.ops.spherical_harmonics(degree, dirs, coeffs)
    d2, c2 = dirs.detach().clone().requires_grad_(), coeffs.detach().clone().requires_grad_()
    # The 3DGS colour: SH plus 0.5, clamped at 0 (gsplat's rasterization() does the same).
    ref = (torch_impl._spherical_harmonics(degree, d2, c2) + 0.5).clamp_min(0)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)
    w = torch.randn(ours.shape, generator=g, dtype=torch.float64)
    (ours * w).sum().backward()
    (ref * w).sum().backward()
    torch.testing.assert_close(coeffs.grad, c2.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(dirs.grad, d2.grad, rtol=1e-8, atol=1e-10)


def dense_composite(means2d, conics, colors, opacities, depths, valid, width, height, bg):
    """Front-to-back compositing of every visible Gaussian at every pixel centre, with the
    documented rules (alpha = min(0.99, o exp(-sigma)), skip alpha < 1/255, stop before T
    would fall to 1e-4), in plain differentiable torch."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64) + 0.5,
                            torch.arange(width, dtype=torch.float64) + 0.5, indexing="ij")
    pix = torch.stack([xs.reshape(-1), ys.reshape(-1)], -1)  # [P, 2]
    images, alphas, depth_images = [], [], []
    for c in range(means2d.shape[0]):
        idx = valid[c].nonzero().squeeze(1)
        idx = idx[torch.argsort(depths[c, idx], stable=True)]
        d = pix[:, None, :] - means2d[c, idx][None]  # [P, M, 2]
        a, b, cc = conics[c, idx].unbind(-1)
        sigma = 0.5 * (a * d[..., 0] ** 2 + cc * d[..., 1] ** 2) + b * d[..., 0] * d[..., 1]
        alpha = torch.clamp(opacities[c, idx] * torch.exp(-sigma), max=0.99)
        keep = (sigma >= 0) & (alpha >= 1.0 / 255.0)
        alpha = torch.where(keep, alpha, torch.zeros_like(alpha))
        t_after = torch.cumprod(1 - alpha, dim=1)
        stop = (t_after <= 1e-4).cumsum(1) > 0  # this and every later Gaussian is not used
        alpha = torch.where(stop, torch.zeros_like(alpha), alpha)
        t_before = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], 1), 1)
        w = alpha * t_before
        final_t = t_before[:, -1] * (1 - alpha[:, -1])
        rgb = w @ colors[c, idx] + final_t[:, None] * bg[c][None]
        acc = w.sum(1)
        z = (w * depths[c, idx][None]).sum(1) / acc.clamp_min(1e-300)
        z = torch.where(acc > 0, z, torch.zeros_like(z))
        images.append(rgb.view(height, width, -1))
        alphas.append(acc.view(height, width, 1))
        depth_images.append(z.view(height, width, 1))
    return torch.stack(images), torch.stack(alphas), torch.stack(depth_images)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_rasteriser_facade_matches_gsplat_projection_and_sh_composited_densely(seed):
    means, quats, scales, opacities, viewmats, Ks, w, h, g = scene(seed)
    sh = torch.randn(means.shape[0], 4, 3, generator=g, dtype=torch.float64) * 0.4
    bg = torch.rand(viewmats.shape[0], 3, generator=g, dtype=torch.float64)
    ours_in = [t.clone().requires_grad_() for t in (means, quats, scales, opacities, sh)]
    ours = sds.ops.rasterize(*ours_in, viewmats, Ks, w, h, bg, sh_degree=1)
    ref_in = [t.clone().requires_grad_() for t in (means, quats, scales, opacities, sh)]
    m, q, s, o, c = ref_in
    radii, means2d, depths, conics, _ = gsplat_projection(m, q, s, viewmats, Ks, w, h)
    centres = torch.linalg.inv(viewmats)[:, :3, 3]  # camera centres
    dirs = m[None] - centres[:, None]
    colors = (torch_impl._spherical_harmonics(1, dirs, c[None].expand(len(centres), -1, -1, -1))
              + 0.5).clamp_min(0)
    valid = (radii > 0).all(-1)
    rgb, alpha, depth = dense_composite(means2d, conics, colors, o[None].expand_as(depths),
                                        depths, valid, w, h, bg)
    tol = dict(rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(ours.rgb, rgb, **tol)
    torch.testing.assert_close(ours.alpha, alpha, **tol)
    torch.testing.assert_close(ours.depth, depth, **tol)
    r, a, d, meta = ours  # gsplat-like unpacking
    assert meta.radii.shape == (viewmats.shape[0], means.shape[0], 2)
    weights = [torch.randn(t.shape, generator=g, dtype=torch.float64) for t in (rgb, alpha, depth)]
    ((ours.rgb * weights[0]).sum() + (ours.alpha * weights[1]).sum() +
     (ours.depth * weights[2]).sum()).backward()
    ((rgb * weights[0]).sum() + (alpha * weights[1]).sum() + (depth * weights[2]).sum()).backward()
    for name, a_, b_ in zip(["means", "quats", "scales", "opacities", "sh"], ours_in, ref_in):
        torch.testing.assert_close(a_.grad, b_.grad, rtol=1e-6, atol=1e-8, msg=name)
