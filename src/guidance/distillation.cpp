#include <ATen/core/grad_mode.h>

#include "sds/guidance/distillation.h"

#include "sds/core/checks.h"
#include "sds/core/device.h"
#include "sds/core/error.h"
#include "sds/core/registry.h"
#include "sds/core/rng.h"

namespace sds {

DistillationGuidance::DistillationGuidance(std::string name, std::shared_ptr<Prior> prior,
                                           std::string prompt, DistillationOptions options,
                                           std::shared_ptr<TimestepSchedule> timesteps,
                                           std::shared_ptr<Weighting> weighting)
    : name_(std::move(name)), prior_(std::move(prior)), prompt_(std::move(prompt)),
      options_(std::move(options)), timesteps_(std::move(timesteps)),
      weighting_(std::move(weighting)) {
  SDS_CHECK(prior_ != nullptr, "{}: expected a prior, got none", name_);
  SDS_CHECK(timesteps_ && weighting_, "{}: expected a timestep schedule and a weighting", name_);
  SDS_CHECK(options_.grad_clip.min() >= 0, "{}: expected grad_clip >= 0 (0 = off), got {}", name_,
            options_.grad_clip.min());
  SDS_CHECK(options_.weight.min() >= 0, "{}: expected weight >= 0, got {}", name_,
            options_.weight.min());
}

DistillationGuidance::CommonParts DistillationGuidance::read_common(
    ConfigReader& c, const Json& default_timesteps, const Json& default_weighting,
    const DistillationOptions& defaults) {
  CommonParts p;
  p.options = defaults;
  DistillationOptions& o = p.options;
  o.grad_clip = read_schedule(c, "grad_clip", o.grad_clip);
  o.grad_normalize = c.get("grad_normalize", o.grad_normalize);
  o.view_dependent_prompting = c.get("view_dependent_prompting", o.view_dependent_prompting);
  o.time_prioritized_lr = c.get("time_prioritized_lr", o.time_prioritized_lr);
  o.weight = read_schedule(c, "weight", o.weight);
  p.timesteps = make<TimestepSchedule>(c.has("timesteps") ? c.raw("timesteps") : default_timesteps,
                                       c.where() + ".timesteps");
  p.weighting = make<Weighting>(c.has("weighting") ? c.raw("weighting") : default_weighting,
                                c.where() + ".weighting");
  return p;
}

Conditioning DistillationGuidance::conditioning(const CameraBatch& cameras) const {
  Conditioning cond;
  cond.cameras = cameras;
  cond.reference = reference_;
  if (options_.view_dependent_prompting) {
    for (const auto& cam : cameras.cameras()) {
      cond.prompts.push_back(view_dependent_prompt(prompt_, cam));
    }
  } else {
    cond.prompts = {prompt_};
  }
  return cond;
}

Conditioning DistillationGuidance::conditioning(const CameraBatch& cameras,
                                                const std::string& prompt) {
  Conditioning cond;
  cond.cameras = cameras;
  cond.prompts = {prompt};
  return cond;
}

at::Tensor DistillationGuidance::guided_eps(const at::Tensor& z_t, const at::Tensor& t,
                                            const Conditioning& cond,
                                            const Conditioning& baseline, double scale,
                                            CfgConvention convention) {
  at::Tensor eps = prior_->predict_noise(z_t, t, cond);
  if (!cfg_needs_unconditional(scale, convention)) return eps;
  return apply_cfg(eps, prior_->predict_noise(z_t, t, baseline), scale, convention);
}

at::Tensor DistillationGuidance::weight(const at::Tensor& t, const at::Tensor& like) const {
  return (*weighting_)(prior_->schedule().broadcast_alpha_bar(t, like));
}

at::Tensor DistillationGuidance::draw_noise(const at::Tensor& z, at::Generator& g) const {
  return draw_normal(z.sizes(), g, z);
}

at::Tensor DistillationGuidance::gradient(const DistillationStep& s) {
  at::NoGradGuard no_grad;
  at::Tensor g = raw_gradient(s);
  const double clip = options_.grad_clip(s.step, s.total_steps);
  if (clip > 0) g = g.clamp(-clip, clip);
  if (options_.grad_normalize) g = g / (g.norm() + 1e-8);
  return g;
}

at::Tensor DistillationGuidance::gradient(const at::Tensor& z, const at::Tensor& t,
                                          const at::Tensor& noise, const CameraBatch& cameras) {
  DistillationStep s;
  s.z = z.detach();
  s.t = t;
  s.noise = noise;
  s.cameras = cameras;
  return gradient(s);
}

GuidanceOutput DistillationGuidance::compute(const GuidanceInput& in) {
  check_shape(in.rgb, name_ + " rgb", {-1, 3, -1, -1}, "[B, 3, H, W]");
  check_floating(in.rgb, name_ + " rgb");
  SDS_CHECK(in.cameras.size() == in.rgb.size(0), "{}: expected one camera per image ({}), got {}",
            name_, in.rgb.size(0), in.cameras.size());
  SDS_CHECK(in.generator.defined(), "{}: expected a generator, got none", name_);
  at::Tensor z = prior_->encode(in.rgb);
  at::Generator generator = in.generator;  // a handle: draws advance the caller's generator
  DistillationStep s;
  s.z = z.detach();
  s.t = timesteps_->sample(in.step, in.total_steps, z.size(0), generator);
  s.device_generator = in.device_generator.defined() ? in.device_generator : generator;
  s.noise = draw_noise(s.z, s.device_generator);
  s.cameras = in.cameras;
  s.step = in.step;
  s.total_steps = in.total_steps;
  s.generator = generator;
  at::Tensor g = gradient(s);
  if (value_checks_enabled(g)) {
    SDS_CHECK(at::isfinite(g).all().item<bool>(),
              "{}: the gradient has NaN or Inf at step {} (t = {})", name_, in.step + 1,
              s.t.to(at::kDouble).mean().item<double>());
  }

  GuidanceOutput out;
  const double lambda = options_.weight(in.step, in.total_steps);
  out.loss = lambda * target_loss(z, g);
  out.metrics["grad_norm"] = g.norm().detach();
  out.metrics["t"] = s.t.to(at::kDouble).mean();
  if (options_.time_prioritized_lr) {
    // The timesteps are drawn on the host, so reading them costs no sync.
    const auto& schedule = prior_->schedule();
    const NoiseToSignalWeighting w_d;
    const int64_t t_max = timesteps_->range(0, in.total_steps)[1];
    const at::Tensor t_host = s.t.cpu();
    out.lr_scale = w_d(schedule.alpha_bar(t_host)).mean().item<double>() /
                   w_d(schedule.alpha_bar(at::full({1}, t_max, at::kLong)))[0].item<double>();
    out.metrics["lr_scale"] = at::scalar_tensor(out.lr_scale, at::kDouble);
  }
  add_losses(s, out);
  return out;
}

}  // namespace sds
