#pragma once
// Volume-rendering compositing of dense per-ray samples (the NeRF quadrature), fused.

#include <ATen/ATen.h>

namespace sds::ops {

/// The composited image quantities of R rays with S samples each.
struct CompositeRaysOutput {
  at::Tensor rgb;      ///< [R, 3] accumulated colour, sum_i w_i c_i
  at::Tensor alpha;    ///< [R] accumulated opacity, sum_i w_i (1 - final transmittance)
  at::Tensor depth;    ///< [R] expected depth, sum_i w_i t_i (not normalised by alpha)
  at::Tensor weights;  ///< [R, S] per-sample weights w_i
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

}  // namespace sds::ops
