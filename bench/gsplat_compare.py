"""sds's CUDA ops against gsplat and plain torch, forward+backward, on one GPU.

    PYTHONPATH=build/python SDS_SOURCE_DIR=$PWD .venv/bin/python bench/gsplat_compare.py

Cases (float32, CUDA events after warm-up, median of the timed steps):
- sds.ops.rasterize against gsplat.rasterization (1.5.3) at equal inputs: 100k Gaussians 512x512
  1 view; 1M Gaussians 1920x1080 1 view; 64 views x 10k Gaussians 256x256. SH degree 3, 16x16
  tiles, eps2d 0.3, classic (not antialiased); gsplat renders "RGB+ED" because sds.ops.rasterize
  always composites expected depth too, so both do the same work. The loss is a fixed random
  weighting of rgb, alpha and depth; backward into means, quats, scales, opacities and SH.
- sds.ops.trilinear_sample against torch.nn.functional.grid_sample (the C++ bench's default
  size: grid 64^3 x 4, 4 views x 64x64 rays x 96 samples), with the layout conversions charged
  per row as the C++ bench does.
- sds.ops.composite_rays against the same formula in plain torch (R=16384 S=96, R=65536 S=64).

Ratios are sds / baseline: <= 1 means sds is faster. Peak memory is
torch.cuda.max_memory_allocated() during one step above what was allocated before it, reset
between cases. gsplat compiles its CUDA extension on first use (minutes) unless it is cached;
that happens before any timing.

Without CUDA, or without gsplat, it prints "skipped: ..." and exits 0.
"""
import math
import statistics
import sys

import torch
import torch.nn.functional as F


def skip(reason):
    print(f"skipped: {reason}")
    sys.exit(0)


if not torch.cuda.is_available():
    skip("no CUDA (torch.cuda.is_available() is False)")
try:
    import gsplat
except ImportError:
    skip("no CUDA comparison possible: gsplat is not installed (pip install gsplat==1.5.3)")

import sds  # noqa: E402  (after the skip checks, so a machine without CUDA needs no sds build)

DEV = torch.device("cuda")
WARMUP, REPS = 3, 10


# ---- timing ----

def time_ms(step, warmup=WARMUP, reps=REPS):
    """Median milliseconds of step() between CUDA events, after warm-up."""
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def peak_mib(step):
    """Peak allocation of one step above what was allocated before it, in MiB."""
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def max_diff(a, b):
    return (a.detach().float() - b.detach().float()).abs().max().item() if a.numel() else 0.0


def max_rel_grad_diff(ga, gb):
    """Largest |difference| of each gradient relative to its largest entry, over the tensors."""
    worst = 0.0
    for a, b in zip(ga, gb):
        worst = max(worst, max_diff(a, b) / max(b.abs().max().item(), 1e-30))
    return worst


ROWS = []


def row(case, sds_ms, base_ms, baseline, diff, grad_diff, mem_sds=None, mem_base=None):
    ROWS.append((case, baseline, sds_ms, base_ms, sds_ms / base_ms, diff, grad_diff, mem_sds,
                 mem_base))
    print(f"  {case} vs {baseline}: sds {sds_ms:.3f} ms, baseline {base_ms:.3f} ms, "
          f"ratio {sds_ms / base_ms:.3f}", flush=True)


# ---- Gaussians ----

def look_at(eye):
    """World-to-camera matrix (OpenCV axes: x right, y down, z forward) looking at the origin."""
    f = -eye / eye.norm()
    r = torch.linalg.cross(f, torch.tensor([0.0, 1.0, 0.0]))
    r = r / r.norm()
    d = torch.linalg.cross(f, r)
    rot = torch.stack([r, d, f])
    m = torch.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = -rot @ eye
    return m


