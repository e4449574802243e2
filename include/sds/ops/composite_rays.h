#pragma once
// Volume-rendering compositing of dense per-ray samples (the NeRF quadrature), fused.

#include <ATen/ATen.h>

namespace sds::ops {

/// The composited image quantities of R rays with S samples each.
struct CompositeRaysOutput {
  at::Tensor rgb;      ///< [R, 3] accumulated colour, sum_i w_i c_i
  at::Tensor alpha;    ///< [R] accumulated opacity, sum_i w_i (1 - final transmittance)
  at::Tensor depth;    ///< [R] expected depth, sum_i w_i t_i (not normalised by alpha)
  at::Tensor weights;  ///< [R, S] per-sample weights w_i ([N] for packed samples)
};

/// Composites dense samples front to back along each ray.
///
/// sigmas [R, S] densities (>= 0, not checked), rgbs [R, S, 3] sample colours, deltas [R, S]
/// interval lengths, ts [R, S] sample distances along the ray; samples ordered near to far.
///   tau_i = sigma_i delta_i,  alpha_i = 1 - exp(-tau_i),  T_i = exp(-sum_{j<i} tau_j),
///   w_i = T_i alpha_i,  rgb = sum_i w_i c_i,  alpha = sum_i w_i,  depth = sum_i w_i t_i.
/// Exact: no early ray termination. Differentiable w.r.t. sigmas and rgbs (every output may
/// carry a gradient; first order only); deltas and ts are treated as constants. All inputs share
/// one floating dtype (float32 or float64) and one device (CPU, or CUDA in a build with CUDA);
/// anything else is an sds::Error.
CompositeRaysOutput composite_rays(const at::Tensor& sigmas, const at::Tensor& rgbs,
                                   const at::Tensor& deltas, const at::Tensor& ts);

/// composite_rays over packed (ragged) samples: ray r owns samples ray_offsets[r] ..
/// ray_offsets[r + 1] - 1 of the flat arrays sigmas [N], rgbs [N, 3], deltas [N], ts [N], in
/// near-to-far order; ray_offsets [R + 1] int64, non-decreasing from 0 to N (a ray may own none:
/// alpha 0). The same formulas, kernels and gradients as composite_rays; weights are [N], and
/// their gradient is passed on (so other per-sample quantities, normals for example, can be
/// composited with them by index_add and still train the densities). Offsets are checked on the
/// CPU, and on a device with debug checks on.
CompositeRaysOutput composite_rays_packed(const at::Tensor& sigmas, const at::Tensor& rgbs,
                                          const at::Tensor& deltas, const at::Tensor& ts,
                                          const at::Tensor& ray_offsets);

}  // namespace sds::ops
