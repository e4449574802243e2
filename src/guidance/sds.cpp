#include "sds/guidance/sds.h"

#include "sds/core/error.h"

namespace sds {

Sds::Sds(std::shared_ptr<Prior> prior, std::string prompt, SdsOptions options,
         std::shared_ptr<TimestepSchedule> timesteps, std::shared_ptr<Weighting> weighting,
         DistillationOptions common)
    : DistillationGuidance("sds guidance", std::move(prior), std::move(prompt), std::move(common),
                           std::move(timesteps), std::move(weighting)),
      options_(std::move(options)) {
  SDS_CHECK(options_.guidance_scale >= 0, "sds guidance: expected guidance_scale >= 0, got {}",
            options_.guidance_scale);
  SDS_CHECK(options_.recon_std_rescale >= 0 && options_.recon_std_rescale <= 1,
            "sds guidance: expected 0 <= recon_std_rescale <= 1, got {}",
            options_.recon_std_rescale);
  SDS_CHECK(options_.recon_group_size >= 1, "sds guidance: expected recon_group_size >= 1, got {}",
            options_.recon_group_size);
  SDS_CHECK(!(options_.recon_loss && options_.perp_neg),
            "sds guidance: recon_loss and perp_neg cannot be combined");
}

std::unique_ptr<Guidance> Sds::from_config(ConfigReader& c, const BuildContext& context) {
  SdsOptions o;
  o.guidance_scale = c.get("guidance_scale", o.guidance_scale);
  o.cfg = parse_cfg_convention(c.get<std::string>("cfg", "diffusers"));
  o.perp_neg = read_perp_neg(c);
  o.recon_loss = c.get("recon_loss", o.recon_loss);
  o.recon_std_rescale = c.get("recon_std_rescale", o.recon_std_rescale);
  o.recon_group_size = c.get("recon_group_size", o.recon_group_size);
  auto common = read_common(c, "uniform", "sds");
  return std::make_unique<Sds>(context.prior, context.prompt, o, std::move(common.timesteps),
                               std::move(common.weighting), common.options);
}

at::Tensor Sds::raw_gradient(const DistillationStep& s) {
  const CameraBatch& cameras = s.cameras;
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
  if (options_.recon_loss) return s.z - reconstruction(z_t, s.t, eps, cond);
  return weight(s.t, s.z) * (eps - s.noise);
}

at::Tensor Sds::reconstruction(const at::Tensor& z_t, const at::Tensor& t, const at::Tensor& eps,
                               const Conditioning& cond) {
  const NoiseSchedule& schedule = prior_->schedule();
  at::Tensor x0 = schedule.x0_from_eps(z_t, eps, t);
  const double phi = options_.recon_std_rescale;
  if (phi == 0) return x0;
  const int64_t n = options_.recon_group_size;
  SDS_CHECK(z_t.size(0) % n == 0,
            "sds guidance: recon_std_rescale takes the std over groups of {} views; got a batch "
            "of {}",
            n, z_t.size(0));
  at::Tensor x0_text = schedule.x0_from_eps(z_t, prior_->predict_noise(z_t, t, cond), t);
  auto group_std = [&](const at::Tensor& x) {
    return x.reshape({z_t.size(0) / n, -1}).std(1).view({-1, 1});
  };
  at::Tensor factor = (group_std(x0_text) + 1e-8) / (group_std(x0) + 1e-8);
  at::Tensor grouped = x0.reshape({z_t.size(0) / n, -1});
  return (phi * factor * grouped + (1 - phi) * grouped).view(x0.sizes());
}

}  // namespace sds
