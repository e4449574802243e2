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
  /// MVDream's x0-reconstruction form: g = z - x0_hat(eps_cfg) with no w(t), where x0_hat may be
  /// rescaled towards the std of the unguided x0 over each group of `recon_group_size` views.
  bool recon_loss = false;
  /// phi of MVDream's x0 std rescale (0 = off): x0 <- phi (std_text / std_cfg) x0 + (1 - phi) x0.
  double recon_std_rescale = 0.5;
  int64_t recon_group_size = 4;  ///< the views whose std is taken together (MVDream's 4)
};

/// SDS: g = w(t) (eps_cfg(z_t; y, t) - eps) with z_t = sqrt(a) z + sqrt(1 - a) eps (or MVDream's
/// g = z - x0_hat with `recon_loss`), injected
/// through `target_loss`, so d loss / d z = g / B, and d loss / d rgb = 2 g / B for a pixel
/// prior (z = 2 rgb - 1).
class Sds : public DistillationGuidance {
 public:
  Sds(std::shared_ptr<Prior> prior, std::string prompt, SdsOptions options,
      std::shared_ptr<TimestepSchedule> timesteps, std::shared_ptr<Weighting> weighting,
      DistillationOptions common = {});
  static std::unique_ptr<Guidance> from_config(ConfigReader& config, const BuildContext& context);

  at::Tensor raw_gradient(const DistillationStep& step) override;

  const SdsOptions& options() const { return options_; }

 private:
  /// MVDream's x0_hat from the guided eps, with the per-group std rescale.
  at::Tensor reconstruction(const at::Tensor& z_t, const at::Tensor& t, const at::Tensor& eps,
                            const Conditioning& cond);
  SdsOptions options_;
};

}  // namespace sds
