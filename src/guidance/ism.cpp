#include "sds/guidance/ism.h"

#include <algorithm>
#include <cmath>

#include "sds/core/error.h"
#include "sds/core/rng.h"

namespace sds {

Ism::Ism(std::shared_ptr<Prior> prior, std::string prompt, IsmOptions options,
         std::shared_ptr<TimestepSchedule> timesteps, std::shared_ptr<Weighting> weighting,
         DistillationOptions common)
    : DistillationGuidance("ism guidance", std::move(prior), std::move(prompt), std::move(common),
                           std::move(timesteps), std::move(weighting)),
      options_(std::move(options)) {
  SDS_CHECK(options_.guidance_scale >= 0, "ism guidance: expected guidance_scale >= 0, got {}",
            options_.guidance_scale);
  SDS_CHECK(options_.interval.min() >= 1 && options_.interval.max() < 1000,
            "ism guidance: expected interval in [1, 1000), got {} .. {}", options_.interval.min(),
            options_.interval.max());
  SDS_CHECK(options_.inversion_stride >= 1 && options_.inversion_stride < 1000,
            "ism guidance: expected inversion_stride in [1, 1000), got {}",
            options_.inversion_stride);
  SDS_CHECK(options_.offset_noise >= 0, "ism guidance: expected offset_noise >= 0, got {}",
            options_.offset_noise);
}

std::unique_ptr<Guidance> Ism::from_config(ConfigReader& c, const BuildContext& context) {
  IsmOptions o;
  o.guidance_scale = c.get("guidance_scale", o.guidance_scale);
  o.negative_prompt = c.get("negative_prompt", o.negative_prompt);
  o.interval = read_schedule(c, "interval", o.interval);
  o.inversion_stride = c.get("inversion_stride", o.inversion_stride);
  o.offset_noise = c.get("offset_noise", o.offset_noise);
  const Json timesteps = {{"type", "warmup"}, {"warmup_steps", 0.3}};
  auto common = read_common(c, timesteps, "noise_to_signal");
  return std::make_unique<Ism>(context.prior, context.prompt, o, std::move(common.timesteps),
                               std::move(common.weighting), common.options);
}

at::Tensor Ism::draw_noise(const at::Tensor& z, at::Generator& g) const {
  at::Tensor noise = draw_normal(z.sizes(), g, z);
  if (options_.offset_noise > 0) {
    std::vector<int64_t> shape(z.dim(), 1);
    shape[1] = z.size(1);
    noise = noise + options_.offset_noise * draw_normal(shape, g, z);
  }
  return noise;
}

at::Tensor Ism::ddim_step(const NoiseSchedule& schedule, const at::Tensor& x,
                          const at::Tensor& eps, int64_t from, int64_t to) {
  // Scalar coefficients in double precision (the schedule's tensor helpers would round alpha_bar
  // to the image dtype first).
  const double a_from = schedule.alpha_bar(from), a_to = schedule.alpha_bar(to);
  at::Tensor x0 = (x - std::sqrt(1 - a_from) * eps) / std::sqrt(a_from);
  return std::sqrt(a_to) * x0 + std::sqrt(1 - a_to) * eps;
}

at::Tensor Ism::raw_gradient(const DistillationStep& s) {
  const CameraBatch& cameras = s.cameras;
  const NoiseSchedule& schedule = prior_->schedule();
  const auto interval =
      static_cast<int64_t>(std::lround(options_.interval(s.step, s.total_steps)));
  Conditioning cond = conditioning(cameras);
  std::vector<at::Tensor> x_t_all, eps_s_all;
  for (int64_t b = 0; b < s.z.size(0); ++b) {
    const int64_t t = s.t[b].item<int64_t>();
    const int64_t target = std::max<int64_t>(t - interval, 0);
    Conditioning null_b;
    null_b.prompts = {""};
    null_b.cameras = CameraBatch({cameras[b]});
    auto eps_null = [&](const at::Tensor& x, int64_t step) {
      return prior_->predict_noise(x, at::full({1}, step, at::kLong), null_b);
    };
    // The render, barely noised to timestep 0, inverted up to s, then one more step to t.
    at::Tensor x = schedule.add_noise(s.z.slice(0, b, b + 1), s.noise.slice(0, b, b + 1),
                                      at::zeros({1}, at::kLong));
    int64_t cur = 0;
    while (cur < target) {
      const int64_t next = std::min(cur + options_.inversion_stride, target);
      x = ddim_step(schedule, x, eps_null(x, cur), cur, next);
      cur = next;
    }
    at::Tensor eps_s = eps_null(x, target);
    x_t_all.push_back(ddim_step(schedule, x, eps_s, target, t));
    eps_s_all.push_back(eps_s);
  }
  at::Tensor x_t = at::cat(x_t_all), eps_s = at::cat(eps_s_all);
  const Conditioning negative = options_.negative_prompt.empty()
                                   ? cond.unconditional()
                                   : conditioning(cameras, options_.negative_prompt);
  at::Tensor eps = guided_eps(x_t, s.t, cond, negative, options_.guidance_scale,
                              CfgConvention::Diffusers);
  return weight(s.t, s.z) * (eps - eps_s);
}

}  // namespace sds
