#pragma once
// Trilinear sampling of one dense 3D grid at a batch of points, fused (forward and backward).

#include <ATen/ATen.h>

namespace sds::ops {

/// Samples the channels-last grid [D, H, W, C] at points [N, 3]; returns [N, C].
///
/// A point (x, y, z) in [-1, 1]^3 maps to (W, H, D) with align_corners semantics: x = -1 is the
/// centre of voxel 0 and x = 1 the centre of voxel W - 1 (likewise y over H, z over D). The value
/// is the trilinear interpolation of the 8 surrounding voxels; corners outside the grid contribute
/// zero (zero padding), so points beyond the cube fade out over half a voxel and are zero farther
/// away. This is exactly
///   at::grid_sampler(grid.permute({3, 0, 1, 2})[None], points.view({1, 1, 1, N, 3}),
///                    /*bilinear*/ 0, /*zeros*/ 0, /*align_corners*/ true)
/// reshaped to [N, C], without the layout changes and with forward and backward parallel over the
/// points (the CPU backward is deterministic for a fixed thread count).
///
/// Points must be finite (not checked, for speed; it is the caller's job). D, H, W >= 1; N and C
/// may be 0.
/// Differentiable w.r.t. grid only (first order): points that require grad are an sds::Error,
/// since their gradient is not computed. Both tensors share one floating dtype (float32 or
/// float64) and one device (CPU, or CUDA in a build with CUDA); anything else is an sds::Error.
at::Tensor trilinear_sample(const at::Tensor& grid, const at::Tensor& points);

}  // namespace sds::ops
