#pragma once
// The guidance interface: one score-distillation objective.

#include <ATen/ATen.h>

#include <map>
#include <optional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sds/camera/camera.h"
#include "sds/core/parameter_group.h"
#include "sds/diffusion/prior.h"

namespace sds {

/// What a guidance sees of one training step.
struct GuidanceInput {
  at::Tensor rgb;       ///< `[B, 3, H, W]` in [0, 1], carrying the gradient to the representation
  CameraBatch cameras;  ///< the B cameras the images were rendered from
  int64_t step = 0;         ///< current training step, 0-based
  int64_t total_steps = 1;  ///< length of the run (for schedules)
  /// The host's randomness (timesteps, which are few and steer host-side choices: an
  /// objective's inversion length, a prior's components); a handle that shares its state.
  at::Generator generator;
  /// The randomness drawn on the images' device (the forward-process noise). Undefined: drawn
  /// from `generator` (on the CPU one generator does both).
  at::Generator device_generator;
};

/// Scalars to log: 0-dim tensors on the step's device, detached; read back only on the steps
/// that log them (see log_metrics).
using Metrics = std::map<std::string, at::Tensor>;

/// The metrics read back to the host in one copy.
std::map<std::string, double> log_metrics(const Metrics& metrics);

/// A loss whose gradient w.r.t. `rgb` is the objective's update, and scalars to log.
struct GuidanceOutput {
  at::Tensor loss;  ///< scalar; its value is not an objective (the target trick), its gradient is
  Metrics metrics;
  /// Multiplies the representation's learning rates for this step (DreamTime's
  /// time-prioritised learning rate); 1 leaves them alone.
  double lr_scale = 1.0;
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
    at::Device device = at::kCPU;  ///< where the objective's own parameters live (VSD's model)
  };
  virtual ~Guidance() = default;

  /// The loss for the rendered images of one step.
  virtual GuidanceOutput compute(const GuidanceInput& input) = 0;

  /// Parameters the objective trains itself, with their learning rates (VSD's particle model);
  /// the trainer optimises them in the same step as the representation. None by default.
  virtual std::vector<ParameterGroup> parameter_groups() { return {}; }

  /// The objective's own state by name (its trained parameters), for checkpoints.
  virtual std::vector<std::pair<std::string, at::Tensor>> named_tensors() { return {}; }

  /// The known view that the objective supervises directly (Magic123's reference image), if any,
  /// at the size of the rendered views; guidance_step() renders it every step.
  virtual std::optional<Camera> reference_camera(int64_t height, int64_t width) const {
    return std::nullopt;
  }
  /// The loss of the render of `reference_camera()`: rgb `[1, 3, H, W]`, alpha and depth
  /// `[1, 1, H, W]` (depth undefined when the representation renders none).
  virtual GuidanceOutput reference_loss(const at::Tensor& rgb, const at::Tensor& alpha,
                                        const at::Tensor& depth, int64_t step,
                                        int64_t total_steps);
};

/// 0.5 ||z - sg(z - g)||^2 / B: a loss whose gradient w.r.t. z `[B, ...]` is exactly g / B
/// (threestudio's stop-gradient target trick).
at::Tensor target_loss(const at::Tensor& z, const at::Tensor& g);

/// The prompt for a camera with DreamFusion's view-dependent suffix (", front view", ...), using
/// threestudio's thresholds (front/back 45 degrees, overhead 60 degrees).
std::string view_dependent_prompt(const std::string& prompt, const Camera& camera);

}  // namespace sds
