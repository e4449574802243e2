#pragma once
// One experiment built from one JSON config: the five parts plus what to measure. This is what
// `sds generate` runs; C++ users can build the same parts by hand (examples/train_by_hand.cpp).
//
// Config keys (unknown keys are errors):
//   prompt          what to generate: an exact-prior concept's prompt, or any text for a real
//                   prior
//   seed            integer seed of everything random (default 0)
//   steps           training steps (default 250)
//   prior           {"type": "exact", ...} or {"type": "stable_diffusion", "path": ...}
//   guidance        {"type": "sds", ...}
//   representation  {"type": "voxel_grid", ...}
//   camera_sampler  {"type": "orbit", ...}
//   trainer         {"checkpoint_every", "background", "adam_beta1", "adam_beta2", "adam_eps",
//                    "device": "cpu" | "cuda" | "cuda:N", "log_every", "check_every"}
//   eval            {"every": steps between progress PSNRs (0 = off), "views": held-out views
//                    used for it, "turntable_frames", "turntable_elevation_deg"}

#include <memory>

#include "sds/camera/sampler.h"
#include "sds/core/json.h"
#include "sds/diffusion/prior.h"
#include "sds/guidance/guidance.h"
#include "sds/repr/representation.h"
#include "sds/train/trainer.h"

namespace sds {

/// What to measure during and after training.
struct EvalOptions {
  int64_t every = 50;  ///< progress PSNR every N steps on `views` held-out views; 0 = off
  int64_t views = 4;
  int64_t turntable_frames = 36;
  double turntable_elevation_deg = 15.0;
};

/// The parts of one run, built from a config.
struct Experiment {
  Json config;  ///< the config as resolved (after overrides)
  std::string prompt;
  std::shared_ptr<Prior> prior;
  std::shared_ptr<Guidance> guidance;
  std::shared_ptr<Representation> representation;
  std::shared_ptr<CameraSampler> sampler;
  TrainerOptions trainer;
  EvalOptions eval;

  /// Builds every part; `run_dir` is where checkpoints go (may be empty).
  static Experiment from_config(const Json& config, const std::filesystem::path& run_dir = {});
};

}  // namespace sds
