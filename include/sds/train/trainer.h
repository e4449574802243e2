#pragma once
// The training loop: CameraSampler -> Representation::render -> Guidance -> backward -> Adam
// step -> Representation::after_step. The trainer is the only part that knows both the
// representation and the guidance.

#include <ATen/ATen.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sds/camera/sampler.h"
#include "sds/core/json.h"
#include "sds/guidance/guidance.h"
#include "sds/repr/representation.h"
#include "sds/train/regularisers.h"
#include "sds/train/step.h"

namespace torch::optim {
class Adam;
}

namespace sds {

/// Options of the loop; JSON keys (under "trainer") are the field names.
struct TrainerOptions {
  int64_t steps = 250;
  uint64_t seed = 0;
  /// Write `checkpoint/latest.pt` in the run folder every N steps (0 = never) and at the end.
  int64_t checkpoint_every = 100;
  std::filesystem::path run_dir;  ///< empty: no checkpoints
  RenderOptions render;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.99;
  double adam_eps = 1e-15;  ///< threestudio's default; grids have tiny gradients far from the object
  /// Where the run lives: the representation (moved there), rays, noise, the optimiser; the
  /// guidance's own parameters must be built there (Guidance::BuildContext::device).
  at::Device device = at::kCPU;
  /// Read the loss and metrics back every N steps (and at the last): the only host sync of a
  /// step, one copy. Steps in between report StepInfo::logged = false.
  int64_t log_every = 10;
  /// On a device, the NaN/Inf checks of the render, loss, gradients and parameters are recorded
  /// without a sync and read every N steps (and at logged steps, before each checkpoint and at
  /// the end), naming the first bad step and part. On the CPU each part is checked at once.
  int64_t check_every = 10;
  /// Regularisers of the representation's render, added to the guidance's loss each step
  /// (train/step.h's regularisation()).
  RegulariserWeights regularisers;
  /// Multiplies the representation's learning rates at each step, on top of the guidance's
  /// `lr_scale` (a ScalarSchedule: [1, 0.1] decays them linearly to a tenth over the run, which
  /// settles the noise that score distillation's random t leaves in the last steps).
  ScalarSchedule lr_scale = 1.0;

  /// Reads the keys of a config's "trainer" object ("checkpoint_every", "background",
  /// "adam_beta1", "adam_beta2", "adam_eps", "device", "log_every", "check_every",
  /// "regularisers", "lr_scale") over `defaults`; bad values are an sds::Error.
  static TrainerOptions from_config(ConfigReader& config, TrainerOptions defaults);
};

/// What a step callback sees.
struct StepInfo {
  int64_t step = 0;  ///< 1-based count of finished steps
  int64_t total_steps = 0;
  /// Whether this step read its loss and metrics back (every TrainerOptions::log_every steps
  /// and the last); otherwise `loss` is NaN and `metrics` is empty.
  bool logged = false;
  double loss = 0.0;
  std::map<std::string, double> metrics;
};

/// Runs the five-part loop with a seed, checkpoints and NaN/Inf detection. Each step is the
/// protocol of train/step.h (step_generator, guidance_step, TrainingGroups) with LibTorch's Adam.
class Trainer {
 public:
  Trainer(std::shared_ptr<Representation> representation, std::shared_ptr<CameraSampler> sampler,
          std::shared_ptr<Guidance> guidance, TrainerOptions options);
  ~Trainer();

  /// Runs one step. A NaN or Inf stops the run with an sds::Error naming the first bad step and
  /// the part (render, guidance, backward, optimizer) when it is checked (see check_every); no
  /// checkpoint is written after it, so the last one on disk is good.
  StepInfo step();

  /// Runs the remaining steps, calling `on_step` after each.
  void train(const std::function<void(const StepInfo&)>& on_step = {});

  /// Number of finished steps.
  int64_t steps_done() const { return steps_done_; }
  const TrainerOptions& options() const { return options_; }
  Representation& representation() { return *representation_; }

  /// Writes parameters, optimiser state and the step counter to `path`, atomically.
  void save_checkpoint(const std::filesystem::path& path) const;
  /// Restores a checkpoint written by `save_checkpoint` on any device onto this run's device;
  /// the run then continues to the same numbers as an uninterrupted one on that device.
  /// Mismatched tensors are an sds::Error.
  void load_checkpoint(const std::filesystem::path& path);
  /// `run_dir / "checkpoint" / "latest.pt"`.
  std::filesystem::path checkpoint_path() const;

 private:
  std::shared_ptr<Representation> representation_;
  std::shared_ptr<CameraSampler> sampler_;
  std::shared_ptr<Guidance> guidance_;
  TrainerOptions options_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  class AdamAccess;  // the OptimizerState given to Representation::after_step
  std::unique_ptr<AdamAccess> adam_access_;
  class NonFiniteWatch;  // the NaN/Inf checks, recorded on the device
  std::unique_ptr<NonFiniteWatch> watch_;
  TrainingGroups groups_;  ///< the optimiser's groups, in its order
  int64_t steps_done_ = 0;
};

}  // namespace sds
