"""Differentiable fused ops on CPU and CUDA tensors (the tensors cross without copies).

composite_rays, trilinear_sample, spherical_harmonics, project_gaussians, intersect_tiles,
rasterize_to_pixels and the gsplat-like rasterize (rgb, alpha, depth, meta)."""
from ._C import ops as _ops

composite_rays = _ops.composite_rays
trilinear_sample = _ops.trilinear_sample
spherical_harmonics = _ops.spherical_harmonics
project_gaussians = _ops.project_gaussians
intersect_tiles = _ops.intersect_tiles
rasterize_to_pixels = _ops.rasterize_to_pixels
rasterize = _ops.rasterize
camera_centers = _ops.camera_centers
CompositeRaysOutput = _ops.CompositeRaysOutput
ProjectedGaussians = _ops.ProjectedGaussians
TileIntersections = _ops.TileIntersections
RasterizedPixels = _ops.RasterizedPixels
RasterizeResult = _ops.RasterizeResult
RasterizeMeta = _ops.RasterizeMeta

__all__ = [name for name in dir() if not name.startswith("_")]
