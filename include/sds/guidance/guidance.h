#pragma once
// The guidance interface: one score-distillation objective.

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>

#include "sds/camera/camera.h"
#include "sds/diffusion/prior.h"

namespace sds {

/// What a guidance sees of one training step.
struct GuidanceInput {
  at::Tensor rgb;       ///< `[B, 3, H, W]` in [0, 1], carrying the gradient to the representation
  CameraBatch cameras;  ///< the B cameras the images were rendered from
  int64_t step = 0;         ///< current training step, 0-based
  int64_t total_steps = 1;  ///< length of the run (for schedules)
  at::Generator* generator = nullptr;  ///< all randomness (t, noise) comes from here
};

/// A loss whose gradient w.r.t. `rgb` is the objective's update, and scalars to log.
struct GuidanceOutput {
  at::Tensor loss;  ///< scalar; its value is not an objective (the target trick), its gradient is
  std::map<std::string, double> metrics;
};

/// One score-distillation objective (SDS, CSD, VSD, ...). It never knows which representation
/// made the image.
class Guidance {
 public:
  static constexpr const char* kInterfaceName = "guidance";
  /// What a guidance is built with besides its JSON: the prior and the prompt.
  struct BuildContext {
    std::shared_ptr<Prior> prior;
    std::string prompt;
  };
  virtual ~Guidance() = default;

  /// The loss for the rendered images of one step.
  virtual GuidanceOutput compute(const GuidanceInput& input) = 0;

  /// Parameters the objective trains itself (VSD's particle model); none by default.
  virtual std::vector<at::Tensor> trainable_parameters() { return {}; }
};

/// 0.5 ||z - sg(z - g)||^2 / B: a loss whose gradient w.r.t. z `[B, ...]` is exactly g / B
/// (threestudio's stop-gradient target trick).
at::Tensor target_loss(const at::Tensor& z, const at::Tensor& g);

/// The prompt for a camera with DreamFusion's view-dependent suffix (", front view", ...), using
/// threestudio's thresholds (front/back 45 degrees, overhead 60 degrees).
std::string view_dependent_prompt(const std::string& prompt, const Camera& camera);

}  // namespace sds
