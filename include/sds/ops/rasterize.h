#pragma once
// 3D Gaussian splatting in one call: projection -> colours -> tile binning -> compositing
// (gsplat's `rasterization`), composed of the fused ops of this folder.

#include <ATen/ATen.h>

#include "sds/ops/gaussian_projection.h"
#include "sds/ops/gaussian_tiles.h"

namespace sds::ops {

/// Settings of rasterize().
struct RasterizeOptions {
  int64_t sh_degree = 0;  ///< SH degree evaluated when colours are SH coefficients (0..3)
  ProjectionOptions projection;
  int64_t tile_size = 16;
};

/// The intermediates a densification strategy consumes.
struct RasterizeMeta {
  at::Tensor radii;          ///< [C, N, 2] int32 screen half-extents, 0 = not visible
  at::Tensor means2d;        ///< [C, N, 2] pixel means; call retain_grad() before backward for
                             ///< the screen-space gradients
  at::Tensor depths;         ///< [C, N] camera-space z
  at::Tensor conics;         ///< [C, N, 3]
  at::Tensor compensations;  ///< [C, N]
  TileIntersections tiles;
  int64_t width = 0, height = 0;
};

/// Rendered images of C cameras, channels last.
struct RasterizeResult {
  at::Tensor rgb;    ///< [C, H, W, D] colour over the background
  at::Tensor alpha;  ///< [C, H, W, 1] accumulated opacity
  at::Tensor depth;  ///< [C, H, W, 1] expected camera-space z: sum w_i z_i / alpha (0 if empty)
  RasterizeMeta meta;
};

/// Renders Gaussians (means [N, 3], quats [N, 4] (w, x, y, z), scales [N, 3] standard
/// deviations, opacities [N] in [0, 1]) with colours given either as SH coefficients
/// [N, K, 3] (evaluated at options.sh_degree towards each camera) or as plain features [N, D]
/// (D <= 3), into cameras (viewmats [C, 4, 4] world-to-camera with OpenCV axes, Ks [C, 3, 3]) of
/// width x height pixels over backgrounds [C, D] (undefined = black). Differentiable w.r.t.
/// every Gaussian tensor and the backgrounds. With options.projection.antialiased the opacities
/// are multiplied by the Mip-Splatting compensation.
RasterizeResult rasterize(const at::Tensor& means, const at::Tensor& quats,
                          const at::Tensor& scales, const at::Tensor& opacities,
                          const at::Tensor& colors, const at::Tensor& viewmats,
                          const at::Tensor& Ks, int64_t width, int64_t height,
                          const at::Tensor& backgrounds, const RasterizeOptions& options = {});

/// Camera centres [C, 3] of world-to-camera matrices [C, 4, 4]: -R^T t.
at::Tensor camera_centers(const at::Tensor& viewmats);

}  // namespace sds::ops
