// Each objective's gradient against its formula, evaluated independently through the exact
// prior's score: eps_hat(x_t) = -sqrt(1 - a) d log p_t(x_t) / d x_t (autograd of log_density).
#include "testing.h"

#include "objective_fixture.h"

#include <torch/csrc/autograd/autograd.h>

#include "sds/core/error.h"
#include "sds/core/registry.h"
#include "sds/core/rng.h"
#include "sds/diffusion/exact_prior.h"
#include "sds/guidance/csd.h"
#include "sds/guidance/ism.h"
#include "sds/guidance/nfsd.h"
#include "sds/guidance/perp_neg.h"
#include "sds/guidance/sds.h"

using Catch::Matchers::Contains;

namespace {

constexpr int64_t kSize = sds::test::kObjectiveImageSize;
const char* const kPrompt = "a red mug";

std::shared_ptr<sds::ExactPrior> exact_prior() { return sds::test::builtin_exact_prior(); }

using sds::test::Testbed;
Testbed testbed(int which) { return sds::test::objective_testbed(which); }

sds::CameraBatch cameras(std::vector<double> azimuths) {
  return sds::test::orbit_cameras(azimuths);
}

sds::Conditioning cond(const sds::CameraBatch& cams, const std::string& prompt) {
  sds::Conditioning c;
  c.prompts = {prompt};
  c.cameras = cams;
  return c;
}

// The noise prediction through the score of the exact density (not through predict_noise).
at::Tensor score_eps(sds::ExactPrior& prior, const at::Tensor& x_t, const at::Tensor& t,
                     const sds::Conditioning& c) {
  at::Tensor x = x_t.detach().clone().requires_grad_(true);
  at::Tensor grad = torch::autograd::grad({prior.log_density(x, t, c).sum()}, {x})[0];
  return -(1 - prior.schedule().broadcast_alpha_bar(t, x)).sqrt() * grad;
}

at::Tensor score_eps(const at::Tensor& x_t, const at::Tensor& t, const sds::Conditioning& c) {
  return score_eps(*exact_prior(), x_t, t, c);
}

struct Case {
  sds::CameraBatch cams = cameras({10.0, 100.0, 200.0});
  at::Tensor z, t, noise, z_t, w_sds;
  explicit Case(std::vector<int64_t> steps = {150, 400, 700}, const Testbed& bed = testbed(0)) {
    auto gen = sds::make_generator(11);
    auto& prior = *bed.prior;
    at::Tensor gt = prior.ground_truth(bed.prompt, cams).rgb.to(at::kDouble) * 2 - 1;
    z = (gt + 0.2 * at::randn(gt.sizes(), gen, at::kDouble)).clamp(-1, 1);
    t = at::tensor(steps, at::kLong);
    noise = at::randn(z.sizes(), gen, at::kDouble);
    z_t = prior.schedule().add_noise(z, noise, t);
    w_sds = 1 - prior.schedule().broadcast_alpha_bar(t, z);
  }
  sds::DistillationStep step() const {
    sds::DistillationStep s;
    s.z = z;
    s.t = t;
    s.noise = noise;
    s.cameras = cams;
    return s;
  }
};

std::unique_ptr<sds::Guidance> build(const std::string& json, const Testbed& bed = testbed(0)) {
  return sds::make<sds::Guidance>(sds::parse_json(json, "test"), "guidance",
                                  {bed.prior, bed.prompt});
}

at::Tensor gradient_of(sds::Guidance& g, const Case& c) {
  return dynamic_cast<sds::DistillationGuidance&>(g).gradient(c.step());
}

}  // namespace

TEST_CASE("SDS with CFG on the exact prior is w (eps_u + s (eps_c - eps_u) - eps)",
          "[objectives][sds]") {
  const Testbed bed = testbed(GENERATE(0, 1));
  INFO(bed.prompt);
  Case c({150, 400, 700}, bed);
  auto sds_guidance = build(R"({"type": "sds", "guidance_scale": 7.5})", bed);
  at::Tensor eps_c = score_eps(*bed.prior, c.z_t, c.t, cond(c.cams, bed.prompt));
  at::Tensor eps_u = score_eps(*bed.prior, c.z_t, c.t, cond(c.cams, ""));
  at::Tensor expected = c.w_sds * (eps_u + 7.5 * (eps_c - eps_u) - c.noise);
  CHECK(at::allclose(gradient_of(*sds_guidance, c), expected, 1e-6, 1e-8));
}

