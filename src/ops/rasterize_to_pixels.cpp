// rasterize_to_pixels: boundary checks, device dispatch and the autograd Function around the
// fused forward/backward kernels.

#include "sds/ops/rasterize_to_pixels.h"

#include <ATen/Dispatch.h>
#include <torch/csrc/autograd/custom_function.h>

#include "ops/gaussian_checks.h"
#include "ops/op_glue.h"
#include "ops/rasterize_to_pixels_kernels.h"
#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

#ifdef SDS_WITH_CUDA
void raster_fwd_cuda(const detail::RasterBuffers& b) {
  const c10::cuda::CUDAGuard guard(b.means2d.device());
  AT_DISPATCH_FLOATING_TYPES(b.means2d.scalar_type(), "rasterize_to_pixels_fwd_cuda", [&] {
    using T = scalar_t;
    detail::check_launch(
        detail::rasterize_to_pixels_fwd_cuda<T>(
            b.means2d.size(0), b.means2d.size(1), static_cast<int>(b.colors.size(2)), b.width,
            b.height, b.tile, b.tiles_x, b.tiles_y, b.flatten_ids.size(0), b.means2d.data_ptr<T>(),
            b.conics.data_ptr<T>(), b.colors.data_ptr<T>(), b.opacities.data_ptr<T>(),
            detail::ptr_or_null<T>(b.backgrounds), b.offsets.data_ptr<int32_t>(),
            b.flatten_ids.data_ptr<int32_t>(), b.out_colors.data_ptr<T>(),
            b.out_alphas.data_ptr<T>(), b.trans.data_ptr<T>(), b.last_ids.data_ptr<int32_t>(),
            at::cuda::getCurrentCUDAStream()),
        "rasterize_to_pixels forward");
  });
}

void raster_bwd_cuda(const detail::RasterBuffers& b, const detail::RasterGrads& g) {
  const c10::cuda::CUDAGuard guard(b.means2d.device());
  AT_DISPATCH_FLOATING_TYPES(b.means2d.scalar_type(), "rasterize_to_pixels_bwd_cuda", [&] {
    using T = scalar_t;
    detail::check_launch(
        detail::rasterize_to_pixels_bwd_cuda<T>(
            b.means2d.size(0), b.means2d.size(1), static_cast<int>(b.colors.size(2)), b.width,
            b.height, b.tile, b.tiles_x, b.tiles_y, b.flatten_ids.size(0), b.means2d.data_ptr<T>(),
            b.conics.data_ptr<T>(), b.colors.data_ptr<T>(), b.opacities.data_ptr<T>(),
            detail::ptr_or_null<T>(b.backgrounds), b.offsets.data_ptr<int32_t>(),
            b.flatten_ids.data_ptr<int32_t>(), b.trans.data_ptr<T>(),
            b.last_ids.data_ptr<int32_t>(), g.v_colors_out.data_ptr<T>(),
            g.v_alphas_out.data_ptr<T>(), g.v_means2d.data_ptr<T>(), g.v_conics.data_ptr<T>(),
            g.v_colors.data_ptr<T>(), g.v_opacities.data_ptr<T>(),
            at::cuda::getCurrentCUDAStream()),
        "rasterize_to_pixels backward");
  });
}
#endif

