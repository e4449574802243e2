"""The NeRF parts through the bindings: the hash-grid encoding against the same math in plain
torch and under torch's gradcheck and gradgradcheck (float64), packed marching and compositing,
the occupancy grid with a Python field, and the Nerf representation rendering and training."""
import pytest
import torch

import sds


def small_layout():
    return sds.ops.HashGridLayout(sds.ops.HashGridOptions(
        n_levels=4, n_features_per_level=2, log2_hashmap_size=8, base_resolution=4,
        per_level_scale=2.0))


def torch_encode(params, u, layout):
    """tiny-cuda-nn's encoding in plain torch (uint32 arithmetic in int64 with a mask)."""
    mask = 0xFFFFFFFF
    out = []
    for level in layout.levels:
        pos = u * level.scale + 0.5
        g = torch.floor(pos)
        f = pos - g
        gi = g.long()
        acc = 0
        for c in range(8):
            bits = [(c >> d) & 1 for d in range(3)]
            v = [(gi[:, d] + bits[d]) & mask for d in range(3)]
            w = 1
            for d in range(3):
                w = w * (f[:, d] if bits[d] else 1 - f[:, d])
            if level.hashed:
                index = v[0] ^ ((v[1] * 2654435761) & mask) ^ ((v[2] * 805459861) & mask)
            else:
                r = level.resolution
                index = (v[0] + v[1] * r + v[2] * r * r) & mask
            index = torch.remainder(index, level.size) + level.offset
            acc = acc + params[index] * w[:, None]
        out.append(acc)
    return torch.cat(out, 1)


def test_hash_grid_matches_torch_and_passes_gradgradcheck():
    layout = small_layout()
    assert layout.n_entries == 64 + 3 * 256
    g = torch.Generator().manual_seed(0)
    params = torch.randn(layout.n_entries, 2, generator=g, dtype=torch.float64)
    u = torch.rand(50, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(sds.ops.hash_grid_encode(params, u, layout),
                               torch_encode(params, u, layout), rtol=1e-12, atol=1e-12)
    # Points away from cell faces (the encoding is piecewise smooth).
    frac_ok = torch.ones(50, dtype=torch.bool)
    for level in layout.levels:
        fr = torch.frac(u * level.scale + 0.5)
        frac_ok &= ((fr > 1e-3) & (fr < 1 - 1e-3)).all(1)
    u = u[frac_ok][:12].clone().requires_grad_()
    p = params.clone().requires_grad_()

    def f(theta, x):
        return sds.ops.hash_grid_encode(theta, x, layout)

    assert torch.autograd.gradcheck(f, (p, u), eps=1e-7, atol=1e-6)
    assert torch.autograd.gradgradcheck(f, (p, u), eps=1e-7, atol=1e-5)


def test_march_rays_and_packed_compositing():
    g = torch.Generator().manual_seed(1)
    n = 64
    o = torch.tensor([[3.0, 0.0, 0.0]]).expand(n, 3).contiguous()
    target = torch.rand(n, 3, generator=g) * 1.2 - 0.6
    d = torch.nn.functional.normalize(target - o, dim=1)
    near = torch.full((n,), 2.0)
    far = torch.full((n,), 4.0)
    full = torch.ones(1, 1, 1, dtype=torch.bool)
    m = sds.ops.march_rays(o, d, near, far, full, 1.0, 0.05)
    counts = m.ray_offsets[1:] - m.ray_offsets[:-1]
    # Midpoints before far: near + (k + 1/2) 0.05 < far, k = 0..39 -- and only inside the cube.
    mid = 0.5 * (m.t_starts + m.t_ends)
    x = o[m.ray_indices] + d[m.ray_indices] * mid[:, None]
    assert (x.abs() <= 1 + 1e-6).all() and int(counts.sum()) == x.shape[0]
    sig = torch.rand(x.shape[0], generator=g, dtype=torch.float64) * 2
    col = torch.rand(x.shape[0], 3, generator=g, dtype=torch.float64)
    out = sds.ops.composite_rays_packed(sig, col, (m.t_ends - m.t_starts).double(),
                                        mid.double(), m.ray_offsets)
    # Ray by ray in plain torch.
    for r in range(0, n, 7):
        a, b = int(m.ray_offsets[r]), int(m.ray_offsets[r + 1])
        alpha = 1 - torch.exp(-sig[a:b] * 0.05)
        trans = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.float64), 1 - alpha[:-1]]), 0)
        w = trans * alpha
        torch.testing.assert_close(out.rgb[r], (w[:, None] * col[a:b]).sum(0), rtol=1e-6,
                                   atol=1e-6)


