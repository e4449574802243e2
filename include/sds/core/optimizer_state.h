#pragma once
// The optimiser's per-parameter state, as seen by parts that add or remove parameter rows
// (Gaussian densification): gsplat's parameter/optimiser surgery, behind a small interface so
// that a representation never depends on the optimiser class.

#include <ATen/ATen.h>

namespace sds {

/// Adam's moments of one parameter (undefined before its first step).
struct AdamMoments {
  at::Tensor exp_avg;
  at::Tensor exp_avg_sq;
};

/// Access to the optimiser holding a representation's parameters.
class OptimizerState {
 public:
  virtual ~OptimizerState() = default;
  /// The moments of `param` (undefined tensors while it has no state).
  virtual AdamMoments moments(const at::Tensor& param) = 0;
  /// Puts `new_param` in the place of `old_param` (same group and learning rate) with the given
  /// moments, which must be undefined (fresh state) or shaped like `new_param`. The step count
  /// of the old state is kept, so Adam's bias correction continues. sds::Error if `old_param` is
  /// not optimised.
  virtual void replace(const at::Tensor& old_param, const at::Tensor& new_param,
                       const AdamMoments& moments) = 0;
};

}  // namespace sds
