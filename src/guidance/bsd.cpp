#include "sds/guidance/bsd.h"

#include <ATen/core/grad_mode.h>

#include <cmath>

#include <fmt/format.h>

#include "sds/core/error.h"
#include "sds/core/rng.h"

namespace sds {

namespace {

std::shared_ptr<PersonalisablePrior> personal_copy(const std::shared_ptr<Prior>& base,
                                                   const PersonalisationOptions& options) {
  SDS_CHECK(base != nullptr, "bsd guidance: expected a prior, got none");
  std::shared_ptr<PersonalisablePrior> personal = base->make_personalised(options);
  SDS_CHECK(personal != nullptr,
            "bsd guidance: the prior offers no personalised copy (Prior::make_personalised); BSD "
            "fits one to augmented renders (the exact and stable_diffusion priors offer one)");
  return personal;
}

}  // namespace

Bsd::Bsd(std::shared_ptr<Prior> prior, std::string prompt, BsdOptions options, VsdOptions vsd,
         std::shared_ptr<TimestepSchedule> timesteps, std::shared_ptr<Weighting> weighting,
         DistillationOptions common)
    : Vsd(personal_copy(prior, options.personal), std::move(prompt), std::move(vsd),
          std::move(timesteps), std::move(weighting), std::move(common), prior),
      base_(std::move(prior)), bsd_(std::move(options)) {
  personal_ = std::static_pointer_cast<PersonalisablePrior>(prior_);
  const auto& o = bsd_;
  SDS_CHECK(o.cycle_steps >= 1 && o.pretrain_steps >= 0 && o.pretrain_steps < o.cycle_steps,
            "bsd guidance: expected cycle_steps >= 1 and 0 <= pretrain_steps < cycle_steps, got "
            "{} and {}",
            o.cycle_steps, o.pretrain_steps);
  SDS_CHECK(o.augment_every >= 1 && o.cache_size >= 1 && o.augment_steps >= 1,
            "bsd guidance: expected augment_every, cache_size and augment_steps >= 1, got {}, {} "
            "and {}",
            o.augment_every, o.cache_size, o.augment_steps);
  SDS_CHECK(o.augment_t.min() >= 1 && o.augment_t.max() < 1000,
            "bsd guidance: expected augment_t in [1, 1000), got [{}, {}]", o.augment_t.min(),
            o.augment_t.max());
  SDS_CHECK(o.augment_guidance_scale >= 0,
            "bsd guidance: expected augment_guidance_scale >= 0, got {}", o.augment_guidance_scale);
  SDS_CHECK(std::isfinite(o.personal_loss_weight) && o.personal_loss_weight >= 0 &&
                std::isfinite(o.personal_lr) && o.personal_lr > 0,
            "bsd guidance: expected personal_loss_weight >= 0 and personal_lr > 0, got {} and {}",
            o.personal_loss_weight, o.personal_lr);
  SDS_CHECK(o.personal_prompt_dropout >= 0 && o.personal_prompt_dropout <= 1,
            "bsd guidance: expected personal_prompt_dropout in [0, 1], got {}",
            o.personal_prompt_dropout);
}

std::unique_ptr<Guidance> Bsd::from_config(ConfigReader& c, const BuildContext& context) {
  BsdOptions o;
  o.cycle_steps = c.get("cycle_steps", o.cycle_steps);
  o.pretrain_steps = c.get("pretrain_steps", o.pretrain_steps);
  o.augment_every = c.get("augment_every", o.augment_every);
  o.cache_size = c.get("cache_size", o.cache_size);
  o.augment_t = read_schedule(c, "augment_t", o.augment_t);
  o.augment_steps = c.get("augment_steps", o.augment_steps);
  o.augment_guidance_scale = c.get("augment_guidance_scale", o.augment_guidance_scale);
  o.personal_loss_weight = c.get("personal_loss_weight", o.personal_loss_weight);
  o.personal_lr = c.get("personal_lr", o.personal_lr);
  o.personal_prompt_dropout = c.get("personal_prompt_dropout", o.personal_prompt_dropout);
  if (c.has("personal")) {
    ConfigReader p(c.raw("personal"), c.where() + ".personal");
    o.personal.lora_rank = p.get("lora_rank", o.personal.lora_rank);
    o.personal.lora_alpha = p.get("lora_alpha", o.personal.lora_alpha);
    o.personal.seed = p.get("seed", o.personal.seed);
    p.finish();
  }
  VsdOptions vsd;
  vsd.guidance_scale = 2.0;
  vsd = read_options(c, vsd);
  vsd.particle.device = context.device;
  // DreamCraft3D: min_step_percent 0.05, max_step_percent [0, 0.5, 0.2, 5000].
  const Json timesteps = {{"type", "annealed"}, {"min_step", 50}, {"max_step", Json::array({500, 200})}};
  auto common = read_common(c, timesteps, "sds");
  return std::make_unique<Bsd>(context.prior, context.prompt, o, vsd, std::move(common.timesteps),
                               std::move(common.weighting), common.options);
}

at::Tensor Bsd::augment(const at::Tensor& z, const CameraBatch& cameras, int64_t from,
                        at::Generator& generator) {
  at::NoGradGuard no_grad;
  const NoiseSchedule& schedule = base_->schedule();
  const int64_t b = z.size(0);
  at::Tensor x = schedule.add_noise(z, draw_normal(z.sizes(), generator, z),
                                    at::full({b}, from, at::kLong));
  Conditioning cond = conditioning(cameras, prompt_);
  const int64_t n = bsd_.augment_steps;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = std::llround(static_cast<double>(from) * static_cast<double>(n - i) /
                                   static_cast<double>(n));
    const int64_t next = std::llround(static_cast<double>(from) * static_cast<double>(n - i - 1) /
                                      static_cast<double>(n));
    at::Tensor steps = at::full({b}, t, at::kLong);
    at::Tensor eps = apply_cfg(base_->predict_noise(x, steps, cond),
                               base_->predict_noise(x, steps, cond.unconditional()),
                               bsd_.augment_guidance_scale, CfgConvention::Diffusers);
    at::Tensor x0 = schedule.x0_from_eps(x, eps, steps);
    if (i == n - 1) {
      x = x0;  // the last step lands on the data, not on t = 0's slightly noisy level
    } else {
      const double a = schedule.alpha_bar(next);
      x = std::sqrt(a) * x0 + std::sqrt(1 - a) * eps;
    }
  }
  return base_->decode(x).clamp(0, 1);
}

