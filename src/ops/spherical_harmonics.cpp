// spherical_harmonics: boundary checks, device dispatch and the autograd Function.

#include "sds/ops/spherical_harmonics.h"

#include <ATen/Dispatch.h>
#include <torch/csrc/autograd/custom_function.h>

#include "ops/op_glue.h"
#include "ops/spherical_harmonics_kernels.h"
#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class SphericalHarmonicsFunction : public torch::autograd::Function<SphericalHarmonicsFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, int64_t degree, const at::Tensor& dirs_in,
                            const at::Tensor& coeffs_in) {
    at::Tensor dirs = dirs_in.contiguous(), coeffs = coeffs_in.contiguous();
    at::Tensor colors = at::empty({dirs.size(0), 3}, dirs.options());
#ifdef SDS_WITH_CUDA
    if (dirs.is_cuda()) {
      const c10::cuda::CUDAGuard guard(dirs.device());
      AT_DISPATCH_FLOATING_TYPES(dirs.scalar_type(), "spherical_harmonics_fwd_cuda", [&] {
        detail::check_launch(detail::spherical_harmonics_fwd_cuda<scalar_t>(
                                 dirs.size(0), static_cast<int>(degree), coeffs.size(1),
                                 dirs.data_ptr<scalar_t>(), coeffs.data_ptr<scalar_t>(),
                                 colors.data_ptr<scalar_t>(), at::cuda::getCurrentCUDAStream()),
                             "spherical_harmonics forward");
      });
    } else
#endif
    {
      detail::spherical_harmonics_fwd_cpu(degree, dirs, coeffs, colors);
    }
    ctx->save_for_backward({dirs, coeffs});
    ctx->saved_data["degree"] = degree;
    return colors;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& dirs = saved[0];
    const at::Tensor& coeffs = saved[1];
    const int64_t degree = ctx->saved_data["degree"].toInt();
    at::Tensor v_colors = grads[0].contiguous();
    at::Tensor v_coeffs = at::zeros_like(coeffs);
    // Degree 0 is direction-independent: no direction gradient to compute.
    at::Tensor v_dirs = (ctx->needs_input_grad(1) && degree > 0) ? at::zeros_like(dirs)
                                                                 : at::Tensor();
#ifdef SDS_WITH_CUDA
    if (dirs.is_cuda()) {
      const c10::cuda::CUDAGuard guard(dirs.device());
      AT_DISPATCH_FLOATING_TYPES(dirs.scalar_type(), "spherical_harmonics_bwd_cuda", [&] {
        detail::check_launch(
            detail::spherical_harmonics_bwd_cuda<scalar_t>(
                dirs.size(0), static_cast<int>(degree), coeffs.size(1), dirs.data_ptr<scalar_t>(),
                coeffs.data_ptr<scalar_t>(), v_colors.data_ptr<scalar_t>(),
                v_coeffs.data_ptr<scalar_t>(), detail::out_ptr_or_null<scalar_t>(v_dirs),
                at::cuda::getCurrentCUDAStream()),
            "spherical_harmonics backward");
      });
    } else
#endif
    {
      detail::spherical_harmonics_bwd_cpu(degree, dirs, coeffs, v_colors, v_coeffs, v_dirs);
    }
    return {at::Tensor(), v_dirs, v_coeffs};
  }
};

}  // namespace

at::Tensor spherical_harmonics(int64_t degree, const at::Tensor& dirs, const at::Tensor& coeffs) {
  SDS_CHECK(degree >= 0 && degree <= detail::kMaxShDegree,
            "spherical_harmonics: expected degree 0..{}, got {}", detail::kMaxShDegree, degree);
  check_shape(dirs, "spherical_harmonics: dirs", {-1, 3}, "[M, 3]");
  const int64_t need = (degree + 1) * (degree + 1);
  check_shape(coeffs, "spherical_harmonics: coeffs", {dirs.size(0), -1, 3},
              "[M, K, 3] (M from dirs)");
  SDS_CHECK(coeffs.size(1) >= need,
            "spherical_harmonics: coeffs: expected at least (degree + 1)^2 = {} coefficients for "
            "degree {}, got {}",
            need, degree, coeffs.size(1));
  check_floating(dirs, "spherical_harmonics: dirs");
  check_dtype(coeffs, "spherical_harmonics: coeffs", dirs.scalar_type());
  check_device_supported(dirs, "spherical_harmonics: dirs");
  check_device(coeffs, "spherical_harmonics: coeffs", dirs.device());
  return SphericalHarmonicsFunction::apply(degree, dirs, coeffs);
}

}  // namespace sds::ops