class RasterizeToPixelsFunction : public torch::autograd::Function<RasterizeToPixelsFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& means2d,
                               const at::Tensor& conics, const at::Tensor& colors,
                               const at::Tensor& opacities, const at::Tensor& backgrounds,
                               const at::Tensor& offsets, const at::Tensor& flatten_ids,
                               int64_t width, int64_t height, int64_t tile) {
    detail::RasterBuffers b;
    b.means2d = means2d.contiguous();
    b.conics = conics.contiguous();
    b.colors = colors.contiguous();
    b.opacities = opacities.contiguous();
    b.backgrounds = detail::contiguous_or_undefined(backgrounds);
    b.offsets = offsets.contiguous();
    b.flatten_ids = flatten_ids.contiguous();
    b.width = static_cast<int>(width);
    b.height = static_cast<int>(height);
    b.tile = static_cast<int>(tile);
    b.tiles_x = static_cast<int>(offsets.size(2));
    b.tiles_y = static_cast<int>(offsets.size(1));
    const int64_t C = means2d.size(0), D = colors.size(2);
    const auto opts = means2d.options();
    b.out_colors = at::empty({C, height, width, D}, opts);
    b.out_alphas = at::empty({C, height, width, 1}, opts);
    b.trans = at::empty({C, height, width}, opts);
    b.last_ids = at::empty({C, height, width}, opts.dtype(at::kInt));
#ifdef SDS_WITH_CUDA
    if (b.means2d.is_cuda()) {
      raster_fwd_cuda(b);
    } else
#endif
    {
      detail::rasterize_to_pixels_fwd_cpu(b);
    }
    ctx->save_for_backward({b.means2d, b.conics, b.colors, b.opacities, b.backgrounds,
                            b.offsets, b.flatten_ids, b.trans, b.last_ids});
    ctx->saved_data["width"] = width;
    ctx->saved_data["height"] = height;
    ctx->saved_data["tile"] = tile;
    return {b.out_colors, b.out_alphas};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    detail::RasterBuffers b;
    b.means2d = s[0];
    b.conics = s[1];
    b.colors = s[2];
    b.opacities = s[3];
    b.backgrounds = s[4];
    b.offsets = s[5];
    b.flatten_ids = s[6];
    b.trans = s[7];
    b.last_ids = s[8];
    b.width = static_cast<int>(ctx->saved_data["width"].toInt());
    b.height = static_cast<int>(ctx->saved_data["height"].toInt());
    b.tile = static_cast<int>(ctx->saved_data["tile"].toInt());
    b.tiles_x = static_cast<int>(b.offsets.size(2));
    b.tiles_y = static_cast<int>(b.offsets.size(1));
    const int64_t C = b.means2d.size(0), N = b.means2d.size(1), D = b.colors.size(2);
    const auto opts = b.means2d.options();
    detail::RasterGrads g;
    g.v_colors_out = detail::defined_or_zeros(grads[0], at::empty({C, b.height, b.width, D}, opts));
    g.v_alphas_out = detail::defined_or_zeros(grads[1], at::empty({C, b.height, b.width, 1}, opts));
    g.v_means2d = at::zeros({C, N, 2}, opts);
    g.v_conics = at::zeros({C, N, 3}, opts);
    g.v_colors = at::zeros({C, N, D}, opts);
    g.v_opacities = at::zeros({C, N}, opts);
#ifdef SDS_WITH_CUDA
    if (b.means2d.is_cuda()) {
      raster_bwd_cuda(b, g);
    } else
#endif
    {
      detail::rasterize_to_pixels_bwd_cpu(b, g);
    }
    // d out / d background = T_final per pixel.
    at::Tensor v_bg;
    if (b.backgrounds.defined() && ctx->needs_input_grad(4)) {
      v_bg = (g.v_colors_out * b.trans.unsqueeze(-1)).sum({1, 2});
    }
    return {g.v_means2d, g.v_conics, g.v_colors, g.v_opacities, v_bg, at::Tensor(),
            at::Tensor(),  at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

RasterizedPixels rasterize_to_pixels(const at::Tensor& means2d, const at::Tensor& conics,
                                     const at::Tensor& colors, const at::Tensor& opacities,
                                     const at::Tensor& backgrounds, int64_t width, int64_t height,
                                     const TileIntersections& tiles) {
  const char* op = "rasterize_to_pixels";
  check_shape(means2d, "rasterize_to_pixels: means2d", {-1, -1, 2}, "[C, N, 2]");
  const int64_t C = means2d.size(0), N = means2d.size(1);
  check_shape(conics, "rasterize_to_pixels: conics", {C, N, 3}, "[C, N, 3] (C, N from means2d)");
  check_shape(colors, "rasterize_to_pixels: colors", {C, N, -1}, "[C, N, D] (C, N from means2d)");
  const int64_t D = colors.size(2);
  SDS_CHECK(D >= 1 && D <= kMaxRasterChannels,
            "rasterize_to_pixels: colors: expected 1..{} channels, got {}", kMaxRasterChannels, D);
  check_shape(opacities, "rasterize_to_pixels: opacities", {C, N}, "[C, N] (C, N from means2d)");
  check_floating(means2d, "rasterize_to_pixels: means2d");
  check_device_supported(means2d, "rasterize_to_pixels: means2d");
  for (const auto& [t, name] : {std::pair{&conics, "rasterize_to_pixels: conics"},
                                std::pair{&colors, "rasterize_to_pixels: colors"},
                                std::pair{&opacities, "rasterize_to_pixels: opacities"}}) {
    check_dtype(*t, name, means2d.scalar_type());
    check_device(*t, name, means2d.device());
  }
  if (backgrounds.defined()) {
    check_shape(backgrounds, "rasterize_to_pixels: backgrounds", {C, D},
                "[C, D] (C from means2d, D from colors)");
    check_dtype(backgrounds, "rasterize_to_pixels: backgrounds", means2d.scalar_type());
    check_device(backgrounds, "rasterize_to_pixels: backgrounds", means2d.device());
  }
  SDS_CHECK(tiles.offsets.defined() && tiles.flatten_ids.defined(),
            "rasterize_to_pixels: tiles: expected the result of intersect_tiles");
  SDS_CHECK(tiles.tiles_x == (width + tiles.tile_size - 1) / tiles.tile_size &&
                tiles.tiles_y == (height + tiles.tile_size - 1) / tiles.tile_size &&
                tiles.offsets.dim() == 3 && tiles.offsets.size(0) == C &&
                tiles.offsets.size(1) == tiles.tiles_y && tiles.offsets.size(2) == tiles.tiles_x,
            "rasterize_to_pixels: tiles: binned for another image size or camera count "
            "(expected {} images of {} x {} pixels)",
            C, width, height);
  // One CUDA grid layer per camera.
  SDS_CHECK(C <= 65535, "rasterize_to_pixels: expected at most 65535 cameras per call, got {}", C);
  check_device(tiles.offsets, "rasterize_to_pixels: tiles.offsets", means2d.device());
  check_device(tiles.flatten_ids, "rasterize_to_pixels: tiles.flatten_ids", means2d.device());
  detail::check_all_finite(op, means2d.reshape({-1, 2}), "means2d");
  detail::check_all_finite(op, colors.reshape({-1, D}), "colors");
  // An undefined tensor cannot be an autograd input: no background is a black one.
  at::Tensor bg = backgrounds.defined() ? backgrounds : at::zeros({C, D}, means2d.options());
  variable_list out = RasterizeToPixelsFunction::apply(
      means2d, conics, colors, opacities, bg, tiles.offsets, tiles.flatten_ids, width,
      height, tiles.tile_size);
  return {out[0], out[1]};
}

}  // namespace sds::ops
