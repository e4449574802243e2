// hash_grid: the level layout, boundary checks, device dispatch, and the autograd Functions that
// make the encoding twice differentiable. The three kernels (gather, scatter, input_grad, each
// with an optional direction v; see ops/hash_grid_kernels.h) compose every derivative:
//   y        = gather(theta, u)
//   dtheta   = scatter(u, g)                       [ScatterFunction, differentiable once more]
//   du       = input_grad(theta, u, g)             [InputGradFunction, differentiable once more]
// and, given the gradients gt (of dtheta) and gu (of du) coming back:
//   d/dg     = gather(gt, u) + gather(theta, u, v = gu)
//   d/du     = input_grad(gt, u, g) + input_grad(theta, u, g, v = gu)
//   d/dtheta = scatter(u, g, v = gu)

#include "sds/ops/hash_grid.h"

#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "ops/hash_grid_kernels.h"
#include "ops/op_glue.h"
#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds::ops {

HashGridLayout HashGridLayout::make(const HashGridOptions& o) {
  SDS_CHECK(o.n_levels >= 1 && o.n_levels <= detail::kHashGridMaxLevels,
            "hash grid: n_levels: expected 1..{}, got {}", detail::kHashGridMaxLevels, o.n_levels);
  const int64_t F = o.n_features_per_level;
  SDS_CHECK(F == 1 || F == 2 || F == 4 || F == 8,
            "hash grid: n_features_per_level: expected 1, 2, 4 or 8, got {}", F);
  SDS_CHECK(o.log2_hashmap_size >= 4 && o.log2_hashmap_size <= 24,
            "hash grid: log2_hashmap_size: expected 4..24, got {}", o.log2_hashmap_size);
  SDS_CHECK(o.base_resolution >= 2 && o.base_resolution <= 65536,
            "hash grid: base_resolution: expected 2..65536, got {}", o.base_resolution);
  SDS_CHECK(std::isfinite(o.per_level_scale) && o.per_level_scale >= 1.0,
            "hash grid: per_level_scale: expected a finite value >= 1, got {}", o.per_level_scale);
  // tiny-cuda-nn computes the scales in float32; so do we, so that the vertices coincide.
  const float log2_b = std::log2(static_cast<float>(o.per_level_scale));
  const double finest =
      std::exp2(static_cast<double>(log2_b) * static_cast<double>(o.n_levels - 1)) *
      static_cast<double>(o.base_resolution);
  SDS_CHECK(finest <= 1048576.0,
            "hash grid: the finest level has {:.0f} vertices per axis (base_resolution {} x "
            "per_level_scale {} ^ {}); expected at most 2^20",
            finest, o.base_resolution, o.per_level_scale, o.n_levels - 1);
  HashGridLayout layout;
  layout.options = o;
  const int64_t table = int64_t{1} << o.log2_hashmap_size;
  int64_t offset = 0;
  for (int64_t l = 0; l < o.n_levels; ++l) {
    HashGridLevel level;
    const float scale =
        std::exp2(static_cast<float>(l) * log2_b) * static_cast<float>(o.base_resolution) - 1.0f;
    level.scale = scale;
    level.resolution = static_cast<int64_t>(std::ceil(scale)) + 1;
    const double dense = std::pow(static_cast<double>(level.resolution), 3.0);
    const int64_t cap = dense > static_cast<double>(table)
                            ? table
                            : level.resolution * level.resolution * level.resolution;
    level.size = (cap + 7) / 8 * 8;
    level.hashed = dense > static_cast<double>(level.size);
    level.offset = offset;
    offset += level.size;
    layout.levels.push_back(level);
  }
  layout.n_entries = offset;
  return layout;
}

