// rasterize: the composition of the splatting ops. Depth rides along as one more composited
// channel (over a background of 0), as gsplat's "RGB+ED" mode does.

#include "sds/ops/rasterize.h"

#include "sds/core/checks.h"
#include "sds/core/error.h"
#include "sds/ops/rasterize_to_pixels.h"
#include "sds/ops/spherical_harmonics.h"

namespace sds::ops {

at::Tensor camera_centers(const at::Tensor& viewmats) {
  at::Tensor rot = viewmats.slice(1, 0, 3).slice(2, 0, 3);
  at::Tensor trans = viewmats.slice(1, 0, 3).select(2, 3);
  return -at::matmul(rot.transpose(1, 2), trans.unsqueeze(-1)).squeeze(-1);
}

RasterizeResult rasterize(const at::Tensor& means, const at::Tensor& quats,
                          const at::Tensor& scales, const at::Tensor& opacities,
                          const at::Tensor& colors, const at::Tensor& viewmats,
                          const at::Tensor& Ks, int64_t width, int64_t height,
                          const at::Tensor& backgrounds, const RasterizeOptions& options) {
  check_defined(opacities, "rasterize: opacities");
  check_defined(colors, "rasterize: colors");
  const int64_t N = means.dim() > 0 ? means.size(0) : 0;
  const bool is_sh = colors.dim() == 3;
  SDS_CHECK((is_sh && colors.size(0) == N && colors.size(2) == 3) ||
                (colors.dim() == 2 && colors.size(0) == N && colors.size(1) >= 1 &&
                 colors.size(1) <= kMaxRasterChannels - 1),
            "rasterize: colors: expected SH coefficients [N, K, 3] or features [N, D] with D <= "
            "{} (N = {}), got {}",
            kMaxRasterChannels - 1, N, shape_string(colors.sizes()));
  ProjectedGaussians proj = project_gaussians(means, quats, scales, opacities, viewmats, Ks, width,
                                              height, options.projection);
  const int64_t C = viewmats.size(0);
  // Depth is composited as one more channel, so features may have one channel less.
  at::Tensor features;  // [C, N, D]
  if (is_sh) {
    SDS_CHECK(options.sh_degree >= 0 && colors.size(1) >= (options.sh_degree + 1) * (options.sh_degree + 1),
              "rasterize: sh_degree {} needs {} coefficients, colors has {}", options.sh_degree,
              (options.sh_degree + 1) * (options.sh_degree + 1), colors.size(1));
    const int64_t K = colors.size(1);
    at::Tensor dirs = means.unsqueeze(0) - camera_centers(viewmats).unsqueeze(1);  // [C, N, 3]
    at::Tensor coeffs = colors.unsqueeze(0).expand({C, N, K, 3}).reshape({C * N, K, 3});
    features = spherical_harmonics(options.sh_degree, dirs.reshape({C * N, 3}), coeffs)
                   .view({C, N, 3});
  } else {
    features = colors.unsqueeze(0).expand({C, N, colors.size(1)});
  }
  const int64_t D = features.size(2);
  at::Tensor with_depth = at::cat({features, proj.depths.unsqueeze(-1)}, -1);
  at::Tensor bg;
  if (backgrounds.defined()) {
    check_shape(backgrounds, "rasterize: backgrounds", {C, D}, "[C, D] (D from colors)");
    bg = at::cat({backgrounds, at::zeros({C, 1}, backgrounds.options())}, -1);
  }
  at::Tensor opac = opacities.unsqueeze(0) * proj.compensations;  // [C, N]
  TileIntersections tiles =
      intersect_tiles(proj.means2d, proj.radii, proj.depths, width, height, options.tile_size);
  RasterizedPixels px =
      rasterize_to_pixels(proj.means2d, proj.conics, with_depth, opac, bg, width, height, tiles);
  RasterizeResult out;
  out.rgb = px.colors.slice(-1, 0, D);
  out.alpha = px.alphas;
  at::Tensor acc_depth = px.colors.slice(-1, D, D + 1);
  out.depth = at::where(px.alphas > 1e-10, acc_depth / px.alphas.clamp_min(1e-10),
                        at::zeros_like(acc_depth));
  out.meta = {proj.radii, proj.means2d, proj.depths, proj.conics, proj.compensations, tiles,
              width, height};
  return out;
}

}  // namespace sds::ops
