#include <ATen/core/grad_mode.h>

#include "sds/guidance/sds.h"

#include "sds/core/checks.h"
#include "sds/core/error.h"
#include "sds/core/registry.h"

namespace sds {

Sds::Sds(std::shared_ptr<Prior> prior, std::string prompt, SdsOptions options,
         std::unique_ptr<TimestepSchedule> timesteps, std::unique_ptr<Weighting> weighting)
    : prior_(std::move(prior)), prompt_(std::move(prompt)), options_(options),
      timesteps_(std::move(timesteps)), weighting_(std::move(weighting)) {
  SDS_CHECK(prior_ != nullptr, "sds guidance: expected a prior, got none");
  SDS_CHECK(timesteps_ && weighting_, "sds guidance: expected a timestep schedule and a weighting");
  SDS_CHECK(options_.guidance_scale >= 0, "sds guidance: expected guidance_scale >= 0, got {}",
            options_.guidance_scale);
  SDS_CHECK(options_.grad_clip >= 0, "sds guidance: expected grad_clip >= 0 (0 = off), got {}",
            options_.grad_clip);
}

std::unique_ptr<Guidance> Sds::from_config(ConfigReader& c, const BuildContext& context) {
  SdsOptions o;
  o.guidance_scale = c.get("guidance_scale", o.guidance_scale);
  o.cfg = parse_cfg_convention(c.get<std::string>("cfg", "diffusers"));
  o.grad_clip = c.get("grad_clip", o.grad_clip);
  o.view_dependent_prompting = c.get("view_dependent_prompting", o.view_dependent_prompting);
  auto timesteps = make<TimestepSchedule>(c.has("timesteps") ? c.raw("timesteps") : Json("uniform"),
                                          c.where() + ".timesteps");
  auto weighting = make<Weighting>(c.has("weighting") ? c.raw("weighting") : Json("sds"),
                                   c.where() + ".weighting");
  return std::make_unique<Sds>(context.prior, context.prompt, o, std::move(timesteps),
                               std::move(weighting));
}

Conditioning Sds::conditioning(const CameraBatch& cameras) const {
  Conditioning cond;
  cond.cameras = cameras;
  if (options_.view_dependent_prompting) {
    for (const auto& cam : cameras.cameras()) cond.prompts.push_back(view_dependent_prompt(prompt_, cam));
  } else {
    cond.prompts = {prompt_};
  }
  return cond;
}

at::Tensor Sds::gradient(const at::Tensor& z, const at::Tensor& t, const at::Tensor& noise,
                         const CameraBatch& cameras) {
  at::NoGradGuard no_grad;
  const NoiseSchedule& schedule = prior_->schedule();
  at::Tensor z_t = schedule.add_noise(z.detach(), noise, t);
  Conditioning cond = conditioning(cameras);
  at::Tensor eps = prior_->predict_noise(z_t, t, cond);
  if (cfg_needs_unconditional(options_.guidance_scale, options_.cfg)) {
    at::Tensor eps_u = prior_->predict_noise(z_t, t, cond.unconditional());
    eps = apply_cfg(eps, eps_u, options_.guidance_scale, options_.cfg);
  }
  at::Tensor w = (*weighting_)(schedule.broadcast_alpha_bar(t, z));
  at::Tensor g = w * (eps - noise);
  if (options_.grad_clip > 0) g = g.clamp(-options_.grad_clip, options_.grad_clip);
  return g;
}

GuidanceOutput Sds::compute(const GuidanceInput& in) {
  check_shape(in.rgb, "sds guidance rgb", {-1, 3, -1, -1}, "[B, 3, H, W]");
  check_floating(in.rgb, "sds guidance rgb");
  SDS_CHECK(in.cameras.size() == in.rgb.size(0),
            "sds guidance: expected one camera per image ({}), got {}", in.rgb.size(0),
            in.cameras.size());
  SDS_CHECK(in.generator != nullptr, "sds guidance: expected a generator, got none");
  at::Tensor z = prior_->encode(in.rgb);
  const int64_t b = z.size(0);
  at::Tensor t = timesteps_->sample(in.step, in.total_steps, b, *in.generator);
  at::Tensor noise = at::randn(z.sizes(), *in.generator, z.scalar_type()).to(z.device());
  at::Tensor g = gradient(z, t, noise, in.cameras);
  GuidanceOutput out;
  out.loss = target_loss(z, g);
  out.metrics["grad_norm"] = g.norm().item<double>();
  out.metrics["t"] = t.to(at::kDouble).mean().item<double>();
  return out;
}

}  // namespace sds
