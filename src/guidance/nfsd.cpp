#include "sds/guidance/nfsd.h"

#include "sds/core/device.h"
#include "sds/core/error.h"

namespace sds {

Nfsd::Nfsd(std::shared_ptr<Prior> prior, std::string prompt, NfsdOptions options,
           std::shared_ptr<TimestepSchedule> timesteps, std::shared_ptr<Weighting> weighting,
           DistillationOptions common)
    : DistillationGuidance("nfsd guidance", std::move(prior), std::move(prompt), std::move(common),
                           std::move(timesteps), std::move(weighting)),
      options_(std::move(options)) {
  SDS_CHECK(options_.guidance_scale >= 0, "nfsd guidance: expected guidance_scale >= 0, got {}",
            options_.guidance_scale);
  SDS_CHECK(options_.switch_step >= 0 && options_.switch_step <= 1000,
            "nfsd guidance: expected switch_step in [0, 1000], got {}", options_.switch_step);
}

std::unique_ptr<Guidance> Nfsd::from_config(ConfigReader& c, const BuildContext& context) {
  NfsdOptions o;
  o.guidance_scale = c.get("guidance_scale", o.guidance_scale);
  o.negative_prompt = c.get("negative_prompt", o.negative_prompt);
  o.switch_step = c.get("switch_step", o.switch_step);
  auto common = read_common(c, "uniform", "sds");
  return std::make_unique<Nfsd>(context.prior, context.prompt, o, std::move(common.timesteps),
                                std::move(common.weighting), common.options);
}

at::Tensor Nfsd::raw_gradient(const DistillationStep& s) {
  const CameraBatch& cameras = s.cameras;
  at::Tensor z_t = prior_->schedule().add_noise(s.z, s.noise, s.t);
  Conditioning cond = conditioning(cameras);
  at::Tensor eps_c = prior_->predict_noise(z_t, s.t, cond);
  at::Tensor eps_null = prior_->predict_noise(z_t, s.t, cond.unconditional());
  at::Tensor eps_neg = options_.negative_prompt.empty()
                           ? eps_null
                           : prior_->predict_noise(z_t, s.t,
                                                   conditioning(cameras, options_.negative_prompt));
  at::Tensor low =
      to_device(s.t < options_.switch_step, z_t.device()).view({-1, 1, 1, 1}).to(z_t.scalar_type());
  at::Tensor delta_d = eps_null - (1 - low) * eps_neg;
  return weight(s.t, s.z) * (delta_d + options_.guidance_scale * (eps_c - eps_null));
}

}  // namespace sds