def test_occupancy_grid_with_a_python_field():
    grid = sds.OccupancyGrid(1.0, resolution=16)
    assert bool(grid.binary.all()) and not grid.updated
    ball = lambda x: (x.norm(dim=1) < 0.5).float()  # noqa: E731
    grid.update(0, ball, torch.Generator().manual_seed(0))
    centres = grid.cell_centres()
    # Cells wholly inside the ball are occupied, cells wholly outside are not.
    dist = centres.norm(dim=1)
    half_diag = 3 ** 0.5 / 16
    binary = grid.binary.reshape(-1)
    assert binary[dist < 0.5 - half_diag].all()
    assert not binary[dist > 0.5 + half_diag].any()
    with pytest.raises(sds.Error):
        sds.OccupancyGrid(1.0, resolution=0)


def test_nerf_renders_and_trains_from_python():
    nerf = sds.Nerf({"grid": {"n_levels": 4, "log2_hashmap_size": 12, "per_level_scale": 2.0},
                     "samples_per_ray": 64, "occupancy_grid": {"resolution": 16},
                     "normal_type": "analytic"}, seed=0)
    cams = sds.CameraBatch([sds.Camera.orbit(20, 30, 3.0, 40, 16, 16)])
    opts = sds.RenderOptions()
    opts.step = 3000
    opts.generator = torch.Generator().manual_seed(0)
    out = nerf.render(cams, opts)
    assert out.rgb.shape == (1, 3, 16, 16) and out.z_variance.shape == (1, 1, 16, 16)
    weights = sds.RegulariserWeights(sparsity=1.0, orientation=10.0)
    reg = sds.regularisation(weights, out, 0, 100)
    (out.rgb.mean() + reg.loss).backward()
    grads = [p.grad for g in nerf.parameter_groups() for p in g.parameters]
    assert all(gr is not None and float(gr.abs().sum()) > 0 for gr in grads)
    assert "reg_sparsity" in reg.metrics and "reg_orientation" in reg.metrics
    with pytest.raises(sds.Error):
        sds.Nerf({"density_activation": "relu"})
    with pytest.raises(sds.Error):
        sds.RegulariserWeights(sparsity=-1.0)


def test_nerf_silhouettes_and_trimmed_solid_from_python():
    nerf = sds.Nerf({"grid": {"n_levels": 4, "log2_hashmap_size": 12, "per_level_scale": 2.0},
                     "samples_per_ray": 64, "occupancy_grid": {"resolution": 16},
                     "early_stop_eps": 0.0, "alpha_threshold": 0.0,
                     "isosurface_threshold": 0.01, "silhouette_views": 16,
                     "silhouette_resolution": 48, "mesh_resolution": 32}, seed=0)
    views = sds.sphere_views(16, height=48, width=48)
    assert len(views) == 16
    cams = sds.CameraBatch(views[:2])
    alpha = nerf.render(cams).alpha[:, 0]  # first: it updates the occupancy grid both march
    masks = nerf.silhouettes(cams)
    clear = (alpha - 0.5).abs() > 1e-4
    assert masks.dtype == torch.bool and masks.shape == (2, 48, 48)
    assert torch.equal(masks[clear], (alpha >= 0.5)[clear])
    # The blob's tail (sigma >= 0.01 reaches radius 0.73) is trimmed to the opaque core.
    far = torch.tensor([[0.65, 0.0, 0.0], [0.0, 0.0, 0.3]], dtype=torch.float64)
    assert nerf.inside(far).tolist() == [False, True]
