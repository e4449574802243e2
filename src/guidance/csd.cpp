#include "sds/guidance/csd.h"

#include "sds/core/error.h"

namespace sds {

Json csd_preset(const std::string& name) {
  // Schedules over the first half of the run ended at step 5000 of 10000 in the released configs.
  const Json jump_980_to_500 = Json::array({0.5, 980, 500, 0.5001});
  if (name == "csd-if" || name == "csd-if-object") {
    Json j = {{"text", 1.0},
              {"negative", Json::array({0.0, -1.0, 0.5})},
              {"null", Json::array({-1.0, 0.0, 0.5})},
              {"noise", 0.0},
              {"weighting", "uniform"},
              {"timesteps", {{"type", "annealed"}, {"min_step", 20}, {"max_step", jump_980_to_500}}},
              {"grad_normalize", true},
              {"perp_neg", name == "csd-if"},
              {"perp_neg_scale", name == "csd-if" ? 3.0 : 0.0}};
    return j;
  }
  if (name == "csd-sd-refine") {
    return {{"text", 1.0},
            {"negative", Json::array({-1.0, -0.5})},
            {"null", Json::array({0.0, -0.5})},
            {"noise", 0.0},
            {"weighting", "sds"},
            {"timesteps", {{"type", "uniform"}, {"min_step", 20}, {"max_step", 500}}},
            {"grad_normalize", false},
            {"perp_neg", false},
            {"perp_neg_scale", 0.0}};
  }
  fail("csd guidance: unknown preset \"{}\"; known presets are: csd-if, csd-if-object, "
       "csd-sd-refine", name);
}

Csd::Csd(std::shared_ptr<Prior> prior, std::string prompt, CsdOptions options,
         std::shared_ptr<TimestepSchedule> timesteps, std::shared_ptr<Weighting> weighting,
         DistillationOptions common)
    : DistillationGuidance("csd guidance", std::move(prior), std::move(prompt), std::move(common),
                           std::move(timesteps), std::move(weighting)),
      options_(std::move(options)) {
  SDS_CHECK(options_.perp_neg_scale >= 0, "csd guidance: expected perp_neg_scale >= 0, got {}",
            options_.perp_neg_scale);
  SDS_CHECK(options_.perp_neg_scale == 0 || options_.perp_neg.has_value(),
            "csd guidance: perp_neg_scale {} needs \"perp_neg\" on", options_.perp_neg_scale);
}

std::unique_ptr<Guidance> Csd::from_config(ConfigReader& c, const BuildContext& context) {
  // A preset supplies defaults; keys given next to it override them. The merged object is read
  // (and its unknown keys rejected) by its own reader.
  const std::string preset = c.get<std::string>("preset", "");
  Json merged = preset.empty() ? Json::object() : csd_preset(preset);
  for (const auto& key : c.keys()) {
    if (key != "type" && key != "preset") merged[key] = c.raw(key);
  }
  ConfigReader m(merged, c.where());
  CsdOptions o;
  o.text = read_schedule(m, "text", o.text);
  o.negative = read_schedule(m, "negative", o.negative);
  o.null = read_schedule(m, "null", o.null);
  o.noise = read_schedule(m, "noise", o.noise);
  o.negative_prompt = m.get("negative_prompt", o.negative_prompt);
  o.perp_neg = read_perp_neg(m);
  o.perp_neg_scale = m.get("perp_neg_scale", o.perp_neg_scale);
  auto common = read_common(m, "uniform", "uniform");
  m.finish();
  return std::make_unique<Csd>(context.prior, context.prompt, o, std::move(common.timesteps),
                               std::move(common.weighting), common.options);
}

at::Tensor Csd::raw_gradient(const DistillationStep& s) {
  const CameraBatch& cameras = s.cameras;
  const auto& o = options_;
  const double a = o.text(s.step, s.total_steps), b = o.negative(s.step, s.total_steps),
               c = o.null(s.step, s.total_steps), d = o.noise(s.step, s.total_steps);
  at::Tensor z_t = prior_->schedule().add_noise(s.z, s.noise, s.t);
  Conditioning cond = conditioning(cameras);
  at::Tensor combo = a * prior_->predict_noise(z_t, s.t, cond) + d * s.noise;
  at::Tensor eps_null;
  auto null_eps = [&] {
    if (!eps_null.defined()) eps_null = prior_->predict_noise(z_t, s.t, cond.unconditional());
    return eps_null;
  };
  if (c != 0) combo = combo + c * null_eps();
  const bool need_negative = b != 0 || o.perp_neg_scale > 0;
  at::Tensor eps_neg;
  if (need_negative) {
    eps_neg = o.negative_prompt.empty()
                  ? null_eps()
                  : prior_->predict_noise(z_t, s.t, conditioning(cameras, o.negative_prompt));
  }
  if (b != 0) combo = combo + b * eps_neg;
  at::Tensor w = weight(s.t, s.z);
  at::Tensor g = w * combo;
  if (o.perp_neg_scale > 0) {
    PerpNegTerms terms = perp_neg_terms(*prior_, prompt_, z_t, s.t, cameras, eps_neg, *o.perp_neg);
    g = g + o.perp_neg_scale * w * terms.negatives;
  }
  return g;
}

}  // namespace sds