def gaussian_scene(n, width, height, views, sh_degree=3, seed=0):
    """N Gaussians in a ball of radius 0.8 (the C++ bench's scene), cameras at distance 3 with a
    40-degree horizontal field of view, one view straight on or `views` around the ball."""
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(n, 3, generator=g)
    means = d / d.norm(dim=1, keepdim=True) * 0.8 * torch.rand(n, 1, generator=g) ** (1 / 3)
    quats = torch.randn(n, 4, generator=g)
    scales = (torch.rand(n, 3, generator=g) * 0.5 + 0.75) * (0.5 / n ** (1 / 3))
    opacities = torch.rand(n, generator=g) * 0.8 + 0.1
    sh = torch.randn(n, (sh_degree + 1) ** 2, 3, generator=g) * 0.3
    f = 0.5 * width / math.tan(math.radians(20))
    K = torch.tensor([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], dtype=torch.float32)
    if views == 1:
        viewmats = torch.eye(4)[None].clone()
        viewmats[0, 2, 3] = 3.0  # camera at z = -3 looking down +z
    else:
        mats = []
        for v in range(views):
            az = 2 * math.pi * v / views
            el = math.radians(-30 + 60 * ((v * 7) % views) / views)
            eye = 3.0 * torch.tensor([math.cos(el) * math.cos(az), math.sin(el),
                                      math.cos(el) * math.sin(az)])
            mats.append(look_at(eye))
        viewmats = torch.stack(mats)
    Ks = K[None].expand(views, 3, 3).contiguous()
    bg = torch.rand(views, 3, generator=g)
    t = [x.to(DEV) for x in (means, quats, scales, opacities, sh, viewmats, Ks, bg)]
    return t, sh_degree


def leaves(tensors):
    return [t.detach().clone().requires_grad_(True) for t in tensors]


def run_sds_raster(inputs, viewmats, Ks, width, height, bg, sh_degree):
    out = sds.ops.rasterize(*inputs, viewmats, Ks, width, height, bg, sh_degree=sh_degree,
                            eps2d=0.3, near_plane=0.01, far_plane=1e10, antialiased=False,
                            tile_size=16)
    return out.rgb, out.alpha, out.depth


def run_gsplat_raster(inputs, viewmats, Ks, width, height, bg, sh_degree):
    m, q, s, o, sh = inputs
    colors, alphas, _ = gsplat.rasterization(
        m, q, s, o, sh, viewmats, Ks, width, height, near_plane=0.01, far_plane=1e10,
        eps2d=0.3, sh_degree=sh_degree, tile_size=16, backgrounds=bg, render_mode="RGB+ED",
        rasterize_mode="classic")
    return colors[..., :3], alphas, colors[..., 3:4]


def raster_case(name, n, width, height, views):
    print(f"{name}: building the scene", flush=True)
    (means, quats, scales, opacities, sh, viewmats, Ks, bg), deg = gaussian_scene(
        n, width, height, views)
    gauss = (means, quats, scales, opacities, sh)
    g = torch.Generator(device=DEV).manual_seed(1)
    weights = [torch.randn((views, height, width, c), generator=g, device=DEV) for c in (3, 1, 1)]

    def make_step(render, keep):
        inputs = leaves(gauss)

        def step():
            outs = render(inputs, viewmats, Ks, width, height, bg, deg)
            loss = sum((o * w).sum() for o, w in zip(outs, weights))
            grads = torch.autograd.grad(loss, inputs)
            if keep is not None:
                keep[:] = [outs, grads]
        return step

    results = {}
    for label, render in (("sds", run_sds_raster), ("gsplat", run_gsplat_raster)):
        keep = []
        make_step(render, keep)()  # also compiles / warms up
        results[label] = keep
    (o_s, g_s), (o_g, g_g) = results["sds"], results["gsplat"]
    diff = max(max_diff(a, b) for a, b in zip(o_s, o_g))
    grad_diff = max_rel_grad_diff(g_s, g_g)
    del results, o_s, g_s, o_g, g_g
    torch.cuda.empty_cache()
    mem_s = peak_mib(make_step(run_sds_raster, None))
    mem_g = peak_mib(make_step(run_gsplat_raster, None))
    t_s = time_ms(make_step(run_sds_raster, None))
    t_g = time_ms(make_step(run_gsplat_raster, None))
    row(name, t_s, t_g, "gsplat.rasterization", diff, grad_diff, mem_s, mem_g)
    del means, quats, scales, opacities, sh, weights
    torch.cuda.empty_cache()


