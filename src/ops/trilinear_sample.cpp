// trilinear_sample: boundary checks, device dispatch and the autograd Function around the fused
// forward/backward kernels.

#include "sds/ops/trilinear_sample.h"

#include <torch/csrc/autograd/custom_function.h>

#include "ops/op_glue.h"
#include "ops/trilinear_sample_kernels.h"
#include "sds/core/checks.h"
#include "sds/core/error.h"

#ifdef SDS_WITH_CUDA
#include <ATen/Dispatch.h>
#endif

namespace sds::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

#ifdef SDS_WITH_CUDA
using detail::check_launch;

void trilinear_sample_fwd_cuda(const at::Tensor& grid, const at::Tensor& points,
                               const at::Tensor& out) {
  const c10::cuda::CUDAGuard guard(grid.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(grid.scalar_type(), "trilinear_sample_fwd_cuda", [&] {
    check_launch(detail::trilinear_sample_fwd_cuda(
                     points.size(0), grid.size(0), grid.size(1), grid.size(2), grid.size(3),
                     grid.data_ptr<scalar_t>(), points.data_ptr<scalar_t>(),
                     out.data_ptr<scalar_t>(), stream),
                 "trilinear_sample forward");
  });
}

void trilinear_sample_bwd_cuda(const at::Tensor& points, const at::Tensor& grad_out,
                               const at::Tensor& grad_grid) {
  const c10::cuda::CUDAGuard guard(grad_grid.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(grad_grid.scalar_type(), "trilinear_sample_bwd_cuda", [&] {
    check_launch(detail::trilinear_sample_bwd_cuda(
                     points.size(0), grad_grid.size(0), grad_grid.size(1), grad_grid.size(2),
                     grad_grid.size(3), points.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(),
                     grad_grid.data_ptr<scalar_t>(), stream),
                 "trilinear_sample backward");
  });
}
#endif

// grid and points contiguous; returns the samples [N, C].
at::Tensor trilinear_sample_fwd(const at::Tensor& grid, const at::Tensor& points) {
  at::Tensor out = at::empty({points.size(0), grid.size(3)}, grid.options());
#ifdef SDS_WITH_CUDA
  if (grid.is_cuda()) {
    trilinear_sample_fwd_cuda(grid, points, out);
    return out;
  }
#endif
  detail::trilinear_sample_fwd_cpu(grid, points, out);
  return out;
}

// points contiguous; returns the gradient [D, H, W, C] of the grid.
at::Tensor trilinear_sample_bwd(const at::Tensor& points, const at::Tensor& grad_out,
                                at::IntArrayRef grid_sizes) {
  const at::Tensor g = grad_out.contiguous();
#ifdef SDS_WITH_CUDA
  if (points.is_cuda()) {
    at::Tensor grad_grid = at::zeros(grid_sizes, g.options());  // the kernel adds atomically
    trilinear_sample_bwd_cuda(points, g, grad_grid);
    return grad_grid;
  }
#endif
  at::Tensor grad_grid = at::empty(grid_sizes, g.options());  // the kernel zeroes its buffers
  detail::trilinear_sample_bwd_cpu(points, g, grad_grid);
  return grad_grid;
}

class TrilinearSampleFunction : public torch::autograd::Function<TrilinearSampleFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grid,
                            const at::Tensor& points) {
    const at::Tensor g = grid.contiguous();
    const at::Tensor p = points.contiguous();
    // The backward needs the points and the grid's shape, not its values.
    ctx->save_for_backward({p});
    ctx->saved_data["grid_sizes"] = grid.sizes();
    return trilinear_sample_fwd(g, p);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!ctx->needs_input_grad(0)) return {at::Tensor(), at::Tensor()};
    const at::Tensor points = ctx->get_saved_variables()[0];
    const std::vector<int64_t> sizes = ctx->saved_data["grid_sizes"].toIntVector();
    return {trilinear_sample_bwd(points, grads[0], sizes), at::Tensor()};
  }
};

void check_inputs(const at::Tensor& grid, const at::Tensor& points) {
  check_shape(grid, "trilinear_sample: grid", {-1, -1, -1, -1}, "[D, H, W, C]");
  check_shape(points, "trilinear_sample: points", {-1, 3}, "[N, 3]");
  SDS_CHECK(grid.size(0) > 0 && grid.size(1) > 0 && grid.size(2) > 0,
            "trilinear_sample: grid: expected D, H, W >= 1, got {}", shape_string(grid.sizes()));
  check_floating(grid, "trilinear_sample: grid");
  check_dtype(points, "trilinear_sample: points", grid.scalar_type());
  check_device_supported(grid, "trilinear_sample: grid");
  check_device(points, "trilinear_sample: points", grid.device());
  SDS_CHECK(!points.requires_grad(),
            "trilinear_sample: points require grad, but points are not differentiated (only the "
            "grid is); pass points.detach()");
}

}  // namespace

at::Tensor trilinear_sample(const at::Tensor& grid, const at::Tensor& points) {
  check_inputs(grid, points);
  return TrilinearSampleFunction::apply(grid, points);
}

}  // namespace sds::ops
