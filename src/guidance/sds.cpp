#include "sds/guidance/sds.h"

#include "sds/core/error.h"

namespace sds {

Sds::Sds(std::shared_ptr<Prior> prior, std::string prompt, SdsOptions options,
         std::unique_ptr<TimestepSchedule> timesteps, std::unique_ptr<Weighting> weighting,
         DistillationOptions common)
    : DistillationGuidance("sds guidance", std::move(prior), std::move(prompt), std::move(common),
                           std::move(timesteps), std::move(weighting)),
      options_(std::move(options)) {
  SDS_CHECK(options_.guidance_scale >= 0, "sds guidance: expected guidance_scale >= 0, got {}",
            options_.guidance_scale);
}

std::unique_ptr<Guidance> Sds::from_config(ConfigReader& c, const BuildContext& context) {
  SdsOptions o;
  o.guidance_scale = c.get("guidance_scale", o.guidance_scale);
  o.cfg = parse_cfg_convention(c.get<std::string>("cfg", "diffusers"));
  o.perp_neg = read_perp_neg(c);
  auto common = read_common(c, "uniform", "sds");
  return std::make_unique<Sds>(context.prior, context.prompt, o, std::move(common.timesteps),
                               std::move(common.weighting), common.options);
}

at::Tensor Sds::raw_gradient(const DistillationStep& s) {
  const CameraBatch& cameras = *s.cameras;
  at::Tensor z_t = prior_->schedule().add_noise(s.z, s.noise, s.t);
  Conditioning cond = conditioning(cameras);
  at::Tensor eps;
  if (options_.perp_neg) {
    at::Tensor eps_u = prior_->predict_noise(z_t, s.t, cond.unconditional());
    PerpNegTerms terms =
        perp_neg_terms(*prior_, prompt_, z_t, s.t, cameras, eps_u, *options_.perp_neg);
    eps = eps_u + options_.guidance_scale * (terms.positive + terms.negatives);
  } else {
    eps = guided_eps(z_t, s.t, cond, cond.unconditional(), options_.guidance_scale, options_.cfg);
  }
  return weight(s.t, s.z) * (eps - s.noise);
}

}  // namespace sds
