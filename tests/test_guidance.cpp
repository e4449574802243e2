#include "testing.h"

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include "objective_fixture.h"

#include "sds/core/error.h"
#include "sds/core/registry.h"
#include "sds/core/rng.h"
#include "sds/diffusion/exact_prior.h"
#include "sds/guidance/cfg.h"
#include "sds/guidance/sds.h"
#include "sds/guidance/timestep.h"
#include "sds/guidance/weighting.h"

using Catch::Matchers::Contains;

namespace {

// A prior with a known denoiser: eps = 0.5 x_t + 0.1 (conditional), 0.5 x_t (null prompt).
class LinearPrior : public sds::Prior {
 public:
  const sds::NoiseSchedule& schedule() const override { return schedule_; }
  at::Tensor predict_noise(const at::Tensor& x_t, const at::Tensor&,
                           const sds::Conditioning& c) override {
    calls++;
    return 0.5 * x_t + (c.prompt(0).empty() ? 0.0 : 0.1);
  }
  int calls = 0;

 private:
  sds::NoiseSchedule schedule_ = sds::NoiseSchedule::scaled_linear();
};

sds::CameraBatch cameras(int64_t b, int64_t size) {
  std::vector<sds::Camera> cams;
  for (int64_t i = 0; i < b; ++i)
    cams.push_back(sds::Camera::orbit(0, 90.0 * i, 3, 40, size, size));
  return sds::CameraBatch(cams);
}

}  // namespace

TEST_CASE("scaled-linear alpha_bar matches the reference table", "[schedule]") {
  auto s = sds::NoiseSchedule::scaled_linear();
  REQUIRE(s.num_steps() == 1000);
  CHECK(s.alpha_bar(20) == Approx(0.981314).margin(2e-6));
  CHECK(s.alpha_bar(200) == Approx(0.753692).margin(2e-6));
  CHECK(s.alpha_bar(500) == Approx(0.276333).margin(2e-6));
  CHECK(s.alpha_bar(800) == Approx(0.036870).margin(2e-6));
  CHECK(s.alpha_bar(980) == Approx(0.005844).margin(2e-6));
  REQUIRE_THROWS_WITH(s.alpha_bar(1000), Contains("[0, 1000)"));
  REQUIRE_THROWS_AS(s.alpha_bar(at::tensor({-1}, at::kLong)), sds::Error);
}

TEST_CASE("add_noise and x0_from_eps invert each other", "[schedule]") {
  auto s = sds::NoiseSchedule::scaled_linear();
  at::Tensor x0 = at::randn({3, 3, 4, 4}, at::kDouble), eps = at::randn_like(x0);
  at::Tensor t = at::tensor({5, 400, 990}, at::kLong);
  at::Tensor xt = s.add_noise(x0, eps, t);
  CHECK(at::allclose(s.x0_from_eps(xt, eps, t), x0, 1e-9, 1e-9));
  const double a = s.alpha_bar(400);
  CHECK(at::allclose(xt[1], std::sqrt(a) * x0[1] + std::sqrt(1 - a) * eps[1]));
}

TEST_CASE("uniform timesteps cover [min, max] inclusive", "[schedule]") {
  sds::UniformTimestep u({20, 25});
  auto g = sds::make_generator(0);
  at::Tensor t = u.sample(0, 10, 4000, g);
  CHECK(t.min().item<int64_t>() == 20);
  CHECK(t.max().item<int64_t>() == 25);
  REQUIRE_THROWS_WITH(sds::UniformTimestep({20, 1000}), Contains("< 1000"));
  REQUIRE_THROWS_AS(sds::UniformTimestep({-1, 10}), sds::Error);
}

TEST_CASE("annealed timesteps move max_step linearly from 980 to 300", "[schedule]") {
  sds::AnnealedTimestep a;
  CHECK(a.range(0, 251)[1] == 980);
  CHECK(a.range(125, 251)[1] == 640);
  CHECK(a.range(250, 251)[1] == 300);
  CHECK(a.range(125, 251)[0] == 20);
  sds::AnnealedTimestepOptions o;
  o.max_step = sds::ScalarSchedule(980, 300, 100, 200);
  sds::AnnealedTimestep b(o);
  CHECK(b.range(50, 1000)[1] == 980);
  CHECK(b.range(150, 1000)[1] == 640);
  CHECK(b.range(900, 1000)[1] == 300);
  auto g = sds::make_generator(1);
  at::Tensor t = b.sample(900, 1000, 1000, g);
  CHECK(t.max().item<int64_t>() <= 300);
  CHECK(t.min().item<int64_t>() >= 20);
  o.shared = true;
  at::Tensor shared = sds::AnnealedTimestep(o).sample(0, 1000, 4, g);
  CHECK((shared == shared[0]).all().item<bool>());
}

