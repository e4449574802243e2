#pragma once
// EWA projection of 3D Gaussians into pinhole cameras (the first stage of splatting), fused.

#include <ATen/ATen.h>

namespace sds::ops {

/// Settings of the projection (gsplat's defaults).
struct ProjectionOptions {
  double eps2d = 0.3;         ///< low-pass dilation added to the 2D covariance, px^2
  double near_plane = 0.01;   ///< camera-space depths outside [near, far] are culled
  double far_plane = 1e10;
  bool antialiased = false;   ///< Mip-Splatting: compensation sqrt(det S' / det(S' + eps I))
};

/// The screen-space Gaussians of C cameras x N Gaussians. A culled pair has radii 0 and zeros
/// elsewhere.
struct ProjectedGaussians {
  at::Tensor radii;          ///< [C, N, 2] int32 half-extent of the screen box in pixels
  at::Tensor means2d;        ///< [C, N, 2] pixel position of the projected mean
  at::Tensor depths;         ///< [C, N] camera-space z of the mean
  at::Tensor conics;         ///< [C, N, 3] inverse 2D covariance (a, b, c) = (P00, P01, P11)
  at::Tensor compensations;  ///< [C, N] opacity factor (1 unless anti-aliased)
};

/// Projects Gaussians (means [N, 3], quats [N, 4] as (w, x, y, z), not necessarily unit,
/// scales [N, 3] standard deviations > 0) into cameras (viewmats [C, 4, 4] world-to-camera with
/// OpenCV axes: +x right, +y down, +z forward; Ks [C, 3, 3] pinhole intrinsics) of
/// width x height pixels. Pixel (row i, column j) has its centre at (j + 0.5, i + 0.5).
///   t = R mean + t_w2c;  Sigma = R(q) diag(s)^2 R(q)^T;  Sigma' = J R Sigma R^T J^T + eps2d I
/// with J the perspective Jacobian at t clamped to 1.3x the field of view. A pair is culled when
/// t_z is outside [near, far], det Sigma' <= 0, its box (3.33 sigma; opacity-aware and culled
/// below opacity 1/255 when `opacities` [N] is given) misses the image.
/// Differentiable w.r.t. means, quats and scales through means2d, depths, conics and
/// compensations (opacities only shape the boxes). All floating inputs share one dtype
/// (float32 or float64) and one device; anything else is an sds::Error.
ProjectedGaussians project_gaussians(const at::Tensor& means, const at::Tensor& quats,
                                     const at::Tensor& scales, const at::Tensor& opacities,
                                     const at::Tensor& viewmats, const at::Tensor& Ks,
                                     int64_t width, int64_t height,
                                     const ProjectionOptions& options = {});

}  // namespace sds::ops
