#pragma once
// Score distillation sampling (DreamFusion, arXiv 2209.14988), with Perp-Neg negatives.

#include <memory>
#include <optional>

#include "sds/guidance/distillation.h"
#include "sds/guidance/perp_neg.h"

namespace sds {

/// Options of SDS beyond the shared ones. JSON keys are the field names; "perp_neg" is true,
/// false or an object of PerpNegOptions.
struct SdsOptions {
  double guidance_scale = 1.0;  ///< CFG scale in `cfg` convention; diffusers 1 = no guidance
  CfgConvention cfg = CfgConvention::Diffusers;
  /// Perp-Neg on the view prompts; it always combines in the diffusers convention,
  /// eps = eps_u + s (e_pos + sum_i w_i perp(e_i, e_pos)), as in threestudio.
  std::optional<PerpNegOptions> perp_neg;
};

/// SDS: g = w(t) (eps_cfg(z_t; y, t) - eps) with z_t = sqrt(a) z + sqrt(1 - a) eps, injected
/// through `target_loss`, so d loss / d z = g / B, and d loss / d rgb = 2 g / B for a pixel
/// prior (z = 2 rgb - 1).
class Sds : public DistillationGuidance {
 public:
  Sds(std::shared_ptr<Prior> prior, std::string prompt, SdsOptions options,
      std::unique_ptr<TimestepSchedule> timesteps, std::unique_ptr<Weighting> weighting,
      DistillationOptions common = {});
  static std::unique_ptr<Guidance> from_config(ConfigReader& config, const BuildContext& context);

  at::Tensor raw_gradient(const DistillationStep& step) override;

  const SdsOptions& options() const { return options_; }

 private:
  SdsOptions options_;
};

}  // namespace sds