# ---- trilinear_sample ----

def ray_points(views=4, res=64, samples=96):
    """Points as the voxel-grid renderer makes them (the C++ bench's construction): cameras on a
    sphere of radius 2.5, 50-degree field of view, `samples` points evenly spaced between each
    ray's entry into and exit from [-1, 1]^3; a ray that misses puts its samples at the camera."""
    lin = (torch.arange(res) + 0.5) / res * 2 - 1
    vv, uu = torch.meshgrid(lin, lin, indexing="ij")
    tan_half = math.tan(math.radians(25))
    origins, dirs = [], []
    for v in range(views):
        az, el = 2 * math.pi * v / views + 0.3, 0.35
        eye = 2.5 * torch.tensor([math.cos(el) * math.cos(az), math.sin(el),
                                  math.cos(el) * math.sin(az)])
        fwd = -eye / eye.norm()
        right = torch.linalg.cross(fwd, torch.tensor([0.0, 1.0, 0.0]))
        right = right / right.norm()
        up = torch.linalg.cross(right, fwd)
        d = fwd + (uu[..., None] * right - vv[..., None] * up) * tan_half
        dirs.append((d / d.norm(dim=-1, keepdim=True)).reshape(-1, 3))
        origins.append(eye.expand(res * res, 3))
    o, d = torch.cat(origins), torch.cat(dirs)
    t0, t1 = (-1 - o) / d, (1 - o) / d
    near = torch.minimum(t0, t1).amax(-1).clamp_min(0)
    far = torch.maximum(t0, t1).amin(-1)
    hit = far > near
    near, far = torch.where(hit, near, 0.0), torch.where(hit, far, 0.0)
    u = (torch.arange(samples) + 0.5) / samples
    ts = near[:, None] + (far - near)[:, None] * u[None]
    return (o[:, None] + d[:, None] * ts[..., None]).reshape(-1, 3).contiguous()


def trilinear_cases():
    torch.manual_seed(0)
    res, C = 64, 4
    grid = torch.randn(res, res, res, C, device=DEV)  # [D, H, W, C]
    points = ray_points().to(DEV)
    n = points.shape[0]
    v = torch.randn(n, C, device=DEV)
    grid5 = grid.permute(3, 0, 1, 2).contiguous()[None]  # [1, C, D, H, W]
    v5 = v.t().contiguous().view(1, C, 1, 1, n)
    pts5 = points.view(1, 1, 1, n, 3)

    def sds_native(g_dhwc=grid, vv=v):
        g = g_dhwc.detach().requires_grad_(True)
        out = sds.ops.trilinear_sample(g, points)
        return out, torch.autograd.grad(out, g, vv)[0]

    def torch_native(g5=grid5, vv5=v5):
        g = g5.detach().requires_grad_(True)
        out = F.grid_sample(g, pts5, mode="bilinear", padding_mode="zeros", align_corners=True)
        return out, torch.autograd.grad(out, g, vv5)[0]

    def torch_at_sds_layout():  # torch pays grid in, v in, out, grad conversions
        out5, grad5 = torch_native(grid.permute(3, 0, 1, 2).contiguous()[None],
                                   v.t().contiguous().view(1, C, 1, 1, n))
        return out5.view(C, n).t().contiguous(), grad5[0].permute(1, 2, 3, 0).contiguous()

    def sds_at_torch_layout():  # sds pays the same four conversions the other way
        out, grad = sds_native(grid5[0].permute(1, 2, 3, 0).contiguous(),
                               v5.view(C, n).t().contiguous())
        return out.t().contiguous().view(1, C, 1, 1, n), grad.permute(3, 0, 1, 2).contiguous()[None]

    o_s, g_s = sds_native()
    o_t, g_t = torch_at_sds_layout()
    diff, grad_diff = max_diff(o_s, o_t), max_rel_grad_diff([g_s], [g_t])
    name = f"trilinear_sample {res}^3x{C}, N={n}"
    mem_s, mem_t = peak_mib(sds_native), peak_mib(torch_native)
    t_sds, t_torch = time_ms(sds_native), time_ms(torch_native)
    row(name + ", no conversions", t_sds, t_torch, "F.grid_sample", diff, grad_diff, mem_s, mem_t)
    row(name + ", sds layout (torch pays 4 conversions)", t_sds, time_ms(torch_at_sds_layout),
        "F.grid_sample", diff, grad_diff)
    row(name + ", torch layout (sds pays 4 conversions)", time_ms(sds_at_torch_layout), t_torch,
        "F.grid_sample", diff, grad_diff)