at::Tensor hash_grid_init(const HashGridLayout& layout, at::Device device,
                          std::optional<at::Generator> generator) {
  SDS_CHECK(layout.n_entries > 0, "hash_grid_init: the layout is empty (use HashGridLayout::make)");
  at::Tensor params = at::empty({layout.n_entries, layout.options.n_features_per_level},
                                at::TensorOptions(at::kFloat));
  params.uniform_(-1e-4, 1e-4, generator);
  return params.to(device);
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

detail::HashGridLevels kernel_levels(const HashGridLayout& layout) {
  detail::HashGridLevels L;
  L.n_levels = static_cast<int>(layout.levels.size());
  L.n_features = static_cast<int>(layout.options.n_features_per_level);
  for (int l = 0; l < L.n_levels; ++l) {
    const HashGridLevel& level = layout.levels[static_cast<size_t>(l)];
    L.offset[l] = level.offset;
    L.size[l] = static_cast<uint32_t>(level.size);
    L.resolution[l] = static_cast<uint32_t>(level.resolution);
    L.hashed[l] = level.hashed ? 1u : 0u;
    L.scale[l] = level.scale;
  }
  return L;
}

// The level table travels through the autograd graph as the layout's options.
struct Levels {
  detail::HashGridLevels kernel;
  int64_t n_entries;
  int64_t width;
};

Levels levels_of(const HashGridLayout& layout) {
  return {kernel_levels(layout), layout.n_entries, layout.n_output_dims()};
}

void save_levels(AutogradContext* ctx, const HashGridLayout& layout) {
  const HashGridOptions& o = layout.options;
  ctx->saved_data["levels"] = std::vector<int64_t>{o.n_levels, o.n_features_per_level,
                                                   o.log2_hashmap_size, o.base_resolution};
  ctx->saved_data["per_level_scale"] = o.per_level_scale;
}

HashGridLayout load_levels(AutogradContext* ctx) {
  const std::vector<int64_t> v = ctx->saved_data["levels"].toIntVector();
  return HashGridLayout::make(
      {v[0], v[1], v[2], v[3], ctx->saved_data["per_level_scale"].toDouble()});
}

// --- the three kernels, dispatched on the device; v and the tensors' contiguity as the op's ---

at::Tensor gather(const Levels& L, const at::Tensor& theta, const at::Tensor& u,
                  const at::Tensor& v) {
  at::Tensor out = at::empty({u.size(0), L.width}, theta.options());
#ifdef SDS_WITH_CUDA
  if (theta.is_cuda()) {
    const c10::cuda::CUDAGuard guard(theta.device());
    AT_DISPATCH_FLOATING_TYPES(theta.scalar_type(), "hash_grid_gather_cuda", [&] {
      detail::check_launch(
          detail::hash_grid_gather_cuda(L.kernel, u.size(0), theta.data_ptr<scalar_t>(),
                                        u.data_ptr<scalar_t>(), detail::ptr_or_null<scalar_t>(v),
                                        out.data_ptr<scalar_t>(), at::cuda::getCurrentCUDAStream()),
          "hash_grid gather");
    });
    return out;
  }
#endif
  detail::hash_grid_gather_cpu(L.kernel, theta, u, v, out);
  return out;
}

at::Tensor scatter(const Levels& L, const at::Tensor& u, const at::Tensor& v, const at::Tensor& g) {
  const auto F = static_cast<int64_t>(L.kernel.n_features);
#ifdef SDS_WITH_CUDA
  if (u.is_cuda()) {
    const c10::cuda::CUDAGuard guard(u.device());
    at::Tensor dtheta = at::zeros({L.n_entries, F}, g.options());  // added into atomically
    AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "hash_grid_scatter_cuda", [&] {
      detail::check_launch(detail::hash_grid_scatter_cuda(
                               L.kernel, u.size(0), u.data_ptr<scalar_t>(),
                               detail::ptr_or_null<scalar_t>(v), g.data_ptr<scalar_t>(),
                               dtheta.data_ptr<scalar_t>(), at::cuda::getCurrentCUDAStream()),
                           "hash_grid scatter");
    });
    return dtheta;
  }
#endif
  at::Tensor dtheta = at::empty({L.n_entries, F}, g.options());  // each level zeroes its rows
  detail::hash_grid_scatter_cpu(L.kernel, u, v, g, dtheta);
  return dtheta;
}

at::Tensor input_grad(const Levels& L, const at::Tensor& theta, const at::Tensor& u,
                      const at::Tensor& v, const at::Tensor& g) {
  at::Tensor du = at::empty({u.size(0), 3}, theta.options());
#ifdef SDS_WITH_CUDA
  if (theta.is_cuda()) {
    const c10::cuda::CUDAGuard guard(theta.device());
    AT_DISPATCH_FLOATING_TYPES(theta.scalar_type(), "hash_grid_input_grad_cuda", [&] {
      detail::check_launch(
          detail::hash_grid_input_grad_cuda(
              L.kernel, u.size(0), theta.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(),
              detail::ptr_or_null<scalar_t>(v), g.data_ptr<scalar_t>(), du.data_ptr<scalar_t>(),
              at::cuda::getCurrentCUDAStream()),
          "hash_grid input_grad");
    });
    return du;
  }
#endif
  detail::hash_grid_input_grad_cpu(L.kernel, theta, u, v, g, du);
  return du;
}