TEST_CASE("Perp-Neg weights and plans follow threestudio", "[objectives][perp_neg]") {
  sds::PerpNegOptions o;
  CHECK(sds::perp_neg_curve(o.f_fs, 0) == Approx(1.574));
  CHECK(sds::perp_neg_curve(o.f_fs, 1) == Approx(0.0).margin(2e-3));
  CHECK(sds::perp_neg_curve(o.f_sb, 0) == Approx(0.394));
  CHECK(sds::perp_neg_curve(o.f_sb, 1) == Approx(0.0).margin(2e-3));
  CHECK(sds::perp_neg_curve(o.f_fsb, 0) == Approx(1.967));
  CHECK(sds::perp_neg_curve(o.f_fsb, 1) == Approx(1.5735).margin(1e-4));
  auto front = sds::perp_neg_plan(-45, 10, o);  // r = 0.5 between front and side
  REQUIRE(front.positive.size() == 2);
  CHECK(front.positive[0].sector == "front");
  CHECK(front.positive[0].weight == Approx(0.5));
  CHECK(front.negatives[0].weight == Approx(-sds::perp_neg_curve(o.f_fs, 0.5)));
  CHECK(front.negatives[1].sector == "side");
  auto back = sds::perp_neg_plan(135, 10, o);  // r = 0.5 between side and back
  CHECK(back.positive[1].sector == "back");
  CHECK(back.negatives[1].sector == "front");
  CHECK(back.negatives[1].weight == Approx(-sds::perp_neg_curve(o.f_fsb, 0.5)));
  auto overhead = sds::perp_neg_plan(0, 70, o);
  CHECK(overhead.positive[0].sector == "overhead");
  CHECK(overhead.negatives.empty());
  at::Tensor x = at::randn({2, 3, 4, 4}, at::kDouble), y = at::randn({2, 3, 4, 4}, at::kDouble);
  at::Tensor perp = sds::perpendicular_component(x, y);
  CHECK((perp * y).sum({1, 2, 3}).abs().max().item<double>() < 1e-10);
}

TEST_CASE("SDS with Perp-Neg follows eps_u + s (e_pos + sum w_i perp(e_i, e_pos))",
          "[objectives][perp_neg]") {
  Case c;
  auto guidance = build(R"({"type": "sds", "guidance_scale": 7.5, "perp_neg": true})");
  at::Tensor got = gradient_of(*guidance, c);
  sds::PerpNegOptions o;
  for (int64_t b = 0; b < 3; ++b) {
    INFO("element " << b);
    auto cams_b = sds::CameraBatch({c.cams[b]});
    at::Tensor zt = c.z_t.slice(0, b, b + 1), t = c.t.slice(0, b, b + 1);
    auto eps = [&](const std::string& p) { return score_eps(zt, t, cond(cams_b, p)); };
    at::Tensor eps_u = eps("");
    auto plan = sds::perp_neg_plan(c.cams[b].azimuth_deg(), c.cams[b].elevation_deg(), o);
    at::Tensor e_pos = -eps_u;
    for (const auto& term : plan.positive)
      e_pos = e_pos + term.weight * eps(std::string(kPrompt) + ", " + term.sector + " view");
    at::Tensor sum = at::zeros_like(e_pos);
    for (const auto& term : plan.negatives) {
      at::Tensor e_i = eps(std::string(kPrompt) + ", " + term.sector + " view") - eps_u;
      at::Tensor coef = (e_i * e_pos).sum() / (e_pos * e_pos).sum();
      sum = sum + term.weight * (e_i - coef * e_pos);
    }
    at::Tensor expected = c.w_sds[b] * (eps_u + 7.5 * (e_pos + sum) - c.noise.slice(0, b, b + 1));
    CHECK(at::allclose(got.slice(0, b, b + 1), expected, 1e-6, 1e-8));
  }
}