# ---- composite_rays ----

def torch_composite(sigmas, rgbs, deltas, ts):
    tau = sigmas * deltas
    alpha = 1 - torch.exp(-tau)
    before = F.pad(torch.cumsum(tau[:, :-1], 1), (1, 0))  # exclusive prefix sum
    w = torch.exp(-before) * alpha
    return (w[..., None] * rgbs).sum(1), w.sum(1), (w * ts).sum(1), w


def sds_composite(sigmas, rgbs, deltas, ts):
    o = sds.ops.composite_rays(sigmas, rgbs, deltas, ts)
    return o.rgb, o.alpha, o.depth, o.weights


def composite_case(R, S):
    torch.manual_seed(0)
    deltas = torch.rand(R, S, device=DEV) * 0.02 + 0.01
    sigmas = torch.rand(R, S, device=DEV) * 10
    rgbs = torch.rand(R, S, 3, device=DEV)
    ts = 2 + torch.cumsum(deltas, 1) - deltas
    ups = [torch.randn(R, 3, device=DEV), torch.randn(R, device=DEV), torch.randn(R, device=DEV),
           torch.randn(R, S, device=DEV)]

    def make(fn):
        def step():
            s = sigmas.detach().requires_grad_(True)
            c = rgbs.detach().requires_grad_(True)
            outs = fn(s, c, deltas, ts)
            return outs, torch.autograd.grad(outs, (s, c), ups)
        return step

    (o_s, g_s), (o_t, g_t) = make(sds_composite)(), make(torch_composite)()
    diff = max(max_diff(a, b) for a, b in zip(o_s, o_t))
    grad_diff = max_rel_grad_diff(g_s, g_t)
    mem_s, mem_t = peak_mib(make(sds_composite)), peak_mib(make(torch_composite))
    row(f"composite_rays R={R} S={S}", time_ms(make(sds_composite)),
        time_ms(make(torch_composite)), "plain torch", diff, grad_diff, mem_s, mem_t)


def main():
    if not sds.built_with_cuda():
        print("error: this sds build has no CUDA (rebuild with nvcc present, SDS_CUDA=ON)")
        sys.exit(1)
    if gsplat.__version__ != "1.5.3":
        print(f"warning: gsplat {gsplat.__version__}, the comparison was written for 1.5.3")
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"gsplat {gsplat.__version__}; warm-up {WARMUP}, median of {REPS}", flush=True)
    raster_case("rasterize 100k Gaussians 512x512, 1 view", 100_000, 512, 512, 1)
    raster_case("rasterize 1M Gaussians 1920x1080, 1 view", 1_000_000, 1920, 1080, 1)
    raster_case("rasterize 10k Gaussians 256x256, 64 views", 10_000, 256, 256, 64)
    trilinear_cases()
    composite_case(16384, 96)
    composite_case(65536, 64)

    print()
    print("forward+backward, float32; ratio = sds / baseline (<= 1: sds faster); max |d out| is "
          "the largest output difference, max |d grad| the largest gradient difference relative "
          "to the gradient's largest entry; peak = max_memory_allocated above the inputs")
    print()
    print("| case | baseline | sds ms | baseline ms | sds/baseline | max abs d out | "
          "max rel d grad | peak MiB sds | peak MiB baseline |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

    def mib(x):
        return "" if x is None else f"{x:.0f}"

    for case, base, t_s, t_b, ratio, d, gd, m_s, m_b in ROWS:
        print(f"| {case} | {base} | {t_s:.3f} | {t_b:.3f} | {ratio:.3f} | {d:.2e} | {gd:.2e} | "
              f"{mib(m_s)} | {mib(m_b)} |")


if __name__ == "__main__":
    main()