TEST_CASE("weightings follow their formulas", "[guidance]") {
  at::Tensor a = at::tensor({0.981314, 0.276333}, at::kDouble);
  auto sds_w = sds::make<sds::Weighting>(sds::Json("sds"));
  auto f3d = sds::make<sds::Weighting>(sds::Json("fantasia3d"));
  auto uni = sds::make<sds::Weighting>(sds::Json("uniform"));
  CHECK(at::allclose((*sds_w)(a), 1 - a));
  CHECK(at::allclose((*f3d)(a), a.sqrt() * (1 - a)));
  CHECK(at::allclose((*uni)(a), at::ones_like(a)));
}

TEST_CASE("the two CFG conventions match their formulas", "[guidance]") {
  at::Tensor c = at::tensor({1.0, 2.0}), u = at::tensor({0.5, -1.0});
  CHECK(
      at::allclose(sds::apply_cfg(c, u, 100, sds::CfgConvention::ThreeStudio), c + 100 * (c - u)));
  CHECK(at::allclose(sds::apply_cfg(c, u, 7.5, sds::CfgConvention::Diffusers), u + 7.5 * (c - u)));
  // threestudio's s equals diffusers' s - 1.
  CHECK(at::allclose(sds::apply_cfg(c, u, 99, sds::CfgConvention::ThreeStudio),
                     sds::apply_cfg(c, u, 100, sds::CfgConvention::Diffusers)));
  CHECK_FALSE(sds::cfg_needs_unconditional(1.0, sds::CfgConvention::Diffusers));
  CHECK_FALSE(sds::cfg_needs_unconditional(0.0, sds::CfgConvention::ThreeStudio));
  REQUIRE_THROWS_WITH(sds::parse_cfg_convention("a"), Contains("diffusers"));
}

TEST_CASE("the SDS gradient reaching the image is 2 w(t) (eps_hat - eps) / B", "[guidance][sds]") {
  auto prior = std::make_shared<LinearPrior>();
  sds::SdsOptions o;
  o.guidance_scale = 100;
  o.cfg = sds::CfgConvention::ThreeStudio;
  sds::Sds guidance(prior, "a red mug", o,
                    std::make_unique<sds::UniformTimestep>(sds::UniformTimestepOptions{20, 980}),
                    std::make_unique<sds::SdsWeighting>());
  const int64_t b = 3;
  at::Tensor rgb = at::rand({b, 3, 4, 4}, at::kDouble).requires_grad_(true);
  // Replay the guidance's draws: t first, then the noise, from the same generator.
  auto g = sds::make_generator(7), replay = sds::make_generator(7);
  sds::GuidanceOutput out = guidance.compute({rgb, cameras(b, 4), 0, 10, g, g});
  out.loss.backward();
  at::Tensor t = sds::UniformTimestep({20, 980}).sample(0, 10, b, replay);
  at::Tensor noise = at::randn({b, 3, 4, 4}, replay, at::kDouble);
  auto schedule = sds::NoiseSchedule::scaled_linear();
  at::Tensor a = schedule.broadcast_alpha_bar(t, noise);
  at::Tensor z_t = a.sqrt() * (2 * rgb.detach() - 1) + (1 - a).sqrt() * noise;
  at::Tensor eps_c = 0.5 * z_t + 0.1, eps_u = 0.5 * z_t;
  at::Tensor eps_hat = eps_c + 100 * (eps_c - eps_u);
  at::Tensor expected = 2 * (1 - a) * (eps_hat - noise) / b;
  CHECK(at::allclose(rgb.grad(), expected, 1e-10, 1e-12));
  CHECK(out.metrics.at("grad_norm").item<double>() ==
        Approx(((1 - a) * (eps_hat - noise)).norm().item<double>()));
  CHECK(prior->calls == 2);
}

TEST_CASE("SDS skips the unconditional pass at diffusers scale 1 and clips on request",
          "[guidance][sds]") {
  auto prior = std::make_shared<LinearPrior>();
  sds::DistillationOptions common;
  common.grad_clip = 0.01;
  sds::Sds guidance(prior, "x", {}, std::make_unique<sds::UniformTimestep>(),
                    std::make_unique<sds::UniformWeighting>(), common);
  at::Tensor rgb = at::rand({2, 3, 4, 4}).requires_grad_(true);
  auto g = sds::make_generator(1);
  guidance.compute({rgb, cameras(2, 4), 0, 10, g, g}).loss.backward();
  CHECK(prior->calls == 1);
  // |d loss / d rgb| = 2 |clip(g)| / B <= 2 * 0.01 / 2.
  CHECK(rgb.grad().abs().max().item<double>() <= 0.01 + 1e-7);
}

