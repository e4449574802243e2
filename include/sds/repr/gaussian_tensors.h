#pragma once
// The raw tensors of a set of 3D Gaussians, in the layout of the 3DGS papers and files.

#include <ATen/ATen.h>

namespace sds {

/// The trainable (pre-activation) tensors of N Gaussians. Activations are applied at render
/// time: scale = exp(log_scales), rotation = quats / |quats|, opacity = sigmoid(opacity_logits),
/// rgb = max(0, sum_k sh_k Y_k(dir) + 0.5).
struct GaussianTensors {
  at::Tensor means;           ///< [N, 3] world positions
  at::Tensor log_scales;      ///< [N, 3] log standard deviations along the principal axes
  at::Tensor quats;           ///< [N, 4] rotation (w, x, y, z), not necessarily normalised
  at::Tensor opacity_logits;  ///< [N] logit of the opacity
  at::Tensor sh;              ///< [N, K, 3] SH coefficients, K = (degree + 1)^2, DC first

  int64_t size() const { return means.defined() ? means.size(0) : 0; }
};

}  // namespace sds
