#include "sds/guidance/vsd.h"

#include <fmt/format.h>

#include "sds/core/error.h"
#include "sds/core/rng.h"

namespace sds {

Vsd::Vsd(std::shared_ptr<Prior> prior, std::string prompt, VsdOptions options,
         std::shared_ptr<TimestepSchedule> timesteps, std::shared_ptr<Weighting> weighting,
         DistillationOptions common, std::shared_ptr<Prior> particle_base)
    : DistillationGuidance("vsd guidance", prior, std::move(prompt), std::move(common),
                           std::move(timesteps), std::move(weighting)),
      options_(std::move(options)) {
  const auto& o = options_;
  SDS_CHECK(o.guidance_scale >= 0 && o.particle_guidance_scale >= 0,
            "vsd guidance: expected guidance scales >= 0, got {} and {}", o.guidance_scale,
            o.particle_guidance_scale);
  SDS_CHECK(o.particle_lr > 0, "vsd guidance: expected particle_lr > 0, got {}", o.particle_lr);
  SDS_CHECK(o.particle_loss_weight >= 0,
            "vsd guidance: expected particle_loss_weight >= 0, got {}", o.particle_loss_weight);
  SDS_CHECK(o.camera_dropout >= 0 && o.camera_dropout <= 1,
            "vsd guidance: expected camera_dropout in [0, 1], got {}", o.camera_dropout);
  SDS_CHECK(o.particle_samples >= 1, "vsd guidance: expected particle_samples >= 1, got {}",
            o.particle_samples);
  std::shared_ptr<Prior> base = particle_base ? std::move(particle_base) : prior_;
  particle_ = base->make_particle_model(o.particle);
  if (!particle_) particle_ = std::make_shared<ParticlePrior>(std::move(base), o.particle);
}

VsdOptions Vsd::read_options(ConfigReader& c, VsdOptions o) {
  o.guidance_scale = c.get("guidance_scale", o.guidance_scale);
  o.cfg = parse_cfg_convention(c.get<std::string>("cfg", "diffusers"));
  o.particle_guidance_scale = c.get("particle_guidance_scale", o.particle_guidance_scale);
  o.particle_lr = c.get("particle_lr", o.particle_lr);
  o.particle_loss_weight = c.get("particle_loss_weight", o.particle_loss_weight);
  o.camera_dropout = c.get("camera_dropout", o.camera_dropout);
  o.particle_samples = c.get("particle_samples", o.particle_samples);
  if (c.has("particle")) {
    ConfigReader p(c.raw("particle"), c.where() + ".particle");
    o.particle.hidden = p.get("hidden", o.particle.hidden);
    o.particle.embedding = p.get("embedding", o.particle.embedding);
    o.particle.seed = p.get("seed", o.particle.seed);
    o.particle.lora_rank = p.get("lora_rank", o.particle.lora_rank);
    o.particle.lora_alpha = p.get("lora_alpha", o.particle.lora_alpha);
    o.particle.camera_condition = p.get("camera_condition", o.particle.camera_condition);
    p.finish();
  }
  return o;
}

std::unique_ptr<Guidance> Vsd::from_config(ConfigReader& c, const BuildContext& context) {
  VsdOptions o = read_options(c);
  o.particle.device = context.device;
  // ProlificDreamer: t in [20, 980], max dropping to 500 halfway (5000 of its 10k-step stage).
  const Json timesteps = {{"type", "annealed"},
                          {"min_step", 20},
                          {"max_step", Json::array({0.5, 980, 500, 0.5001})}};
  auto common = read_common(c, timesteps, "sds");
  return std::make_unique<Vsd>(context.prior, context.prompt, o, std::move(common.timesteps),
                               std::move(common.weighting), common.options);
}

at::Tensor Vsd::raw_gradient(const DistillationStep& s) {
  const CameraBatch& cameras = s.cameras;
  at::Tensor z_t = prior_->schedule().add_noise(s.z, s.noise, s.t);
  Conditioning cond = conditioning(cameras);
  at::Tensor eps_pre =
      guided_eps(z_t, s.t, cond, cond.unconditional(), options_.guidance_scale, options_.cfg);
  Conditioning particle_cond = conditioning(cameras, prompt_);
  at::Tensor eps_phi = particle_->predict_noise(z_t, s.t, particle_cond);
  if (options_.particle_guidance_scale != 1.0) {
    Conditioning null_camera = particle_cond;
    null_camera.drop_camera = at::ones({z_t.size(0)}, at::TensorOptions(at::kBool).device(z_t.device()));
    at::Tensor eps_null = particle_->predict_noise(z_t, s.t, null_camera);
    eps_phi = eps_null + options_.particle_guidance_scale * (eps_phi - eps_null);
  }
  return weight(s.t, s.z) * (eps_pre - eps_phi);
}

at::Tensor Vsd::particle_loss(const at::Tensor& z, const at::Tensor& t, const at::Tensor& noise,
                              const CameraBatch& cameras, const at::Tensor& drop_camera) {
  at::Tensor z_t = prior_->schedule().add_noise(z.detach(), noise, t);
  Conditioning cond = conditioning(cameras, prompt_);
  cond.drop_camera = drop_camera;
  return (particle_->predict_noise(z_t, t, cond) - noise).pow(2).mean();
}

void Vsd::add_losses(const DistillationStep& s, GuidanceOutput& out) {
  if (options_.particle_loss_weight == 0) return;
  SDS_CHECK(s.generator.defined(), "vsd guidance: expected a generator, got none");
  at::Generator gen = s.generator;
  const int64_t n = options_.particle_samples;
  const int64_t b = s.z.size(0);
  std::vector<Camera> cams;
  for (int64_t k = 0; k < n; ++k) {
    for (const auto& c : s.cameras.cameras()) cams.push_back(c);
  }
  at::Tensor z = s.z.repeat({n, 1, 1, 1});
  at::Tensor t = at::randint(0, prior_->schedule().num_steps(), {n * b}, gen, at::kLong);
  at::Generator device_gen = s.device_generator.defined() ? s.device_generator : gen;
  at::Tensor noise = draw_normal(z.sizes(), device_gen, z);
  at::Tensor drop = at::rand({n * b}, gen, at::kDouble) < options_.camera_dropout;
  at::Tensor loss = particle_loss(z, t, noise, CameraBatch(cams), drop);
  out.loss = out.loss + options_.particle_loss_weight * loss;
  out.metrics["particle_loss"] = loss.detach();
}

std::vector<ParameterGroup> Vsd::parameter_groups() {
  return {ParameterGroup{"particle", particle_->trainable_parameters(), options_.particle_lr}};
}

std::vector<std::pair<std::string, at::Tensor>> Vsd::named_tensors() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  auto params = particle_->trainable_parameters();
  for (size_t i = 0; i < params.size(); ++i) out.emplace_back(fmt::format("particle.{}", i), params[i]);
  return out;
}

}  // namespace sds
