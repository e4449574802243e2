#include "testing.h"

#include <torch/csrc/autograd/autograd.h>

#include <cmath>

#include "sds/core/error.h"
#include "sds/diffusion/exact_prior.h"

using Catch::Matchers::Contains;

namespace {

sds::Scene two_concepts() {
  return sds::Scene::from_json(sds::parse_json(R"({"concepts": [
    {"prompt": "a ball", "background": [1, 1, 1], "primitives": [
      {"shape": "sphere", "center": [0, 0, 0], "radius": 0.5, "color": [0.9, 0.2, 0.1]},
      {"shape": "box", "center": [0.5, 0, 0], "size": [0.2, 0.2, 0.2], "color": [0.1, 0.2, 0.9]}]},
    {"prompt": "a box", "background": [1, 1, 1], "primitives": [
      {"shape": "box", "center": [0, 0, 0], "size": [0.8, 0.6, 0.4], "color": [0.2, 0.8, 0.2]}]}
  ]})", "test scene"), "test scene");
}

sds::Conditioning text(const std::string& prompt) { return {{prompt}, std::nullopt}; }

sds::Conditioning with_camera(const std::string& prompt, double elevation, double azimuth, int64_t size) {
  return {{prompt}, sds::CameraBatch({sds::Camera::orbit(elevation, azimuth, 3, 40, size, size)})};
}

sds::ExactPriorOptions text_only() {
  sds::ExactPriorOptions o;
  o.conditioning = "text";
  o.grid_azimuth_step_deg = 30;
  return o;
}

}  // namespace

TEST_CASE("eps_hat equals the closed form of the Gaussian mixture", "[exact_prior]") {
  sds::ExactPrior prior(two_concepts(), text_only());
  const int64_t size = 6;
  const auto& comps = prior.components(size, size);
  REQUIRE(comps.mu.size(0) == 2 * 3 * 12);
  at::Tensor x_t = at::randn({2, 3, size, size}, at::kDouble);
  at::Tensor t = at::tensor({100, 700}, at::kLong);
  at::Tensor eps = prior.predict_noise(x_t, t, text("a ball"));
  const double s2 = 1e-4;
  for (int64_t b = 0; b < 2; ++b) {
    const double a = prior.schedule().alpha_bar(t[b].item<int64_t>());
    const double v = a * s2 + 1 - a;
    at::Tensor x = x_t[b].reshape({-1});
    at::Tensor mu = comps.mu.slice(0, 0, 36);  // concept 0's components
    // Direct differences, not the ||x||^2 - 2<x, mu> + ||mu||^2 expansion the prior uses.
    at::Tensor logit = -(x.unsqueeze(0) - std::sqrt(a) * mu).pow(2).sum(1) / (2 * v);
    at::Tensor r = at::softmax(logit, 0);
    at::Tensor e_x0 = (r.unsqueeze(1) * (mu + (s2 * std::sqrt(a) / v) *
                                                  (x.unsqueeze(0) - std::sqrt(a) * mu)))
                          .sum(0);
    at::Tensor expected = (x - std::sqrt(a) * e_x0) / std::sqrt(1 - a);
    CHECK(at::allclose(eps[b].reshape({-1}), expected, 1e-8, 1e-9));
  }
}

TEST_CASE("the score identity: -eps_hat / sqrt(1 - a) is the gradient of log p_t",
          "[exact_prior]") {
  sds::ExactPrior prior(two_concepts(), text_only());
  const auto& comps = prior.components(6, 6);
  for (int64_t step : {30, 400, 950}) {
    const double a = prior.schedule().alpha_bar(step);
    // Near a component, so that several responsibilities matter at low noise too.
    at::Tensor x0 = comps.mu[3].view({1, 3, 6, 6}) + 0.05 * at::randn({1, 3, 6, 6}, at::kDouble);
    at::Tensor x_t = (std::sqrt(a) * x0 + std::sqrt(1 - a) * 0.3 * at::randn_like(x0))
                         .detach()
                         .requires_grad_(true);
    at::Tensor t = at::tensor({step}, at::kLong);
    at::Tensor logp = prior.log_density(x_t, t, text(""));
    at::Tensor score = torch::autograd::grad({logp.sum()}, {x_t})[0];
    at::Tensor eps = prior.predict_noise(x_t.detach(), t, text(""));
    CHECK(at::allclose(-eps / std::sqrt(1 - a), score, 1e-6, 1e-8));
  }
}

TEST_CASE("one component with tiny s gives E[x0 | x_t] = mu", "[exact_prior]") {
  sds::ExactPriorOptions o = text_only();
  o.grid_elevations_deg = {0};
  o.grid_azimuth_step_deg = 360;
  o.sigma = 1e-5;
  sds::ExactPrior prior(two_concepts(), o);
  const auto& comps = prior.components(8, 8);
  REQUIRE(comps.mu.size(0) == 2);
  at::Tensor x_t = at::randn({1, 3, 8, 8}, at::kDouble);
  at::Tensor mean = prior.posterior_mean(x_t, at::tensor({500}, at::kLong), text("a box"));
  CHECK((mean.reshape({-1}) - comps.mu[1]).abs().max().item<double>() < 1e-8);
}

