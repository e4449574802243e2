#include "sds/guidance/perp_neg.h"

#include <cmath>
#include <map>

#include "sds/core/device.h"
#include "sds/core/error.h"

namespace sds {

double perp_neg_curve(const PerpNegCurve& f, double r) { return f[0] * std::exp(-f[1] * r) + f[2]; }

PerpNegOptions PerpNegOptions::from_config(ConfigReader& c) {
  PerpNegOptions o;
  o.f_fs = c.get("f_fs", o.f_fs);
  o.f_sf = c.get("f_sf", o.f_sf);
  o.f_sb = c.get("f_sb", o.f_sb);
  o.f_fsb = c.get("f_fsb", o.f_fsb);
  o.overhead_deg = c.get("overhead_deg", o.overhead_deg);
  return o;
}

std::optional<PerpNegOptions> read_perp_neg(ConfigReader& c,
                                            std::optional<PerpNegOptions> fallback) {
  if (!c.has("perp_neg")) return fallback;
  const Json& j = c.raw("perp_neg");
  if (j.is_object()) {
    ConfigReader reader(j, c.where() + ".perp_neg");
    PerpNegOptions o = PerpNegOptions::from_config(reader);
    reader.finish();
    return o;
  }
  SDS_CHECK(j.is_boolean(), "{}.perp_neg: expected true, false or an object, got {}", c.where(),
            j.dump());
  if (j.get<bool>()) return PerpNegOptions{};
  return std::nullopt;
}

PerpNegPlan perp_neg_plan(double azimuth_deg, double elevation_deg, const PerpNegOptions& o) {
  PerpNegPlan plan;
  if (elevation_deg > o.overhead_deg) {
    plan.positive = {{"overhead", 1.0}};
    return plan;
  }
  double a = std::fmod(azimuth_deg, 360.0);
  if (a > 180.0) a -= 360.0;
  if (a <= -180.0) a += 360.0;
  a = std::abs(a);
  if (a < 90.0) {
    const double r = 1.0 - a / 90.0;
    plan.positive = {{"front", r}, {"side", 1.0 - r}};
    plan.negatives = {{"front", -perp_neg_curve(o.f_fs, r)},
                      {"side", -perp_neg_curve(o.f_sf, 1.0 - r)}};
  } else {
    const double r = 2.0 - a / 90.0;
    plan.positive = {{"side", r}, {"back", 1.0 - r}};
    plan.negatives = {{"side", -perp_neg_curve(o.f_sb, r)},
                      {"front", -perp_neg_curve(o.f_fsb, r)}};
  }
  return plan;
}

at::Tensor perpendicular_component(const at::Tensor& x, const at::Tensor& y) {
  SDS_CHECK(x.sizes() == y.sizes() && x.dim() >= 1,
            "perpendicular_component: expected two tensors of the same shape [B, ...]");
  const auto b = x.size(0);
  at::Tensor xf = x.reshape({b, -1}), yf = y.reshape({b, -1});
  at::Tensor coef = (xf * yf).sum(1, true) / (yf * yf).sum(1, true).clamp_min(1e-6);
  return (xf - coef * yf).view(x.sizes());
}

PerpNegTerms perp_neg_terms(Prior& prior, const std::string& prompt, const at::Tensor& x_t,
                            const at::Tensor& t, const CameraBatch& cameras,
                            const at::Tensor& eps_base, const PerpNegOptions& options) {
  const int64_t batch = x_t.size(0);
  std::vector<PerpNegPlan> plans;
  std::map<std::string, std::vector<int64_t>> users;  // sector -> elements that need it
  for (int64_t b = 0; b < batch; ++b) {
    plans.push_back(perp_neg_plan(cameras[b].azimuth_deg(), cameras[b].elevation_deg(), options));
    for (const auto* terms : {&plans.back().positive, &plans.back().negatives}) {
      for (const auto& term : *terms) {
        auto& list = users[term.sector];
        if (list.empty() || list.back() != b) list.push_back(b);
      }
    }
  }
  // One prior call per sector, on the elements that use it.
  std::map<std::string, std::map<int64_t, at::Tensor>> eps;
  for (const auto& [sector, elements] : users) {
    const at::Tensor index_host = at::tensor(elements, at::kLong);
    const at::Tensor index = to_device(index_host, x_t.device());
    std::vector<Camera> cams;
    for (int64_t b : elements) cams.push_back(cameras[b]);
    Conditioning cond;
    cond.prompts = {prompt + ", " + sector + " view"};
    cond.cameras = CameraBatch(cams);
    at::Tensor out = prior.predict_noise(x_t.index_select(0, index),
                                         t.index_select(0, to_device(index_host, t.device())), cond);
    for (size_t k = 0; k < elements.size(); ++k) eps[sector][elements[k]] = out[k];
  }
  std::vector<at::Tensor> positive, negatives;
  for (int64_t b = 0; b < batch; ++b) {
    at::Tensor pos = at::zeros_like(eps_base[b]);
    for (const auto& term : plans[b].positive) pos = pos + term.weight * eps[term.sector][b];
    pos = pos - eps_base[b];
    at::Tensor neg = at::zeros_like(pos);
    for (const auto& term : plans[b].negatives) {
      at::Tensor e = (eps[term.sector][b] - eps_base[b]).unsqueeze(0);
      neg = neg + term.weight * perpendicular_component(e, pos.unsqueeze(0))[0];
    }
    positive.push_back(pos);
    negatives.push_back(neg);
  }
  return {at::stack(positive), at::stack(negatives)};
}

}  // namespace sds
