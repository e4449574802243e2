// composite_rays: boundary checks, device dispatch and the autograd Function around the fused
// forward/backward kernels.

#include "sds/ops/composite_rays.h"

#include <torch/csrc/autograd/custom_function.h>

#include "ops/composite_rays_kernels.h"
#include "sds/core/checks.h"
#include "sds/core/error.h"

#ifdef SDS_WITH_CUDA
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace sds::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

#ifdef SDS_WITH_CUDA
template <typename T>
const T* ptr_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

void check_launch(cudaError_t err, const char* what) {
  SDS_CHECK(err == cudaSuccess, "{}: CUDA kernel launch failed: {}", what, cudaGetErrorString(err));
}

std::vector<at::Tensor> composite_rays_fwd_cuda(const at::Tensor& sigmas_in,
                                                const at::Tensor& rgbs_in,
                                                const at::Tensor& deltas_in,
                                                const at::Tensor& ts_in) {
  const c10::cuda::CUDAGuard guard(sigmas_in.device());
  const at::Tensor sigmas = sigmas_in.contiguous();
  const at::Tensor rgbs = rgbs_in.contiguous();
  const at::Tensor deltas = deltas_in.contiguous();
  const at::Tensor ts = ts_in.contiguous();
  const int64_t R = sigmas.size(0);
  const int64_t S = sigmas.size(1);
  const auto opts = sigmas.options();
  at::Tensor rgb = at::empty({R, 3}, opts);
  at::Tensor alpha = at::empty({R}, opts);
  at::Tensor depth = at::empty({R}, opts);
  at::Tensor weights = at::empty({R, S}, opts);
  at::Tensor trans = at::empty({R}, opts);
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(sigmas.scalar_type(), "composite_rays_fwd_cuda", [&] {
    check_launch(detail::composite_rays_fwd_cuda(
                     R, S, sigmas.data_ptr<scalar_t>(), rgbs.data_ptr<scalar_t>(),
                     deltas.data_ptr<scalar_t>(), ts.data_ptr<scalar_t>(), rgb.data_ptr<scalar_t>(),
                     alpha.data_ptr<scalar_t>(), depth.data_ptr<scalar_t>(),
                     weights.data_ptr<scalar_t>(), trans.data_ptr<scalar_t>(), stream),
                 "composite_rays forward");
  });
  return {rgb, alpha, depth, weights, trans};
}

std::vector<at::Tensor> composite_rays_bwd_cuda(
    const at::Tensor& v_rgb_in, const at::Tensor& v_alpha_in, const at::Tensor& v_depth_in,
    const at::Tensor& v_weights_in, const at::Tensor& rgbs_in, const at::Tensor& deltas_in,
    const at::Tensor& ts_in, const at::Tensor& weights_in, const at::Tensor& trans_in,
    bool need_rgbs) {
  const c10::cuda::CUDAGuard guard(weights_in.device());
  auto contig = [](const at::Tensor& t) { return t.defined() ? t.contiguous() : t; };
  const at::Tensor v_rgb = contig(v_rgb_in);
  const at::Tensor v_alpha = contig(v_alpha_in);
  const at::Tensor v_depth = contig(v_depth_in);
  const at::Tensor v_weights = contig(v_weights_in);
  const at::Tensor rgbs = rgbs_in.contiguous();
  const at::Tensor deltas = deltas_in.contiguous();
  const at::Tensor ts = ts_in.contiguous();
  const at::Tensor weights = weights_in.contiguous();
  const at::Tensor trans = trans_in.contiguous();
  const int64_t R = weights.size(0);
  const int64_t S = weights.size(1);
  at::Tensor d_sigmas = at::empty({R, S}, weights.options());
  at::Tensor d_rgbs =
      need_rgbs && v_rgb.defined() ? at::empty({R, S, 3}, weights.options()) : at::Tensor();
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(weights.scalar_type(), "composite_rays_bwd_cuda", [&] {
    check_launch(
        detail::composite_rays_bwd_cuda(
            R, S, rgbs.data_ptr<scalar_t>(), deltas.data_ptr<scalar_t>(), ts.data_ptr<scalar_t>(),
            weights.data_ptr<scalar_t>(), trans.data_ptr<scalar_t>(), ptr_or_null<scalar_t>(v_rgb),
            ptr_or_null<scalar_t>(v_alpha), ptr_or_null<scalar_t>(v_depth),
            ptr_or_null<scalar_t>(v_weights), d_sigmas.data_ptr<scalar_t>(),
            d_rgbs.defined() ? d_rgbs.data_ptr<scalar_t>() : nullptr, stream),
        "composite_rays backward");
  });
  return {d_sigmas, d_rgbs};
}
#endif

