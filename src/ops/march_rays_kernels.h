#pragma once
// march_rays kernels: the per-ray traversal shared by the CPU and CUDA kernels, run twice (count,
// then write at the ray's offset), and the entry points. Plain C++ above the tensor-level
// declarations so that nvcc can read it.

#include <cstdint>

#include "ops/device_math.h"

#ifdef SDS_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace sds::ops::detail {

/// The grid and step of a march.
template <typename T>
struct MarchGrid {
  const bool* occupancy;  // [X, Y, Z]
  int64_t X, Y, Z;
  T bound;
  T step;
};

/// floor(x) for |x| < 2^62, without libm (x is a finite step count here).
template <typename T>
SDS_HOST_DEVICE inline int64_t floor_to_int(T x) {
  int64_t i = static_cast<int64_t>(x);
  return T(i) > x ? i - 1 : i;
}

/// Marches one ray; writes its kept intervals to t_start/t_end (when not null) and returns how
/// many there are. See march_rays() for the contract.
template <typename T>
SDS_HOST_DEVICE inline int64_t march_ray(const MarchGrid<T>& g, const T* __restrict__ o,
                                         const T* __restrict__ d, T near, T far, T jitter,
                                         T* __restrict__ t_start, T* __restrict__ t_end) {
  if (!(far > near)) return 0;
  const int64_t dims[3] = {g.X, g.Y, g.Z};
  T cell[3];
  for (int a = 0; a < 3; ++a) cell[a] = T(2) * g.bound / T(dims[a]);
  // The last k whose midpoint is before far; also bounds the loop for any input.
  const T span = (far - near) / g.step - jitter - T(0.5);
  if (!(span > T(0) || span == T(0))) return 0;
  const int64_t k_last = floor_to_int(span < T(4.0e18) ? span : T(4.0e18));
  int64_t count = 0;
  int64_t k = 0;
  while (k <= k_last) {
    const T mid = near + (T(k) + jitter + T(0.5)) * g.step;
    if (!(mid < far)) break;
    int64_t idx[3];
    bool inside = true;
    for (int a = 0; a < 3; ++a) {
      const T x = (o[a] + d[a] * mid + g.bound) / cell[a];
      inside = inside && x >= T(0) && x < T(dims[a]);
      idx[a] = inside ? floor_to_int(x) : 0;
      if (idx[a] >= dims[a]) idx[a] = dims[a] - 1;
    }
    if (!inside) {
      ++k;
      continue;
    }
    if (g.occupancy[(idx[0] * g.Y + idx[1]) * g.Z + idx[2]]) {
      if (t_start) {
        t_start[count] = mid - T(0.5) * g.step;
        t_end[count] = mid + T(0.5) * g.step;
      }
      ++count;
      ++k;
      continue;
    }
    // An empty cell: jump to the first midpoint at or past the cell's exit.
    T t_exit = far;
    for (int a = 0; a < 3; ++a) {
      if (d[a] == T(0)) continue;
      const T face = T(d[a] > T(0) ? idx[a] + 1 : idx[a]) * cell[a] - g.bound;
      const T t = (face - o[a]) / d[a];
      t_exit = t < t_exit ? t : t_exit;
    }
    const T kf = (t_exit - near) / g.step - jitter - T(0.5);
    int64_t next = kf < T(k_last + 1) ? floor_to_int(kf) : k_last + 1;
    if (T(next) < kf) ++next;  // ceil
    k = next > k + 1 ? next : k + 1;
  }
  return count;
}

#ifdef SDS_WITH_CUDA
// CUDA launches (cuda/march_rays.cu), one thread per ray; jitter may be null. count writes
// counts [R]; write fills the samples from ray_offsets [R + 1].
cudaError_t march_rays_count_cuda(const MarchGrid<float>& g, int64_t R, const float* origins,
                                  const float* dirs, const float* near, const float* far,
                                  const float* jitter, int64_t* counts, cudaStream_t stream);
cudaError_t march_rays_count_cuda(const MarchGrid<double>& g, int64_t R, const double* origins,
                                  const double* dirs, const double* near, const double* far,
                                  const double* jitter, int64_t* counts, cudaStream_t stream);
cudaError_t march_rays_write_cuda(const MarchGrid<float>& g, int64_t R, const float* origins,
                                  const float* dirs, const float* near, const float* far,
                                  const float* jitter, const int64_t* offsets, int64_t* ray_indices,
                                  float* t_starts, float* t_ends, cudaStream_t stream);
cudaError_t march_rays_write_cuda(const MarchGrid<double>& g, int64_t R, const double* origins,
                                  const double* dirs, const double* near, const double* far,
                                  const double* jitter, const int64_t* offsets,
                                  int64_t* ray_indices, double* t_starts, double* t_ends,
                                  cudaStream_t stream);
#endif

}  // namespace sds::ops::detail

#ifndef __CUDACC__
#include <ATen/core/Tensor.h>

namespace sds::ops::detail {

// CPU kernels (src/ops/march_rays_cpu.cpp) on contiguous tensors; jitter may be undefined.
/// counts [R] int64 = samples of each ray.
void march_rays_count_cpu(const at::Tensor& occupancy, double bound, double step,
                          const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& near,
                          const at::Tensor& far, const at::Tensor& jitter,
                          const at::Tensor& counts);
/// Fills ray_indices, t_starts, t_ends [N] from offsets [R + 1].
void march_rays_write_cpu(const at::Tensor& occupancy, double bound, double step,
                          const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& near,
                          const at::Tensor& far, const at::Tensor& jitter,
                          const at::Tensor& offsets, const at::Tensor& ray_indices,
                          const at::Tensor& t_starts, const at::Tensor& t_ends);

}  // namespace sds::ops::detail
#endif
