// project_gaussians: boundary checks, device dispatch and the autograd Function around the fused
// forward/backward kernels.

#include "sds/ops/gaussian_projection.h"

#include <ATen/Dispatch.h>
#include <torch/csrc/autograd/custom_function.h>

#include "ops/gaussian_checks.h"
#include "ops/gaussian_projection_kernels.h"
#include "ops/op_glue.h"
#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

#ifdef SDS_WITH_CUDA
void project_fwd_cuda(const detail::ProjectionForward& f) {
  const c10::cuda::CUDAGuard guard(f.means.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(f.means.scalar_type(), "project_gaussians_fwd_cuda", [&] {
    using T = scalar_t;
    detail::check_launch(
        detail::project_gaussians_fwd_cuda<T>(
            f.viewmats.size(0), f.means.size(0), f.means.data_ptr<T>(), f.quats.data_ptr<T>(),
            f.scales.data_ptr<T>(), detail::ptr_or_null<T>(f.opacities), f.viewmats.data_ptr<T>(),
            f.ks.data_ptr<T>(), detail::settings_of<T>(f), f.radii.data_ptr<int32_t>(),
            f.means2d.data_ptr<T>(), f.depths.data_ptr<T>(), f.conics.data_ptr<T>(),
            f.comps.data_ptr<T>(), stream),
        "project_gaussians forward");
  });
}

void project_bwd_cuda(const detail::ProjectionBackward& b) {
  const detail::ProjectionForward& f = b.fwd;
  const c10::cuda::CUDAGuard guard(f.means.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(f.means.scalar_type(), "project_gaussians_bwd_cuda", [&] {
    using T = scalar_t;
    detail::check_launch(
        detail::project_gaussians_bwd_cuda<T>(
            f.viewmats.size(0), f.means.size(0), f.means.data_ptr<T>(), f.quats.data_ptr<T>(),
            f.scales.data_ptr<T>(), f.viewmats.data_ptr<T>(), f.ks.data_ptr<T>(),
            detail::settings_of<T>(f), f.radii.data_ptr<int32_t>(), b.v_means2d.data_ptr<T>(),
            b.v_depths.data_ptr<T>(), b.v_conics.data_ptr<T>(), detail::ptr_or_null<T>(b.v_comps),
            b.v_means.data_ptr<T>(), b.v_quats.data_ptr<T>(), b.v_scales.data_ptr<T>(), stream),
        "project_gaussians backward");
  });
}
#endif

detail::ProjectionForward projection_fwd(const at::Tensor& means, const at::Tensor& quats,
                                         const at::Tensor& scales, const at::Tensor& opacities,
                                         const at::Tensor& viewmats, const at::Tensor& ks,
                                         int64_t width, int64_t height,
                                         const ProjectionOptions& o) {
  const int64_t C = viewmats.size(0), N = means.size(0);
  const auto opts = means.options();
  detail::ProjectionForward f;
  f.means = means.contiguous();
  f.quats = quats.contiguous();
  f.scales = scales.contiguous();
  if (opacities.numel() > 0) f.opacities = opacities.contiguous();
  f.viewmats = viewmats.contiguous();
  f.ks = ks.contiguous();
  f.width = static_cast<int>(width);
  f.height = static_cast<int>(height);
  f.eps2d = o.eps2d;
  f.near_plane = o.near_plane;
  f.far_plane = o.far_plane;
  f.antialiased = o.antialiased;
  f.radii = at::empty({C, N, 2}, opts.dtype(at::kInt));
  f.means2d = at::empty({C, N, 2}, opts);
  f.depths = at::empty({C, N}, opts);
  f.conics = at::empty({C, N, 3}, opts);
  f.comps = at::empty({C, N}, opts);
#ifdef SDS_WITH_CUDA
  if (means.is_cuda()) {
    project_fwd_cuda(f);
    return f;
  }
#endif
  detail::project_gaussians_fwd_cpu(f);
  return f;
}

class ProjectGaussiansFunction : public torch::autograd::Function<ProjectGaussiansFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& means,
                               const at::Tensor& quats, const at::Tensor& scales,
                               const at::Tensor& opacities, const at::Tensor& viewmats,
                               const at::Tensor& ks, int64_t width, int64_t height,
                               ProjectionOptions options) {
    detail::ProjectionForward f =
        projection_fwd(means, quats, scales, opacities, viewmats, ks, width, height, options);
    ctx->save_for_backward({f.means, f.quats, f.scales, f.viewmats, f.ks, f.radii});
    ctx->saved_data["width"] = width;
    ctx->saved_data["height"] = height;
    ctx->saved_data["eps2d"] = options.eps2d;
    ctx->saved_data["near"] = options.near_plane;
    ctx->saved_data["far"] = options.far_plane;
    ctx->saved_data["antialiased"] = options.antialiased;
    ctx->mark_non_differentiable({f.radii});
    return {f.radii, f.means2d, f.depths, f.conics, f.comps};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    detail::ProjectionBackward b;
    detail::ProjectionForward& f = b.fwd;
    f.means = saved[0];
    f.quats = saved[1];
    f.scales = saved[2];
    f.viewmats = saved[3];
    f.ks = saved[4];
    f.radii = saved[5];
    f.width = static_cast<int>(ctx->saved_data["width"].toInt());
    f.height = static_cast<int>(ctx->saved_data["height"].toInt());
    f.eps2d = ctx->saved_data["eps2d"].toDouble();
    f.near_plane = ctx->saved_data["near"].toDouble();
    f.far_plane = ctx->saved_data["far"].toDouble();
    f.antialiased = ctx->saved_data["antialiased"].toBool();
    const int64_t C = f.viewmats.size(0), N = f.means.size(0);
    const auto opts = f.means.options();
    b.v_means2d = detail::defined_or_zeros(grads[1], at::empty({C, N, 2}, opts));
    b.v_depths = detail::defined_or_zeros(grads[2], at::empty({C, N}, opts));
    b.v_conics = detail::defined_or_zeros(grads[3], at::empty({C, N, 3}, opts));
    if (f.antialiased) b.v_comps = detail::contiguous_or_undefined(grads[4]);
#ifdef SDS_WITH_CUDA
    if (f.means.is_cuda()) {
      b.v_means = at::zeros({C, N, 3}, opts);
      b.v_quats = at::zeros({C, N, 4}, opts);
      b.v_scales = at::zeros({C, N, 3}, opts);
      project_bwd_cuda(b);
      return {b.v_means.sum(0), b.v_quats.sum(0), b.v_scales.sum(0), at::Tensor(),
              at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
#endif
    b.v_means = at::zeros({N, 3}, opts);
    b.v_quats = at::zeros({N, 4}, opts);
    b.v_scales = at::zeros({N, 3}, opts);
    detail::project_gaussians_bwd_cpu(b);
    return {b.v_means, b.v_quats, b.v_scales, at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

ProjectedGaussians project_gaussians(const at::Tensor& means, const at::Tensor& quats,
                                     const at::Tensor& scales, const at::Tensor& opacities,
                                     const at::Tensor& viewmats, const at::Tensor& Ks,
                                     int64_t width, int64_t height,
                                     const ProjectionOptions& options) {
  detail::check_gaussians("project_gaussians", means, quats, scales, opacities);
  detail::check_cameras("project_gaussians", viewmats, Ks, width, height, means);
  SDS_CHECK(options.eps2d >= 0 && std::isfinite(options.eps2d),
            "project_gaussians: eps2d: expected a finite value >= 0, got {}", options.eps2d);
  SDS_CHECK(options.near_plane > 0 && options.far_plane > options.near_plane,
            "project_gaussians: expected 0 < near_plane < far_plane, got {} and {}",
            options.near_plane, options.far_plane);
  // An undefined tensor cannot be an autograd input: an empty one says "no opacities".
  at::Tensor opac = opacities.defined() ? opacities.detach() : at::empty({0}, means.options());
  variable_list out = ProjectGaussiansFunction::apply(means, quats, scales, opac, viewmats,
                                                      Ks, width, height, options);
  return {out[0], out[1], out[2], out[3], out[4]};
}

}  // namespace sds::ops
