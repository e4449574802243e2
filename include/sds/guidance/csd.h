#pragma once
// Classifier score distillation (CSD, arXiv 2310.19415) in its released code's general form.

#include <memory>
#include <optional>

#include "sds/guidance/distillation.h"
#include "sds/guidance/perp_neg.h"

namespace sds {

/// The term weights of CSD, each a schedule. JSON keys: "text", "negative", "null", "noise",
/// "negative_prompt", "perp_neg" (true/false/object), "perp_neg_scale", and "preset".
struct CsdOptions {
  ScalarSchedule text{1.0};       ///< a, on eps(z_t; y)
  ScalarSchedule negative{0.0};   ///< b, on eps(z_t; y_neg)
  ScalarSchedule null{-1.0};      ///< c, on eps(z_t; "")
  ScalarSchedule noise{0.0};      ///< d, on the forward noise eps
  std::string negative_prompt;    ///< y_neg; "" is the null prompt
  std::optional<PerpNegOptions> perp_neg;
  double perp_neg_scale = 0.0;    ///< p; Perp-Neg relative to the negative prompt's prediction
};

/// The released CSD configs, with their step schedules as fractions of the run (10k steps there):
/// "csd-if" (DeepFloyd NeRF stage: b 0 -> -1 and c -1 -> 0 over the first half, uniform w,
/// max t 980 -> 500 at half-time, Perp-Neg scale 3, gradient normalisation), "csd-if-object" (the
/// same without Perp-Neg) and "csd-sd-refine" (b -1 -> -0.5, c 0 -> -0.5 over the run, w = 1 - a,
/// t in [20, 500]). Returns the preset as a guidance JSON object without "type".
Json csd_preset(const std::string& name);

/// CSD: g = w(t) [a eps(z_t; y) + b eps(z_t; y_neg) + c eps(z_t; "") + d eps]
///        (+ w(t) p sum_i w_i perp(eps_i - eps(z_t; y_neg), eps_pos - eps(z_t; y_neg)) with
///        Perp-Neg). SDS in the diffusers convention is (a, b, c, d) = (s, 1 - s, 0, -1) with
/// y_neg = ""; the paper's classifier score is (1, 0, -1, 0).
class Csd : public DistillationGuidance {
 public:
  Csd(std::shared_ptr<Prior> prior, std::string prompt, CsdOptions options,
      std::shared_ptr<TimestepSchedule> timesteps, std::shared_ptr<Weighting> weighting,
      DistillationOptions common = {});
  static std::unique_ptr<Guidance> from_config(ConfigReader& config, const BuildContext& context);

  at::Tensor raw_gradient(const DistillationStep& step) override;
  const CsdOptions& options() const { return options_; }

 private:
  CsdOptions options_;
};

}  // namespace sds