// dtheta = scatter(u, g): differentiable w.r.t. g and u (once).
class ScatterFunction : public torch::autograd::Function<ScatterFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& u, const at::Tensor& g,
                            const HashGridLayout& layout) {
    const at::Tensor gc = g.contiguous();
    ctx->save_for_backward({u, gc});
    save_levels(ctx, layout);
    return scatter(levels_of(layout), u, at::Tensor(), gc);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &u = saved[0], &g = saved[1];
    const Levels L = levels_of(load_levels(ctx));
    const at::Tensor gt = grads[0].contiguous();
    at::Tensor du, dg;
    if (ctx->needs_input_grad(0)) du = input_grad(L, gt, u, at::Tensor(), g);
    if (ctx->needs_input_grad(1)) dg = gather(L, gt, u, at::Tensor());
    return {du, dg, at::Tensor()};
  }
};

// du = input_grad(theta, u, g): differentiable w.r.t. theta, u and g (once).
class InputGradFunction : public torch::autograd::Function<InputGradFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& theta, const at::Tensor& u,
                            const at::Tensor& g, const HashGridLayout& layout) {
    const at::Tensor gc = g.contiguous();
    ctx->save_for_backward({theta, u, gc});
    save_levels(ctx, layout);
    return input_grad(levels_of(layout), theta, u, at::Tensor(), gc);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &theta = saved[0], &u = saved[1], &g = saved[2];
    const Levels L = levels_of(load_levels(ctx));
    const at::Tensor v = grads[0].contiguous();
    at::Tensor dtheta, du, dg;
    if (ctx->needs_input_grad(0)) dtheta = scatter(L, u, v, g);
    if (ctx->needs_input_grad(1)) du = input_grad(L, theta, u, v, g);
    if (ctx->needs_input_grad(2)) dg = gather(L, theta, u, v);
    return {dtheta, du, dg, at::Tensor()};
  }
};

class EncodeFunction : public torch::autograd::Function<EncodeFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& theta, const at::Tensor& u,
                            const HashGridLayout& layout) {
    ctx->save_for_backward({theta, u});
    save_levels(ctx, layout);
    return gather(levels_of(layout), theta, u, at::Tensor());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &theta = saved[0], &u = saved[1];
    const HashGridLayout layout = load_levels(ctx);
    at::Tensor dtheta, du;
    // Through the Functions above, so that a graph built with create_graph differentiates them.
    if (ctx->needs_input_grad(0)) dtheta = ScatterFunction::apply(u, grads[0], layout);
    if (ctx->needs_input_grad(1)) du = InputGradFunction::apply(theta, u, grads[0], layout);
    return {dtheta, du, at::Tensor()};
  }
};

void check_inputs(const at::Tensor& params, const at::Tensor& points,
                  const HashGridLayout& layout) {
  SDS_CHECK(
      layout.n_entries > 0 && layout.levels.size() == static_cast<size_t>(layout.options.n_levels),
      "hash_grid_encode: the layout is empty or inconsistent (use HashGridLayout::make)");
  check_shape(params, "hash_grid_encode: params",
              {layout.n_entries, layout.options.n_features_per_level}, "[n_entries, F]");
  check_shape(points, "hash_grid_encode: points", {-1, 3}, "[N, 3]");
  check_floating(params, "hash_grid_encode: params");
  check_dtype(points, "hash_grid_encode: points", params.scalar_type());
  check_device_supported(params, "hash_grid_encode: params");
  check_device(points, "hash_grid_encode: points", params.device());
}

}  // namespace

at::Tensor hash_grid_encode(const at::Tensor& params, const at::Tensor& points,
                            const HashGridLayout& layout) {
  check_inputs(params, points, layout);
  return EncodeFunction::apply(params.contiguous(), points.contiguous(), layout);
}

}  // namespace sds::ops