TEST_CASE("the SDS residual identity holds: eps_hat - eps = sqrt(a / (1 - a)) (x - E[x0|x_t])",
          "[exact_prior]") {
  sds::ExactPrior prior(two_concepts(), text_only());
  auto schedule = prior.schedule();
  at::Tensor x = at::rand({1, 3, 6, 6}, at::kDouble) * 2 - 1, eps = at::randn_like(x);
  at::Tensor t = at::tensor({300}, at::kLong);
  at::Tensor x_t = schedule.add_noise(x, eps, t);
  const double a = schedule.alpha_bar(300);
  at::Tensor lhs = prior.predict_noise(x_t, t, text("a ball")) - eps;
  at::Tensor rhs = std::sqrt(a / (1 - a)) * (x - prior.posterior_mean(x_t, t, text("a ball")));
  CHECK(at::allclose(lhs, rhs, 1e-8, 1e-9));
}

TEST_CASE("conditioning selects the right components", "[exact_prior]") {
  SECTION("text selects the concept") {
    sds::ExactPrior prior(two_concepts(), text_only());
    at::Tensor x_t = at::randn({1, 3, 6, 6}, at::kDouble);
    auto [r, index] = prior.responsibilities(x_t, at::tensor({500}, at::kLong), text("a box"), 0);
    CHECK(index.min().item<int64_t>() == 36);
    CHECK(r.sum().item<double>() == Approx(1.0));
    auto [r_all, index_all] = prior.responsibilities(x_t, at::tensor({500}, at::kLong), text(""), 0);
    CHECK(index_all.numel() == 72);
  }
  SECTION("a view suffix restricts to the sector") {
    sds::ExactPrior prior(two_concepts(), text_only());
    at::Tensor x_t = at::randn({1, 3, 6, 6}, at::kDouble);
    auto [r, index] =
        prior.responsibilities(x_t, at::tensor({500}, at::kLong), text("a ball, back view"), 0);
    const auto& comps = prior.components(6, 6);
    REQUIRE(index.numel() > 0);
    for (int64_t k = 0; k < index.numel(); ++k) {
      const auto& cam = comps.cameras[index[k].item<int64_t>()];
      CHECK(std::abs(std::remainder(cam.azimuth_deg(), 360.0)) > 135.0);
    }
    REQUIRE_THROWS_WITH(prior.responsibilities(x_t, at::tensor({500}, at::kLong),
                                               text("a ball, overhead view"), 0),
                        Contains("overhead"));
  }
  SECTION("the camera kernel picks the component of the camera") {
    sds::ExactPriorOptions o;
    o.kappa = 1000;
    sds::ExactPrior prior(two_concepts(), o);
    at::Tensor x_t = at::zeros({1, 3, 6, 6}, at::kDouble);
    auto [r, index] = prior.responsibilities(x_t, at::tensor({999}, at::kLong),
                                             with_camera("a ball", 15, 120, 6), 0);
    const auto& comps = prior.components(6, 6);
    const auto& best = comps.cameras[index[r.argmax().item<int64_t>()].item<int64_t>()];
    CHECK(best.elevation_deg() == 15);
    CHECK(best.azimuth_deg() == 120);
    CHECK(r.max().item<double>() > 0.99);
    REQUIRE_THROWS_WITH(prior.predict_noise(x_t, at::tensor({10}, at::kLong), text("a ball")),
                        Contains("cameras"));
  }
}

TEST_CASE("an unknown prompt lists the known ones", "[exact_prior][errors]") {
  sds::ExactPrior prior(two_concepts(), text_only());
  at::Tensor x_t = at::zeros({1, 3, 6, 6});
  REQUIRE_THROWS_WITH(prior.predict_noise(x_t, at::tensor({10}, at::kLong), text("a cat")),
                      Contains("a cat") && Contains("a ball") && Contains("a box"));
  REQUIRE_THROWS_WITH(prior.predict_noise(at::zeros({1, 4, 6, 6}), at::tensor({10}, at::kLong),
                                          text("a ball")),
                      Contains("[B, 3, H, W]"));
  REQUIRE_THROWS_WITH(prior.predict_noise(x_t, at::tensor({1000}, at::kLong), text("a ball")),
                      Contains("[0, 1000)"));
}

TEST_CASE("the built-in concepts are exact-prior prompts with ground truth", "[exact_prior]") {
  sds::ExactPrior prior(sds::Scene::builtin());
  REQUIRE(prior.scene().concepts.size() >= 4);
  const std::string prompt = prior.scene().concepts[0].prompt;
  auto gt = prior.ground_truth(prompt + ", front view",
                               sds::CameraBatch({sds::Camera::orbit(0, 0, 3, 40, 16, 16)}));
  CHECK(gt.rgb.sizes() == at::IntArrayRef({1, 3, 16, 16}));
  CHECK(gt.alpha.sum().item<double>() > 10);
}