std::vector<at::Tensor> composite_rays_fwd(const at::Tensor& sigmas, const at::Tensor& rgbs,
                                           const at::Tensor& deltas, const at::Tensor& ts) {
#ifdef SDS_WITH_CUDA
  if (sigmas.is_cuda()) return composite_rays_fwd_cuda(sigmas, rgbs, deltas, ts);
#endif
  return detail::composite_rays_fwd_cpu(sigmas, rgbs, deltas, ts);
}

std::vector<at::Tensor> composite_rays_bwd(const at::Tensor& v_rgb, const at::Tensor& v_alpha,
                                           const at::Tensor& v_depth, const at::Tensor& v_weights,
                                           const at::Tensor& rgbs, const at::Tensor& deltas,
                                           const at::Tensor& ts, const at::Tensor& weights,
                                           const at::Tensor& trans, bool need_rgbs) {
#ifdef SDS_WITH_CUDA
  if (weights.is_cuda()) {
    return composite_rays_bwd_cuda(v_rgb, v_alpha, v_depth, v_weights, rgbs, deltas, ts, weights,
                                   trans, need_rgbs);
  }
#endif
  return detail::composite_rays_bwd_cpu(v_rgb, v_alpha, v_depth, v_weights, rgbs, deltas, ts,
                                        weights, trans, need_rgbs);
}

class CompositeRaysFunction : public torch::autograd::Function<CompositeRaysFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& sigmas,
                               const at::Tensor& rgbs, const at::Tensor& deltas,
                               const at::Tensor& ts) {
    std::vector<at::Tensor> out = composite_rays_fwd(sigmas, rgbs, deltas, ts);
    // The backward needs neither sigmas (w and T_S carry them) nor anything recomputed.
    ctx->save_for_backward({rgbs, deltas, ts, out[3], out[4]});
    // Unused outputs send no gradient; the kernel treats a missing one as zero without a zeros
    // tensor of [R, S].
    ctx->set_materialize_grads(false);
    return {out[0], out[1], out[2], out[3]};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    std::vector<at::Tensor> d =
        composite_rays_bwd(grads[0], grads[1], grads[2], grads[3], saved[0], saved[1], saved[2],
                           saved[3], saved[4], ctx->needs_input_grad(1));
    at::Tensor d_sigmas = ctx->needs_input_grad(0) ? d[0] : at::Tensor();
    return {d_sigmas, d[1], at::Tensor(), at::Tensor()};
  }
};

void check_inputs(const at::Tensor& sigmas, const at::Tensor& rgbs, const at::Tensor& deltas,
                  const at::Tensor& ts) {
  check_shape(sigmas, "composite_rays: sigmas", {-1, -1}, "[R, S]");
  const int64_t R = sigmas.size(0);
  const int64_t S = sigmas.size(1);
  check_shape(rgbs, "composite_rays: rgbs", {R, S, 3}, "[R, S, 3] (R, S from sigmas)");
  check_shape(deltas, "composite_rays: deltas", {R, S}, "[R, S] (R, S from sigmas)");
  check_shape(ts, "composite_rays: ts", {R, S}, "[R, S] (R, S from sigmas)");
  check_floating(sigmas, "composite_rays: sigmas");
  for (const auto& [t, name] :
       {std::pair{&rgbs, "composite_rays: rgbs"}, std::pair{&deltas, "composite_rays: deltas"},
        std::pair{&ts, "composite_rays: ts"}}) {
    check_dtype(*t, name, sigmas.scalar_type());
  }
  check_device_supported(sigmas, "composite_rays: sigmas");
  check_device(rgbs, "composite_rays: rgbs", sigmas.device());
  check_device(deltas, "composite_rays: deltas", sigmas.device());
  check_device(ts, "composite_rays: ts", sigmas.device());
}

}  // namespace

CompositeRaysOutput composite_rays(const at::Tensor& sigmas, const at::Tensor& rgbs,
                                   const at::Tensor& deltas, const at::Tensor& ts) {
  check_inputs(sigmas, rgbs, deltas, ts);
  variable_list out = CompositeRaysFunction::apply(sigmas, rgbs, deltas, ts);
  return {out[0], out[1], out[2], out[3]};
}

}  // namespace sds::ops
