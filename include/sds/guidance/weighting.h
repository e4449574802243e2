#pragma once
// w(t), the weight of the score-distillation gradient at a timestep.

#include <ATen/ATen.h>

#include <memory>

#include "sds/core/json.h"

namespace sds {

/// w as a function of alpha_bar_t.
class Weighting {
 public:
  static constexpr const char* kInterfaceName = "weighting";
  struct BuildContext {};
  virtual ~Weighting() = default;
  /// w for each alpha_bar `[B]` (any float dtype), same shape.
  virtual at::Tensor operator()(const at::Tensor& alpha_bar) const = 0;
};

/// "sds" (DreamFusion): w = 1 - alpha_bar = sigma_t^2.
class SdsWeighting : public Weighting {
 public:
  at::Tensor operator()(const at::Tensor& a) const override { return 1 - a; }
};

/// "fantasia3d": w = sqrt(alpha_bar) (1 - alpha_bar).
class Fantasia3dWeighting : public Weighting {
 public:
  at::Tensor operator()(const at::Tensor& a) const override { return a.sqrt() * (1 - a); }
};

/// "uniform": w = 1 (Magic3D coarse, CSD).
class UniformWeighting : public Weighting {
 public:
  at::Tensor operator()(const at::Tensor& a) const override { return at::ones_like(a); }
};

/// "noise_to_signal": w = sqrt((1 - alpha_bar) / alpha_bar) = sigma_t / alpha_t (LucidDreamer's
/// ISM weight and DreamTime's W_d).
class NoiseToSignalWeighting : public Weighting {
 public:
  at::Tensor operator()(const at::Tensor& a) const override { return ((1 - a) / a).sqrt(); }
};

}  // namespace sds
