#pragma once
// The shared skeleton of score-distillation objectives: encode the renders, draw t and noise,
// compute an objective-specific gradient g in the prior's space, post-process it, and inject it
// with the target trick. Objectives (SDS, CSD, NFSD, ISM, VSD, ...) only write `raw_gradient`.

#include <memory>
#include <string>

#include "sds/core/json.h"
#include "sds/core/scalar_schedule.h"
#include "sds/guidance/cfg.h"
#include "sds/guidance/guidance.h"
#include "sds/guidance/timestep.h"
#include "sds/guidance/weighting.h"

namespace sds {

/// Options every objective shares; JSON keys are the field names.
struct DistillationOptions {
  /// Clamp g elementwise to [-c, c]; 0 = off. A schedule, e.g. D-SDS's [2, 8, 1000].
  ScalarSchedule grad_clip{0.0};
  /// g <- g / (||g|| + 1e-8), the norm over the whole batch (CSD's DeepFloyd configs).
  bool grad_normalize = false;
  /// Append DreamFusion's view suffix (", front view", ...) to the prompt of each camera.
  bool view_dependent_prompting = false;
  /// DreamTime's time-prioritised learning rate: scale the representation's learning rates by
  /// W_d(t) / max W_d, with W_d = sqrt((1 - alpha_bar) / alpha_bar) and the max over the
  /// schedule's first range.
  bool time_prioritized_lr = false;
  /// lambda, the weight of this objective's loss (a schedule).
  ScalarSchedule weight{1.0};
};

/// What an objective's gradient depends on at one step, in the prior's space.
struct DistillationStep {
  at::Tensor z;      ///< `[B, C, h, w]` encoded renders, detached
  at::Tensor t;      ///< `[B]` long timesteps
  at::Tensor noise;  ///< `[B, C, h, w]` the forward-process noise
  CameraBatch cameras;
  int64_t step = 0;
  int64_t total_steps = 1;
  at::Generator generator;  ///< host draws of objectives that draw more (VSD's timesteps)
  at::Generator device_generator;  ///< their draws on the images' device (VSD's noise)
};

/// Base of the objectives whose loss is `target_loss(z, g)`.
class DistillationGuidance : public Guidance {
 public:
  GuidanceOutput compute(const GuidanceInput& input) override;

  /// The objective's gradient for a given step (no sampling), after clipping and normalisation:
  /// for tests, and for objectives built on others.
  at::Tensor gradient(const DistillationStep& step);
  /// The same with only z, t, noise and the cameras (step 0 of 1).
  at::Tensor gradient(const at::Tensor& z, const at::Tensor& t, const at::Tensor& noise,
                      const CameraBatch& cameras);

  /// The objective's g before clipping and normalisation, computed without gradients.
  virtual at::Tensor raw_gradient(const DistillationStep& step) = 0;

  const DistillationOptions& distillation_options() const { return options_; }
  /// Attaches a reference view to every conditioning this objective builds (the 3D prior of
  /// Magic123 conditions on it).
  void set_reference(std::optional<ReferenceView> reference) { reference_ = std::move(reference); }
  Prior& prior() { return *prior_; }
  const std::string& prompt() const { return prompt_; }

 protected:
  DistillationGuidance(std::string name, std::shared_ptr<Prior> prior, std::string prompt,
                       DistillationOptions options, std::shared_ptr<TimestepSchedule> timesteps,
                       std::shared_ptr<Weighting> weighting);

  /// The parts every objective reads from its JSON: the options above, "timesteps" and
  /// "weighting" (registered names or objects), with per-objective defaults.
  struct CommonParts {
    DistillationOptions options;
    std::shared_ptr<TimestepSchedule> timesteps;
    std::shared_ptr<Weighting> weighting;
  };
  static CommonParts read_common(ConfigReader& config, const Json& default_timesteps,
                                 const Json& default_weighting,
                                 const DistillationOptions& defaults = {});

  /// The text conditioning of each camera (view-dependent when the option is on), with the
  /// cameras attached.
  Conditioning conditioning(const CameraBatch& cameras) const;
  /// The same cameras with `prompt` for every element.
  static Conditioning conditioning(const CameraBatch& cameras, const std::string& prompt);
  /// The prior's guided prediction: eps(z_t; cond) combined by `apply_cfg` with eps(z_t; baseline)
  /// (the null or a negative prompt); the baseline pass is skipped where the scale ignores it.
  at::Tensor guided_eps(const at::Tensor& z_t, const at::Tensor& t, const Conditioning& cond,
                        const Conditioning& baseline, double scale, CfgConvention convention);
  /// w(t) shaped to broadcast against `like` `[B, ...]`.
  at::Tensor weight(const at::Tensor& t, const at::Tensor& like) const;
  /// Draws the forward-process noise for z with `generator` (on its device, then moved to z's);
  /// N(0, I) by default.
  virtual at::Tensor draw_noise(const at::Tensor& z, at::Generator& generator) const;
  /// Adds objective-specific losses (VSD's particle loss) to `out`; none by default.
  virtual void add_losses(const DistillationStep& step, GuidanceOutput& out) {}

  const std::string name_;  ///< for messages, e.g. "csd guidance"
  std::shared_ptr<Prior> prior_;
  std::string prompt_;
  DistillationOptions options_;
  std::shared_ptr<TimestepSchedule> timesteps_;
  std::shared_ptr<Weighting> weighting_;
  std::optional<ReferenceView> reference_;
};

}  // namespace sds