void Bsd::personalise(const at::Tensor& rgb, const CameraBatch& cameras) {
  for (int64_t i = 0; i < rgb.size(0); ++i) cache_.emplace_back(rgb[i].detach(), cameras[i]);
  while (static_cast<int64_t>(cache_.size()) > bsd_.cache_size) cache_.pop_front();
  std::vector<at::Tensor> images;
  std::vector<Camera> cams;
  for (const auto& [image, cam] : cache_) {
    images.push_back(image);
    cams.push_back(cam);
  }
  personal_->set_images(at::stack(images), CameraBatch(cams), prompt_);
}

at::Tensor Bsd::personal_loss(int64_t batch, at::Generator& generator,
                              at::Generator& device_generator) {
  if (personal_->trainable_parameters().empty() || bsd_.personal_loss_weight == 0) return {};
  SDS_CHECK(generator.defined(), "bsd guidance: expected a generator, got none");
  SDS_CHECK(!cache_.empty(), "bsd guidance: the personal loss needs cached images, got none");
  // DreamCraft3D: a random cached image per sample, re-encoded; its view-dependent prompt,
  // dropped with probability p so that the personalised prior keeps its unconditional branch.
  const at::Tensor pick = at::randint(0, static_cast<int64_t>(cache_.size()), {batch}, generator,
                                      at::kLong);
  const at::Tensor drop = at::rand({batch}, generator, at::kDouble) < bsd_.personal_prompt_dropout;
  const auto* picked = pick.data_ptr<int64_t>();
  const auto* dropped = drop.data_ptr<bool>();
  std::vector<at::Tensor> images;
  std::vector<Camera> cams;
  for (int64_t i = 0; i < batch; ++i) {
    images.push_back(cache_[picked[i]].first);
    cams.push_back(cache_[picked[i]].second);
  }
  const CameraBatch cameras(cams);
  Conditioning cond = conditioning(cameras);
  if (cond.prompts.size() == 1) cond.prompts.resize(batch, cond.prompts.front());
  for (int64_t i = 0; i < batch; ++i) {
    if (dropped[i]) cond.prompts[i].clear();
  }
  at::Tensor z;
  {
    at::NoGradGuard no_grad;
    z = personal_->encode(at::stack(images));
  }
  const at::Tensor t =
      at::randint(0, personal_->schedule().num_steps(), {batch}, generator, at::kLong);
  const at::Tensor noise = draw_normal(z.sizes(), device_generator, z);
  const at::Tensor z_t = personal_->schedule().add_noise(z, noise, t);
  return (personal_->predict_noise(z_t, t, cond) - noise).pow(2).mean();
}

at::Tensor Bsd::cached_images() const {
  if (cache_.empty()) return {};
  std::vector<at::Tensor> images;
  for (const auto& entry : cache_) images.push_back(entry.first);
  return at::stack(images);
}

std::vector<ParameterGroup> Bsd::parameter_groups() {
  std::vector<ParameterGroup> out = Vsd::parameter_groups();
  std::vector<at::Tensor> personal = personal_->trainable_parameters();
  if (!personal.empty()) out.push_back({"personal", std::move(personal), bsd_.personal_lr});
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> Bsd::named_tensors() {
  auto out = Vsd::named_tensors();
  const auto personal = personal_->trainable_parameters();
  for (size_t i = 0; i < personal.size(); ++i) {
    out.emplace_back(fmt::format("personal.{}", i), personal[i]);
  }
  return out;
}

GuidanceOutput Bsd::compute(const GuidanceInput& input) {
  const int64_t phase = input.step % bsd_.cycle_steps;
  const bool pretrain = phase < bsd_.pretrain_steps;
  at::Generator device_generator =
      input.device_generator.defined() ? input.device_generator : input.generator;
  if (cache_.empty() || (pretrain && phase % bsd_.augment_every == 0)) {
    SDS_CHECK(input.generator.defined(), "bsd guidance: expected a generator, got none");
    const auto from = static_cast<int64_t>(
        std::llround(bsd_.augment_t(input.step, input.total_steps)));
    at::Tensor z = prior_->encode(input.rgb.detach());
    personalise(augment(z, input.cameras, from, device_generator), input.cameras);
  }
  const at::Tensor cached_count =
      at::scalar_tensor(static_cast<double>(cache_.size()), at::kDouble);
  if (pretrain) {
    GuidanceOutput out;
    out.loss = input.rgb.sum() * 0.0;  // the 3D model waits while the prior is re-fitted
    at::Generator generator = input.generator;
    const at::Tensor fit = personal_loss(input.rgb.size(0), generator, device_generator);
    if (fit.defined()) {
      out.loss = out.loss + bsd_.personal_loss_weight * fit;
      out.metrics["personal_loss"] = fit.detach();
    }
    out.metrics["cached_images"] = cached_count;
    return out;
  }
  GuidanceOutput out = Vsd::compute(input);
  out.metrics["cached_images"] = cached_count;
  return out;
}

}  // namespace sds
