// march_rays on the CPU: rays in parallel, each the shared traversal (march_rays_kernels.h), once
// to count and once to write at the ray's offset. Also the reference for the CUDA kernels.

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "ops/march_rays_kernels.h"
#include "ops/op_glue.h"

namespace sds::ops::detail {
namespace {

constexpr int64_t kRayGrain = 64;

template <typename T>
MarchGrid<T> grid_of(const at::Tensor& occupancy, double bound, double step) {
  return {occupancy.data_ptr<bool>(), occupancy.size(0),     occupancy.size(1),
          occupancy.size(2),          static_cast<T>(bound), static_cast<T>(step)};
}

}  // namespace

void march_rays_count_cpu(const at::Tensor& occupancy, double bound, double step,
                          const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& near,
                          const at::Tensor& far, const at::Tensor& jitter,
                          const at::Tensor& counts) {
  AT_DISPATCH_FLOATING_TYPES(origins.scalar_type(), "march_rays_count_cpu", [&] {
    const MarchGrid<scalar_t> g = grid_of<scalar_t>(occupancy, bound, step);
    const scalar_t *o = origins.data_ptr<scalar_t>(), *d = dirs.data_ptr<scalar_t>();
    const scalar_t *tn = near.data_ptr<scalar_t>(), *tf = far.data_ptr<scalar_t>();
    const scalar_t* j = ptr_or_null<scalar_t>(jitter);
    int64_t* c = counts.data_ptr<int64_t>();
    at::parallel_for(0, origins.size(0), kRayGrain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        c[r] = march_ray<scalar_t>(g, o + 3 * r, d + 3 * r, tn[r], tf[r], j ? j[r] : scalar_t(0),
                                   nullptr, nullptr);
      }
    });
  });
}

void march_rays_write_cpu(const at::Tensor& occupancy, double bound, double step,
                          const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& near,
                          const at::Tensor& far, const at::Tensor& jitter,
                          const at::Tensor& offsets, const at::Tensor& ray_indices,
                          const at::Tensor& t_starts, const at::Tensor& t_ends) {
  AT_DISPATCH_FLOATING_TYPES(origins.scalar_type(), "march_rays_write_cpu", [&] {
    const MarchGrid<scalar_t> g = grid_of<scalar_t>(occupancy, bound, step);
    const scalar_t *o = origins.data_ptr<scalar_t>(), *d = dirs.data_ptr<scalar_t>();
    const scalar_t *tn = near.data_ptr<scalar_t>(), *tf = far.data_ptr<scalar_t>();
    const scalar_t* j = ptr_or_null<scalar_t>(jitter);
    const int64_t* off = offsets.data_ptr<int64_t>();
    int64_t* ri = ray_indices.data_ptr<int64_t>();
    scalar_t *ts = t_starts.data_ptr<scalar_t>(), *te = t_ends.data_ptr<scalar_t>();
    at::parallel_for(0, origins.size(0), kRayGrain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        march_ray<scalar_t>(g, o + 3 * r, d + 3 * r, tn[r], tf[r], j ? j[r] : scalar_t(0),
                            ts + off[r], te + off[r]);
        for (int64_t i = off[r]; i < off[r + 1]; ++i) ri[i] = r;
      }
    });
  });
}

}  // namespace sds::ops::detail
