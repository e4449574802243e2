#pragma once
// Ray marching through an occupancy bit grid into packed samples (nerfacc's OccGridEstimator
// traversal with uniform steps), fused.

#include <ATen/ATen.h>

namespace sds::ops {

/// Packed samples of R rays: ray r owns samples ray_offsets[r] .. ray_offsets[r + 1] - 1, near to
/// far; sample i is the interval [t_starts[i], t_ends[i]] of ray ray_indices[i].
struct MarchedSamples {
  at::Tensor ray_offsets;  ///< [R + 1] int64, from 0 to N
  at::Tensor ray_indices;  ///< [N] int64
  at::Tensor t_starts;     ///< [N]
  at::Tensor t_ends;       ///< [N]
};

/// Marches rays origins [R, 3], directions [R, 3] (unit length, not checked) from near [R] to
/// far [R] in steps of `step_size` through the cube [-bound, bound]^3 divided into the cells of
/// `occupancy` [X, Y, Z] (bool, indexed [x, y, z]). The candidate intervals of ray r are
/// [t_k, t_k + step_size] with t_k = near_r + (k + jitter_r) step_size, k = 0, 1, ..., while the
/// midpoint t_k + step_size / 2 is before far_r; exactly those whose midpoint lies in an occupied
/// cell are kept. Empty cells are skipped in one jump (to the first midpoint past the cell), so
/// the cost follows the occupied length, not the ray's. jitter [R] in [0, 1) (stratified
/// sampling; undefined: 0) is not checked. Not differentiable (the intervals are constants of the
/// render).
///
/// Floating inputs share one dtype (float32 or float64) and device (CPU, or CUDA in a build with
/// CUDA); bad shapes, dtypes, devices, a step or bound that is not positive, or more samples than
/// fit in memory are an sds::Error. Deterministic; one host sync (the sample count).
MarchedSamples march_rays(const at::Tensor& origins, const at::Tensor& directions,
                          const at::Tensor& near, const at::Tensor& far,
                          const at::Tensor& occupancy, double bound, double step_size,
                          const at::Tensor& jitter = {});

}  // namespace sds::ops
