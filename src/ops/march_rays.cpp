// march_rays: boundary checks, the two passes (count, exclusive scan, write) and device dispatch.

#include "sds/ops/march_rays.h"

#include <cmath>

#include "ops/march_rays_kernels.h"
#include "ops/op_glue.h"
#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds::ops {
namespace {

void check_inputs(const at::Tensor& origins, const at::Tensor& directions, const at::Tensor& near,
                  const at::Tensor& far, const at::Tensor& occupancy, double bound,
                  double step_size, const at::Tensor& jitter) {
  check_shape(origins, "march_rays: origins", {-1, 3}, "[R, 3]");
  const int64_t R = origins.size(0);
  check_shape(directions, "march_rays: directions", {R, 3}, "[R, 3] (R from origins)");
  check_shape(near, "march_rays: near", {R}, "[R] (R from origins)");
  check_shape(far, "march_rays: far", {R}, "[R] (R from origins)");
  check_shape(occupancy, "march_rays: occupancy", {-1, -1, -1}, "[X, Y, Z]");
  SDS_CHECK(occupancy.numel() > 0, "march_rays: occupancy: expected X, Y, Z >= 1, got {}",
            shape_string(occupancy.sizes()));
  check_dtype(occupancy, "march_rays: occupancy", at::kBool);
  check_floating(origins, "march_rays: origins");
  check_device_supported(origins, "march_rays: origins");
  for (const auto& [t, name] :
       {std::pair{&directions, "march_rays: directions"}, std::pair{&near, "march_rays: near"},
        std::pair{&far, "march_rays: far"}}) {
    check_dtype(*t, name, origins.scalar_type());
    check_device(*t, name, origins.device());
  }
  check_device(occupancy, "march_rays: occupancy", origins.device());
  if (jitter.defined()) {
    check_shape(jitter, "march_rays: jitter", {R}, "[R] (R from origins)");
    check_dtype(jitter, "march_rays: jitter", origins.scalar_type());
    check_device(jitter, "march_rays: jitter", origins.device());
  }
  SDS_CHECK(std::isfinite(bound) && bound > 0, "march_rays: bound: expected > 0, got {}", bound);
  SDS_CHECK(std::isfinite(step_size) && step_size > 0,
            "march_rays: step_size: expected > 0, got {}", step_size);
}

// Samples of 4 floats and an index each: past this, a render would not fit in memory.
constexpr int64_t kMaxSamples = int64_t{1} << 31;

}  // namespace

MarchedSamples march_rays(const at::Tensor& origins, const at::Tensor& directions,
                          const at::Tensor& near, const at::Tensor& far,
                          const at::Tensor& occupancy, double bound, double step_size,
                          const at::Tensor& jitter) {
  check_inputs(origins, directions, near, far, occupancy, bound, step_size, jitter);
  const at::Tensor o = origins.contiguous(), d = directions.contiguous();
  const at::Tensor tn = near.contiguous(), tf = far.contiguous();
  const at::Tensor occ = occupancy.contiguous();
  const at::Tensor j = detail::contiguous_or_undefined(jitter);
  const int64_t R = o.size(0);
  const auto long_opts = o.options().dtype(at::kLong);
  at::Tensor counts = at::empty({R}, long_opts);
#ifdef SDS_WITH_CUDA
  const bool cuda = o.is_cuda();
  auto grid_of = [&]<typename T>() {
    return detail::MarchGrid<T>{occ.data_ptr<bool>(),  occ.size(0),
                                occ.size(1),           occ.size(2),
                                static_cast<T>(bound), static_cast<T>(step_size)};
  };
  if (cuda) {
    const c10::cuda::CUDAGuard guard(o.device());
    AT_DISPATCH_FLOATING_TYPES(o.scalar_type(), "march_rays_count_cuda", [&] {
      detail::check_launch(detail::march_rays_count_cuda(
                               grid_of.template operator()<scalar_t>(), R, o.data_ptr<scalar_t>(),
                               d.data_ptr<scalar_t>(), tn.data_ptr<scalar_t>(),
                               tf.data_ptr<scalar_t>(), detail::ptr_or_null<scalar_t>(j),
                               counts.data_ptr<int64_t>(), at::cuda::getCurrentCUDAStream()),
                           "march_rays count");
    });
  } else
#endif
  {
    detail::march_rays_count_cpu(occ, bound, step_size, o, d, tn, tf, j, counts);
  }
  MarchedSamples out;
  out.ray_offsets = at::cat({at::zeros({1}, long_opts), counts.cumsum(0)});
  const int64_t N = out.ray_offsets[-1].item<int64_t>();  // the one host sync: the output size
  SDS_CHECK(N <= kMaxSamples,
            "march_rays: {} samples over {} rays is more than the {} a render can hold (a larger "
            "step_size, fewer rays or an emptier occupancy grid)",
            N, R, kMaxSamples);
  out.ray_indices = at::empty({N}, long_opts);
  out.t_starts = at::empty({N}, o.options());
  out.t_ends = at::empty({N}, o.options());
#ifdef SDS_WITH_CUDA
  if (cuda) {
    const c10::cuda::CUDAGuard guard(o.device());
    AT_DISPATCH_FLOATING_TYPES(o.scalar_type(), "march_rays_write_cuda", [&] {
      detail::check_launch(
          detail::march_rays_write_cuda(
              grid_of.template operator()<scalar_t>(), R, o.data_ptr<scalar_t>(),
              d.data_ptr<scalar_t>(), tn.data_ptr<scalar_t>(), tf.data_ptr<scalar_t>(),
              detail::ptr_or_null<scalar_t>(j), out.ray_offsets.data_ptr<int64_t>(),
              out.ray_indices.data_ptr<int64_t>(), out.t_starts.data_ptr<scalar_t>(),
              out.t_ends.data_ptr<scalar_t>(), at::cuda::getCurrentCUDAStream()),
          "march_rays write");
    });
    return out;
  }
#endif
  detail::march_rays_write_cpu(occ, bound, step_size, o, d, tn, tf, j, out.ray_offsets,
                               out.ray_indices, out.t_starts, out.t_ends);
  return out;
}

}  // namespace sds::ops
