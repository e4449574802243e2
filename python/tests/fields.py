"""A field written in plain PyTorch: a density/colour grid rendered with sds.ops.composite_rays
(the renderer a researcher brings to sds)."""
import torch
import torch.nn.functional as F

import sds


class TorchGrid(torch.nn.Module):
    def __init__(self, resolution=32, samples=48, blob_density=10.0, blob_radius=0.5):
        super().__init__()
        r = resolution
        axis = torch.linspace(-1, 1, r)
        z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
        dist = (x * x + y * y + z * z).sqrt()
        self.density = torch.nn.Parameter((blob_density * (1 - dist / blob_radius))[None, None])
        self.color = torch.nn.Parameter(torch.zeros(1, 3, r, r, r))
        self.samples = samples

    def query(self, points):
        grid = points.view(1, 1, 1, -1, 3)
        sigma = 20.0 * F.softplus(F.grid_sample(self.density, grid, align_corners=True)).view(-1)
        rgb = torch.sigmoid(F.grid_sample(self.color, grid, align_corners=True)).view(3, -1).t()
        return sigma, rgb

    def forward(self, cameras, background=1.0):
        origins, dirs = cameras.rays()
        b, h, w, _ = origins.shape
        o, d = origins.reshape(-1, 3), dirs.reshape(-1, 3)
        # Between the entry and exit of the cube [-1, 1]^3 (every camera is outside it).
        inv = 1.0 / d
        t0, t1 = (-1 - o) * inv, (1 - o) * inv
        near = torch.minimum(t0, t1).amax(-1).clamp_min(0)
        far = torch.maximum(t0, t1).amin(-1)
        far = torch.maximum(far, near)
        u = (torch.arange(self.samples) + 0.5) / self.samples
        ts = near[:, None] + (far - near)[:, None] * u[None]
        deltas = ((far - near) / self.samples)[:, None].expand_as(ts).contiguous()
        points = o[:, None] + d[:, None] * ts[..., None]
        sigma, rgb = self.query(points.reshape(-1, 3))
        out = sds.ops.composite_rays(sigma.view(ts.shape), rgb.view(*ts.shape, 3), deltas,
                                     ts.contiguous())
        color = out.rgb + (1 - out.alpha)[:, None] * background
        return color.view(b, h, w, 3).permute(0, 3, 1, 2)