TEST_CASE("view-dependent prompts follow threestudio's sectors", "[guidance]") {
  CHECK(sds::view_dependent_prompt("p", sds::Camera::orbit(0, 10)) == "p, front view");
  CHECK(sds::view_dependent_prompt("p", sds::Camera::orbit(0, -44)) == "p, front view");
  CHECK(sds::view_dependent_prompt("p", sds::Camera::orbit(0, 90)) == "p, side view");
  CHECK(sds::view_dependent_prompt("p", sds::Camera::orbit(0, 180)) == "p, back view");
  CHECK(sds::view_dependent_prompt("p", sds::Camera::orbit(0, 200)) == "p, back view");
  CHECK(sds::view_dependent_prompt("p", sds::Camera::orbit(70, 0)) == "p, overhead view");
}

TEST_CASE("bad guidance parameters are errors", "[guidance][errors]") {
  sds::Guidance::BuildContext ctx{std::make_shared<LinearPrior>(), "x"};
  REQUIRE_THROWS_WITH(
      sds::make<sds::Guidance>(sds::Json{{"type", "sds"}, {"guidance_scale", -1}}, "guidance", ctx),
      Contains("guidance_scale"));
  REQUIRE_THROWS_WITH(
      sds::make<sds::Guidance>(sds::Json{{"type", "sds"}, {"weighting", "cubic"}}, "guidance", ctx),
      Contains("cubic") && Contains("fantasia3d"));
  REQUIRE_THROWS_WITH(
      sds::make<sds::Guidance>(
          sds::Json{{"type", "sds"}, {"timesteps", {{"type", "uniform"}, {"max_step", 1200}}}},
          "guidance", ctx),
      Contains("1200"));
  auto guidance = sds::make<sds::Guidance>(sds::Json("sds"), "guidance", ctx);
  auto g = sds::make_generator(0);
  REQUIRE_THROWS_WITH(guidance->compute({at::rand({2, 4, 4, 4}), cameras(2, 4), 0, 1, g, g}),
                      Contains("[B, 3, H, W]"));
  REQUIRE_THROWS_WITH(guidance->compute({at::rand({2, 3, 4, 4}), cameras(3, 4), 0, 1, g, g}),
                      Contains("one camera per image"));
}

TEST_CASE("reconstruction's gradient is 2 (rgb - known view) / numel at each camera",
          "[guidance][reconstruction]") {
  auto prior = sds::test::builtin_exact_prior("camera");
  auto g = sds::make<sds::Guidance>(sds::parse_json(R"({"type": "reconstruction"})", "test"),
                                    "guidance", sds::Guidance::BuildContext{prior, "a red mug"});
  // Off-grid cameras: the target is the exact view from the rendered camera, not a component.
  std::vector<sds::Camera> list = {sds::Camera::orbit(12.5, 33.0, 3, 40, 16, 16),
                                   sds::Camera::orbit(3.0, 251.0, 3, 40, 16, 16)};
  sds::CameraBatch cams(list);
  const at::Tensor known = prior->ground_truth("a red mug", cams).rgb;
  at::Tensor rgb = at::rand({2, 3, 16, 16}, sds::make_generator(3)).requires_grad_(true);
  sds::GuidanceInput in;
  in.rgb = rgb;
  in.cameras = cams;
  sds::GuidanceOutput out = g->compute(in);
  const at::Tensor grad = torch::autograd::grad({out.loss}, {rgb})[0];
  CHECK(at::allclose(grad, 2 * (rgb.detach() - known) / rgb.numel(), 1e-5, 1e-8));
  CHECK(out.metrics.at("mse").item<double>() ==
        Approx((rgb.detach() - known).pow(2).mean().item<double>()).epsilon(1e-6));
  // The other view's image is a different target: the loss sees which camera is which.
  std::vector<sds::Camera> swapped = {list[1], list[0]};
  in.rgb = known;
  CHECK(g->compute(in).loss.item<double>() == 0.0);
  in.cameras = sds::CameraBatch(swapped);
  CHECK(g->compute(in).loss.item<double>() > 1e-3);
}

TEST_CASE("reconstruction without known views or with a camera per image missing is an error",
          "[guidance][reconstruction][errors]") {
  auto blind = std::make_shared<LinearPrior>();
  auto g = sds::make<sds::Guidance>(sds::parse_json(R"({"type": "reconstruction"})", "test"),
                                    "guidance", sds::Guidance::BuildContext{blind, "a red mug"});
  sds::GuidanceInput in;
  in.rgb = at::rand({2, 3, 8, 8});
  in.cameras = cameras(2, 8);
  CHECK_THROWS_WITH(g->compute(in), Contains("Prior::known_views"));
  in.cameras = cameras(1, 8);
  CHECK_THROWS_WITH(g->compute(in), Contains("one camera per image"));
  in.rgb = at::rand({2, 8, 8});
  CHECK_THROWS_AS(g->compute(in), sds::Error);
  CHECK_THROWS_WITH(
      sds::make<sds::Guidance>(sds::parse_json(R"({"type": "reconstruction", "lr": 1})", "test"),
                               "guidance", sds::Guidance::BuildContext{blind, "a red mug"}),
      Contains("lr"));
}