TEST_CASE("CSD is the weighted combination of its four terms", "[objectives][csd]") {
  const Testbed bed = testbed(GENERATE(0, 1));
  INFO(bed.prompt);
  Case c({150, 400, 700}, bed);
  auto csd = build(R"({"type": "csd", "text": 1.5, "negative": -0.7, "null": -0.3, "noise": 0.2,
                       "weighting": "sds", "negative_prompt": ")" +
                       bed.negative + R"("})",
                   bed);
  auto eps = [&](const std::string& p) {
    return score_eps(*bed.prior, c.z_t, c.t, cond(c.cams, p));
  };
  at::Tensor expected =
      c.w_sds * (1.5 * eps(bed.prompt) - 0.7 * eps(bed.negative) - 0.3 * eps("") + 0.2 * c.noise);
  CHECK(at::allclose(gradient_of(*csd, c), expected, 1e-6, 1e-8));
}

TEST_CASE("CSD with (s, 1 - s, 0, -1) is SDS in the diffusers convention", "[objectives][csd]") {
  Case c;
  auto csd = build(R"({"type": "csd", "text": 20, "negative": -19, "null": 0, "noise": -1,
                       "weighting": "sds"})");
  auto sds_guidance = build(R"({"type": "sds", "guidance_scale": 20})");
  CHECK(at::allclose(gradient_of(*csd, c), gradient_of(*sds_guidance, c), 1e-9, 1e-9));
}

TEST_CASE("CSD presets schedule the negative weight and normalise", "[objectives][csd]") {
  auto preset = sds::csd_preset("csd-if-object");
  auto csd = build(R"({"type": "csd", "preset": "csd-if-object"})");
  const auto& o = dynamic_cast<sds::Csd&>(*csd).options();
  CHECK(o.negative(0, 400) == 0.0);
  CHECK(o.negative(100, 400) == Approx(-0.5));
  CHECK(o.negative(300, 400) == -1.0);
  CHECK(o.null(0, 400) == -1.0);
  CHECK(o.null(300, 400) == 0.0);
  CHECK(dynamic_cast<sds::Csd&>(*csd).distillation_options().grad_normalize);
  Case c;
  CHECK(gradient_of(*csd, c).norm().item<double>() == Approx(1.0).epsilon(1e-6));
  // A key next to the preset overrides it.
  auto plain = build(R"({"type": "csd", "preset": "csd-if-object", "grad_normalize": false})");
  CHECK_FALSE(dynamic_cast<sds::Csd&>(*plain).distillation_options().grad_normalize);
  REQUIRE_THROWS_WITH(build(R"({"type": "csd", "preset": "csd-xl"})"), Contains("csd-sd-refine"));
}

TEST_CASE("NFSD switches its domain term at t = 200", "[objectives][nfsd]") {
  Case c({100, 400, 700});
  auto nfsd = build(R"({"type": "nfsd", "negative_prompt": "a snowman"})");
  at::Tensor eps_c = score_eps(c.z_t, c.t, cond(c.cams, kPrompt));
  at::Tensor eps_u = score_eps(c.z_t, c.t, cond(c.cams, ""));
  at::Tensor eps_n = score_eps(c.z_t, c.t, cond(c.cams, "a snowman"));
  at::Tensor low = (c.t < 200).to(at::kDouble).view({-1, 1, 1, 1});
  at::Tensor delta_d = low * eps_u + (1 - low) * (eps_u - eps_n);
  at::Tensor expected = c.w_sds * (delta_d + 7.5 * (eps_c - eps_u));
  CHECK(at::allclose(gradient_of(*nfsd, c), expected, 1e-6, 1e-8));
}

