#pragma once
// Front-to-back alpha compositing of binned 2D Gaussians into pixels (the last stage of
// splatting), fused.

#include <ATen/ATen.h>

#include "sds/ops/gaussian_tiles.h"

namespace sds::ops {

/// Composited images of C cameras.
struct RasterizedPixels {
  at::Tensor colors;  ///< [C, H, W, D] sum_i c_i alpha_i T_i + T_final background
  at::Tensor alphas;  ///< [C, H, W, 1] 1 - T_final
};

/// Largest channel count D of rasterize_to_pixels.
constexpr int64_t kMaxRasterChannels = 4;

/// Composites 2D Gaussians (means2d [C, N, 2] pixels, conics [C, N, 3], colors [C, N, D] with
/// D in 1..4, opacities [C, N] in [0, 1]) over backgrounds [C, D] (undefined = 0) into
/// width x height images, walking each 16 x 16 tile's list from `tiles` front to back. Pixel
/// (i, j) is evaluated at (j + 0.5, i + 0.5):
///   alpha_i = min(0.99, o_i exp(-sigma_i)),  sigma_i = (a dx^2 + c dy^2) / 2 + b dx dy,
/// skipping alpha < 1/255 and stopping before the Gaussian that would take T to 1e-4 or less.
/// Differentiable w.r.t. means2d, conics, colors, opacities and backgrounds (backward in closed
/// form, first order). One floating dtype and one device; anything else is an sds::Error.
RasterizedPixels rasterize_to_pixels(const at::Tensor& means2d, const at::Tensor& conics,
                                     const at::Tensor& colors, const at::Tensor& opacities,
                                     const at::Tensor& backgrounds, int64_t width, int64_t height,
                                     const TileIntersections& tiles);

}  // namespace sds::ops
