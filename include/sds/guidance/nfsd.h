#pragma once
// Noise-free score distillation (NFSD, Katzir et al., ICLR 2024).

#include <memory>

#include "sds/guidance/distillation.h"

namespace sds {

/// Options of NFSD; JSON keys are the field names.
struct NfsdOptions {
  double guidance_scale = 7.5;  ///< s, on the classifier direction
  std::string negative_prompt;  ///< y_neg; the paper's "unrealistic, blurry, ..." prompt
  int64_t switch_step = 200;    ///< below it the domain term is eps(""), above eps("") - eps(y_neg)
};

/// NFSD: g = w(t) [delta_D + s delta_C] with delta_C = eps(z_t; y) - eps(z_t; ""), and
/// delta_D = eps(z_t; "") for t < switch_step, eps(z_t; "") - eps(z_t; y_neg) otherwise. No
/// forward-noise term: that is the point of the method.
class Nfsd : public DistillationGuidance {
 public:
  Nfsd(std::shared_ptr<Prior> prior, std::string prompt, NfsdOptions options,
       std::shared_ptr<TimestepSchedule> timesteps, std::shared_ptr<Weighting> weighting,
       DistillationOptions common = {});
  static std::unique_ptr<Guidance> from_config(ConfigReader& config, const BuildContext& context);

  at::Tensor raw_gradient(const DistillationStep& step) override;

 private:
  NfsdOptions options_;
};

}  // namespace sds