TEST_CASE("ISM inverts the render deterministically and compares eps at s and t",
          "[objectives][ism]") {
  const Testbed bed = testbed(GENERATE(0, 1));
  INFO(bed.prompt);
  const auto& schedule = bed.prior->schedule();
  // A DDIM step and its reverse with the same eps are inverses.
  at::Tensor x = at::randn({1, 3, 4, 4}, at::kDouble), e = at::randn({1, 3, 4, 4}, at::kDouble);
  at::Tensor there = sds::Ism::ddim_step(schedule, x, e, 100, 400);
  CHECK(at::allclose(sds::Ism::ddim_step(schedule, there, e, 400, 100), x, 1e-9, 1e-9));

  Case c({700, 30, 460}, bed);
  auto ism = build(R"({"type": "ism", "interval": 50})", bed);
  at::Tensor got = gradient_of(*ism, c);
  for (int64_t b = 0; b < 3; ++b) {
    INFO("element " << b);
    auto cams_b = sds::CameraBatch({c.cams[b]});
    const int64_t t = c.t[b].item<int64_t>(), s = std::max<int64_t>(t - 50, 0);
    auto eps_null = [&](const at::Tensor& xx, int64_t step) {
      return score_eps(*bed.prior, xx, at::tensor({step}, at::kLong), cond(cams_b, ""));
    };
    const double a0 = schedule.alpha_bar(0);
    at::Tensor xs =
        std::sqrt(a0) * c.z.slice(0, b, b + 1) + std::sqrt(1 - a0) * c.noise.slice(0, b, b + 1);
    for (int64_t cur = 0; cur < s; cur = std::min<int64_t>(cur + 200, s)) {
      const int64_t next = std::min<int64_t>(cur + 200, s);
      xs = sds::Ism::ddim_step(schedule, xs, eps_null(xs, cur), cur, next);
    }
    at::Tensor eps_s = eps_null(xs, s);
    at::Tensor xt = sds::Ism::ddim_step(schedule, xs, eps_s, s, t);
    at::Tensor tt = at::tensor({t}, at::kLong);
    at::Tensor e_c = score_eps(*bed.prior, xt, tt, cond(cams_b, bed.prompt));
    at::Tensor e_u = score_eps(*bed.prior, xt, tt, cond(cams_b, ""));
    const double a = schedule.alpha_bar(t);
    at::Tensor expected = std::sqrt((1 - a) / a) * (e_u + 7.5 * (e_c - e_u) - eps_s);
    CHECK(at::allclose(got.slice(0, b, b + 1), expected, 1e-6, 1e-8));
  }
}

TEST_CASE("bad objective parameters are errors", "[objectives][errors]") {
  REQUIRE_THROWS_WITH(build(R"({"type": "csd", "weight": -1})"), Contains("weight >= 0"));
  REQUIRE_THROWS_WITH(build(R"({"type": "csd", "perp_neg_scale": 2})"), Contains("perp_neg"));
  REQUIRE_THROWS_WITH(build(R"({"type": "csd", "text": [1, "x"]})"), Contains("guidance.text"));
  REQUIRE_THROWS_WITH(build(R"({"type": "nfsd", "guidance_scale": -2})"),
                      Contains("guidance_scale >= 0"));
  REQUIRE_THROWS_WITH(build(R"({"type": "ism", "interval": 0})"), Contains("interval"));
  REQUIRE_THROWS_WITH(build(R"({"type": "sds", "grad_clip": [-1, 2]})"), Contains("grad_clip"));
  REQUIRE_THROWS_WITH(build(R"({"type": "sds", "perp_neg": "yes"})"), Contains("perp_neg"));
  REQUIRE_THROWS_WITH(build(R"({"type": "ism", "timesteps": {"type": "uniform", "min_step": -5}})"),
                      Contains("-5"));
  REQUIRE_THROWS_WITH(build(R"({"type": "nfsd", "negative_prompt": "a cat"})")
                          ->compute({at::rand({1, 3, kSize, kSize}), cameras({0}), 0, 1,
                                     at::Generator(), at::Generator()}),
                      Contains("generator"));
  auto gen = sds::make_generator(0);
  REQUIRE_THROWS_WITH(build(R"({"type": "nfsd", "negative_prompt": "a cat"})")
                          ->compute({at::rand({1, 3, kSize, kSize}), cameras({0}), 0, 1, gen, gen}),
                      Contains("a cat") && Contains("a red mug"));
}
