#pragma once
// Score distillation sampling (DreamFusion, arXiv 2209.14988).

#include <memory>

#include "sds/core/json.h"
#include "sds/guidance/cfg.h"
#include "sds/guidance/guidance.h"
#include "sds/guidance/timestep.h"
#include "sds/guidance/weighting.h"

namespace sds {

/// Options of SDS. JSON keys are the field names; "timesteps" and "weighting" take a registered
/// name or an object with "type".
struct SdsOptions {
  double guidance_scale = 1.0;  ///< CFG scale in `cfg` convention; diffusers 1 = no guidance
  CfgConvention cfg = CfgConvention::Diffusers;
  double grad_clip = 0.0;  ///< clamp g elementwise to [-c, c]; 0 = off
  bool view_dependent_prompting = false;
};

/// SDS: g = w(t) (eps_cfg(z_t; y, t) - eps) with z_t = sqrt(a) z + sqrt(1 - a) eps, injected
/// through `target_loss`, so d loss / d z = g / B, and d loss / d rgb = 2 g / B for a pixel
/// prior (z = 2 rgb - 1).
class Sds : public Guidance {
 public:
  Sds(std::shared_ptr<Prior> prior, std::string prompt, SdsOptions options,
      std::unique_ptr<TimestepSchedule> timesteps, std::unique_ptr<Weighting> weighting);
  static std::unique_ptr<Guidance> from_config(ConfigReader& config, const BuildContext& context);

  GuidanceOutput compute(const GuidanceInput& input) override;

  /// The gradient g `[B, ...]` in the prior's space for given z, t and noise (no sampling), for
  /// tests and for objectives built on SDS.
  at::Tensor gradient(const at::Tensor& z, const at::Tensor& t, const at::Tensor& noise,
                      const CameraBatch& cameras);

  const SdsOptions& options() const { return options_; }

 private:
  Conditioning conditioning(const CameraBatch& cameras) const;

  std::shared_ptr<Prior> prior_;
  std::string prompt_;
  SdsOptions options_;
  std::unique_ptr<TimestepSchedule> timesteps_;
  std::unique_ptr<Weighting> weighting_;
};

}  // namespace sds
