// composite_rays: boundary checks, device dispatch and the autograd Function around the fused
// forward/backward kernels.

#include "sds/ops/composite_rays.h"

#include <torch/csrc/autograd/custom_function.h>

#include "ops/composite_rays_kernels.h"
#include "ops/op_glue.h"
#include "sds/core/checks.h"
#include "sds/core/error.h"

#ifdef SDS_WITH_CUDA
#include <ATen/Dispatch.h>
#endif

namespace sds::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using detail::contiguous_or_undefined;

#ifdef SDS_WITH_CUDA
using detail::check_launch;
using detail::ptr_or_null;

void composite_rays_fwd_cuda(const detail::CompositeForward& f) {
  const c10::cuda::CUDAGuard guard(f.sigmas.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(f.sigmas.scalar_type(), "composite_rays_fwd_cuda", [&] {
    const bool packed = f.offsets.defined();
    check_launch(
        detail::composite_rays_fwd_cuda(
            packed ? f.offsets.size(0) - 1 : f.sigmas.size(0), packed ? 0 : f.sigmas.size(1),
            ptr_or_null<int64_t>(f.offsets), f.sigmas.data_ptr<scalar_t>(),
            f.rgbs.data_ptr<scalar_t>(), f.deltas.data_ptr<scalar_t>(), f.ts.data_ptr<scalar_t>(),
            f.rgb.data_ptr<scalar_t>(), f.alpha.data_ptr<scalar_t>(), f.depth.data_ptr<scalar_t>(),
            f.weights.data_ptr<scalar_t>(), f.trans.data_ptr<scalar_t>(), stream),
        "composite_rays forward");
  });
}

void composite_rays_bwd_cuda(const detail::CompositeBackward& b) {
  const c10::cuda::CUDAGuard guard(b.weights.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(b.weights.scalar_type(), "composite_rays_bwd_cuda", [&] {
    const bool packed = b.offsets.defined();
    check_launch(detail::composite_rays_bwd_cuda(
                     packed ? b.offsets.size(0) - 1 : b.weights.size(0),
                     packed ? 0 : b.weights.size(1), ptr_or_null<int64_t>(b.offsets),
                     b.rgbs.data_ptr<scalar_t>(), b.deltas.data_ptr<scalar_t>(),
                     b.ts.data_ptr<scalar_t>(), b.weights.data_ptr<scalar_t>(),
                     b.trans.data_ptr<scalar_t>(), ptr_or_null<scalar_t>(b.v_rgb),
                     ptr_or_null<scalar_t>(b.v_alpha), ptr_or_null<scalar_t>(b.v_depth),
                     ptr_or_null<scalar_t>(b.v_weights), b.d_sigmas.data_ptr<scalar_t>(),
                     b.d_rgbs.defined() ? b.d_rgbs.data_ptr<scalar_t>() : nullptr, stream),
                 "composite_rays backward");
  });
}
#endif

// Contiguous inputs and allocated outputs for either device; the backends only launch. offsets
// undefined: dense sigmas [R, S]; else packed sigmas [N] with offsets [R + 1].
detail::CompositeForward composite_rays_fwd(const at::Tensor& offsets, const at::Tensor& sigmas,
                                            const at::Tensor& rgbs, const at::Tensor& deltas,
                                            const at::Tensor& ts) {
  const int64_t R = offsets.defined() ? offsets.size(0) - 1 : sigmas.size(0);
  const auto opts = sigmas.options();
  detail::CompositeForward f{contiguous_or_undefined(offsets),
                             sigmas.contiguous(),
                             rgbs.contiguous(),
                             deltas.contiguous(),
                             ts.contiguous(),
                             at::empty({R, 3}, opts),
                             at::empty({R}, opts),
                             at::empty({R}, opts),
                             at::empty(sigmas.sizes(), opts),
                             at::empty({R}, opts)};
#ifdef SDS_WITH_CUDA
  if (sigmas.is_cuda()) {
    composite_rays_fwd_cuda(f);
    return f;
  }
#endif
  detail::composite_rays_fwd_cpu(f);
  return f;
}

detail::CompositeBackward composite_rays_bwd(const variable_list& grads, const variable_list& saved,
                                             bool need_rgbs) {
  const at::Tensor& weights = saved[3];
  const auto opts = weights.options();
  detail::CompositeBackward b;
  b.offsets = contiguous_or_undefined(saved[5]);
  b.v_rgb = contiguous_or_undefined(grads[0]);
  b.v_alpha = contiguous_or_undefined(grads[1]);
  b.v_depth = contiguous_or_undefined(grads[2]);
  b.v_weights = contiguous_or_undefined(grads[3]);
  b.rgbs = saved[0].contiguous();
  b.deltas = saved[1].contiguous();
  b.ts = saved[2].contiguous();
  b.weights = weights.contiguous();
  b.trans = saved[4].contiguous();
  b.d_sigmas = at::empty(weights.sizes(), opts);
  // Without an upstream colour gradient dL/dc is zero; an undefined tensor says so for free.
  if (need_rgbs && b.v_rgb.defined()) b.d_rgbs = at::empty(b.rgbs.sizes(), opts);
#ifdef SDS_WITH_CUDA
  if (weights.is_cuda()) {
    composite_rays_bwd_cuda(b);
    return b;
  }
#endif
  detail::composite_rays_bwd_cpu(b);
  return b;
}

class CompositeRaysFunction : public torch::autograd::Function<CompositeRaysFunction> {
 public:
  // offsets: none for dense rays (an autograd Function takes no undefined tensor).
  static variable_list forward(AutogradContext* ctx, const at::Tensor& sigmas,
                               const at::Tensor& rgbs, const at::Tensor& deltas,
                               const at::Tensor& ts, const std::optional<at::Tensor>& offsets) {
    detail::CompositeForward f =
        composite_rays_fwd(offsets.value_or(at::Tensor()), sigmas, rgbs, deltas, ts);
    // The backward needs neither sigmas (w and T_S carry them) nor anything recomputed.
    ctx->save_for_backward({f.rgbs, f.deltas, f.ts, f.weights, f.trans, f.offsets});
    // Unused outputs send no gradient; the kernel treats a missing one as zero without a zeros
    // tensor of [R, S].
    ctx->set_materialize_grads(false);
    return {f.rgb, f.alpha, f.depth, f.weights};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    detail::CompositeBackward b =
        composite_rays_bwd(grads, ctx->get_saved_variables(), ctx->needs_input_grad(1));
    at::Tensor d_sigmas = ctx->needs_input_grad(0) ? b.d_sigmas : at::Tensor();
    return {d_sigmas, b.d_rgbs, at::Tensor(), at::Tensor(), at::Tensor()};
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

void check_packed_inputs(const at::Tensor& sigmas, const at::Tensor& rgbs, const at::Tensor& deltas,
                         const at::Tensor& ts, const at::Tensor& offsets) {
  check_shape(sigmas, "composite_rays_packed: sigmas", {-1}, "[N]");
  const int64_t N = sigmas.size(0);
  check_shape(rgbs, "composite_rays_packed: rgbs", {N, 3}, "[N, 3] (N from sigmas)");
  check_shape(deltas, "composite_rays_packed: deltas", {N}, "[N] (N from sigmas)");
  check_shape(ts, "composite_rays_packed: ts", {N}, "[N] (N from sigmas)");
  check_shape(offsets, "composite_rays_packed: ray_offsets", {-1}, "[R + 1]");
  SDS_CHECK(offsets.size(0) >= 1, "composite_rays_packed: ray_offsets: expected [R + 1], got []");
  check_dtype(offsets, "composite_rays_packed: ray_offsets", at::kLong);
  check_floating(sigmas, "composite_rays_packed: sigmas");
  for (const auto& [t, name] : {std::pair{&rgbs, "composite_rays_packed: rgbs"},
                                std::pair{&deltas, "composite_rays_packed: deltas"},
                                std::pair{&ts, "composite_rays_packed: ts"}}) {
    check_dtype(*t, name, sigmas.scalar_type());
  }
  check_device_supported(sigmas, "composite_rays_packed: sigmas");
  for (const auto& [t, name] : {std::pair{&rgbs, "composite_rays_packed: rgbs"},
                                std::pair{&deltas, "composite_rays_packed: deltas"},
                                std::pair{&ts, "composite_rays_packed: ts"},
                                std::pair{&offsets, "composite_rays_packed: ray_offsets"}}) {
    check_device(*t, name, sigmas.device());
  }
  // Offsets out of order would read outside the samples: a value check (free on the CPU).
  if (value_checks_enabled(offsets)) {
    const at::Tensor o = offsets.cpu();
    SDS_CHECK(o[0].item<int64_t>() == 0 && o[-1].item<int64_t>() == N &&
                  (offsets.size(0) < 2 || (o.slice(0, 1) >= o.slice(0, 0, -1)).all().item<bool>()),
              "composite_rays_packed: ray_offsets: expected non-decreasing offsets from 0 to N = "
              "{} (the first sample of each ray, then N)",
              N);
  }
}

}  // namespace

CompositeRaysOutput composite_rays(const at::Tensor& sigmas, const at::Tensor& rgbs,
                                   const at::Tensor& deltas, const at::Tensor& ts) {
  check_inputs(sigmas, rgbs, deltas, ts);
  variable_list out = CompositeRaysFunction::apply(sigmas, rgbs, deltas, ts, std::nullopt);
  return {out[0], out[1], out[2], out[3]};
}

CompositeRaysOutput composite_rays_packed(const at::Tensor& sigmas, const at::Tensor& rgbs,
                                          const at::Tensor& deltas, const at::Tensor& ts,
                                          const at::Tensor& ray_offsets) {
  check_packed_inputs(sigmas, rgbs, deltas, ts, ray_offsets);
  variable_list out = CompositeRaysFunction::apply(sigmas, rgbs, deltas, ts, ray_offsets);
  return {out[0], out[1], out[2], out[3]};
}

}  // namespace sds::ops
