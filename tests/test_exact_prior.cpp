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
  ]})",
                                               "test scene"),
                               "test scene");
}

sds::Conditioning text(const std::string& prompt) { return {{prompt}, std::nullopt}; }

sds::Conditioning with_camera(const std::string& prompt, double elevation, double azimuth,
                              int64_t size) {
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
    at::Tensor e_x0 =
        (r.unsqueeze(1) * (mu + (s2 * std::sqrt(a) / v) * (x.unsqueeze(0) - std::sqrt(a) * mu)))
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
    auto [r_all, index_all] =
        prior.responsibilities(x_t, at::tensor({500}, at::kLong), text(""), 0);
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
    REQUIRE_THROWS_WITH(
        prior.responsibilities(x_t, at::tensor({500}, at::kLong), text("a ball, overhead view"), 0),
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
  REQUIRE_THROWS_WITH(
      prior.predict_noise(at::zeros({1, 4, 6, 6}), at::tensor({10}, at::kLong), text("a ball")),
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

namespace {

// A family of two variants (the marker's colour and side) with two width directions, and a
// plain concept beside it.
sds::Scene family_scene() {
  return sds::Scene::from_json(sds::parse_json(R"({"concepts": [
    {"prompt": "a ball", "background": [1, 1, 1], "primitives": [
      {"shape": "sphere", "center": [0, 0, 0], "radius": 0.5, "color": [0.6, 0.2, 0.1]},
      {"shape": "box", "center": [0.5, 0, 0], "size": [0.2, 0.2, 0.2], "color": [0.1, 0.2, 0.7]}],
     "variants": [
      {"name": "front", "edit": []},
      {"name": "side", "edit": [{"index": 1, "center": [0, 0.5, 0], "color": [0.1, 0.7, 0.2]}]}],
     "width": [{"kind": "color", "primitives": [0], "direction": [1, 0.5, 0], "std": 0.3},
               {"kind": "brightness", "std": 0.2}]},
    {"prompt": "a box", "background": [1, 1, 1], "primitives": [
      {"shape": "box", "center": [0, 0, 0], "size": [0.8, 0.6, 0.4], "color": [0.2, 0.8, 0.2]}]}
  ]})",
                                               "family scene"),
                               "family scene");
}

sds::ExactPriorOptions coarse(const std::string& conditioning) {
  sds::ExactPriorOptions o;
  o.conditioning = conditioning;
  o.grid_elevations_deg = {0, 20};
  o.grid_azimuth_step_deg = 90;
  o.sigma = 0.05;
  return o;
}

// The dense Gaussian mixture of components `index` with weights `log_pi`: log p_t(x) and
// E[x0 | x_t = x], from full D x D covariances s^2 I + B^T B (no Woodbury).
std::pair<double, at::Tensor> dense_mixture(const sds::ExactPriorComponents& comps,
                                            const std::vector<int64_t>& index,
                                            const at::Tensor& log_pi, const at::Tensor& x, double a,
                                            double s) {
  const int64_t d = x.numel();
  const at::Tensor eye = at::eye(d, at::kDouble);
  std::vector<at::Tensor> logits, means;
  for (size_t i = 0; i < index.size(); ++i) {
    const int64_t k = index[i];
    const at::Tensor b = comps.width[k];  // [r, D]
    const at::Tensor sigma = s * s * eye + b.t().matmul(b);
    const at::Tensor c = a * sigma + (1 - a) * eye;
    const at::Tensor y = x - std::sqrt(a) * comps.mu[k];
    const at::Tensor c_inv_y = at::linalg_solve(c, y.unsqueeze(1)).squeeze(1);
    logits.push_back(log_pi[static_cast<int64_t>(i)] - 0.5 * y.dot(c_inv_y) -
                     0.5 * std::get<1>(at::linalg_slogdet(c)) -
                     0.5 * static_cast<double>(d) * std::log(2 * M_PI));
    means.push_back(comps.mu[k] + std::sqrt(a) * sigma.matmul(c_inv_y));
  }
  const at::Tensor l = at::stack(logits);
  const at::Tensor r = at::softmax(l, 0);
  return {at::logsumexp(l, 0).item<double>(), r.matmul(at::stack(means))};
}

}  // namespace

TEST_CASE("a family's width rows are the exact change of its renders per unit edit",
          "[exact_prior][families]") {
  sds::ExactPrior prior(family_scene(), coarse("text"));
  const int64_t size = 8;
  const auto& comps = prior.components(size, size);
  // 2 members x 8 views of the family, then 8 of the plain concept; r = 2 rows each.
  REQUIRE(comps.mu.size(0) == 24);
  REQUIRE(comps.width.sizes() == at::IntArrayRef({24, 2, 3 * size * size}));
  const sds::Concept& ball = prior.scene().concepts[0];
  std::vector<sds::Camera> views(comps.cameras.begin() + 8, comps.cameras.begin() + 16);
  sds::CameraBatch cams(views);
  sds::Concept member = ball.members()[1];
  REQUIRE(member.primitives[1].center[1] == 0.5);  // the edit moved the marker
  auto render = [&](const sds::Concept& c) {
    return sds::render_ground_truth(c, cams).rgb.to(at::kDouble).reshape({8, -1}) * 2 - 1;
  };
  const at::Tensor base = render(member);
  CHECK(at::allclose(base, comps.mu.slice(0, 8, 16), 0, 1e-12));
  REQUIRE(comps.width.slice(0, 8, 16).abs().max().item<double>() > 0.05);
  // A finite edit of t = 0.3 (renders are linear in albedo, so the difference is exact up to
  // the renders' float32).
  const double t = 0.3;
  sds::Concept tinted = member;
  tinted.primitives[0].color = {0.6 + t * 1.0, 0.2 + t * 0.5, 0.1};
  sds::Concept brighter = member;
  for (auto& p : brighter.primitives) {
    for (double& ch : p.color) ch *= 1 + t;
  }
  CHECK(at::allclose((render(tinted) - base) / t * 0.3, comps.width.slice(0, 8, 16).select(1, 0), 0,
                     1e-5));
  CHECK(at::allclose((render(brighter) - base) / t * 0.2, comps.width.slice(0, 8, 16).select(1, 1),
                     0, 1e-5));
  // The plain concept pads with zero rows.
  CHECK(comps.width.slice(0, 16, 24).abs().max().item<double>() == 0);
}

TEST_CASE("the low-rank posterior mean and log density equal a dense computation",
          "[exact_prior][families]") {
  sds::ExactPrior prior(family_scene(), coarse("camera"));
  const int64_t size = 4;
  const auto& comps = prior.components(size, size);
  for (int64_t step : {20, 300, 900}) {
    const double a = prior.schedule().alpha_bar(step);
    at::Tensor x0 = comps.mu[9].view({1, 3, size, size}) +
                    0.5 * comps.width[9][0].view({1, 3, size, size}) +
                    0.05 * at::randn({1, 3, size, size}, at::kDouble);
    at::Tensor x_t = std::sqrt(a) * x0 + std::sqrt(1 - a) * at::randn_like(x0);
    at::Tensor t = at::tensor({step}, at::kLong);
    const sds::Camera cam = sds::Camera::orbit(10, 60, 3, 40, size, size);
    sds::Conditioning cond{{"a ball"}, sds::CameraBatch({cam})};
    std::vector<int64_t> index;
    std::vector<double> log_w;
    for (int64_t k = 0; k < 16; ++k) {
      index.push_back(k);
      log_w.push_back(1000.0 * comps.directions[k].dot(cam.direction()).item<double>());
    }
    at::Tensor log_pi = at::tensor(log_w, at::kDouble);
    log_pi = log_pi - at::logsumexp(log_pi, 0);
    auto [log_p, mean] = dense_mixture(comps, index, log_pi, x_t.reshape({-1}), a, 0.05);
    CHECK(prior.log_density(x_t, t, cond).item<double>() == Approx(log_p).epsilon(1e-9));
    CHECK(at::allclose(prior.posterior_mean(x_t, t, cond).reshape({-1}), mean, 1e-8, 1e-10));
  }
}

TEST_CASE("the score identity holds for families with width, under every conditioning",
          "[exact_prior][families]") {
  const int64_t size = 4;
  for (const std::string conditioning : {"text", "camera", "multiview", "reference"}) {
    INFO(conditioning);
    sds::ExactPrior prior(family_scene(), coarse(conditioning));
    const auto& comps = prior.components(size, size);
    const int64_t n = conditioning == "multiview" ? 4 : 1;
    std::vector<sds::Camera> cams;
    for (int64_t j = 0; j < n; ++j)
      cams.push_back(sds::Camera::orbit(10, 30 + 90 * j, 3, 40, size, size));
    sds::Conditioning cond{std::vector<std::string>(n, "a ball"), sds::CameraBatch(cams)};
    if (conditioning == "reference") {
      cond.reference = sds::ReferenceView{
          ((comps.mu[10] + 1) / 2).view({3, size, size}).to(at::kFloat), comps.cameras[10]};
    }
    for (int64_t step : {30, 500, 950}) {
      const double a = prior.schedule().alpha_bar(step);
      at::Tensor x0 = comps.mu.slice(0, 8, 8 + n).view({n, 3, size, size}) +
                      0.05 * at::randn({n, 3, size, size}, at::kDouble);
      at::Tensor x_t =
          (std::sqrt(a) * x0 + std::sqrt(1 - a) * at::randn_like(x0)).detach().requires_grad_(true);
      at::Tensor t = at::full({n}, step, at::kLong);
      at::Tensor score = torch::autograd::grad({prior.log_density(x_t, t, cond).sum()}, {x_t})[0];
      at::Tensor eps = prior.predict_noise(x_t.detach(), t, cond);
      CHECK(at::allclose(-eps / std::sqrt(1 - a), score, 1e-6, 1e-8));
    }
  }
}

TEST_CASE("a family whose variants are identical equals the plain concept",
          "[exact_prior][families]") {
  const char* plain = R"({"concepts": [{"prompt": "a ball", "primitives": [
      {"shape": "sphere", "center": [0, 0, 0], "radius": 0.5, "color": [0.6, 0.2, 0.1]},
      {"shape": "box", "center": [0.5, 0, 0], "size": [0.2, 0.2, 0.2], "color": [0.1, 0.2, 0.7]}]},
    {"prompt": "a box", "primitives": [
      {"shape": "box", "center": [0, 0, 0], "size": [0.8, 0.6, 0.4], "color": [0.2, 0.8, 0.2]}]}]})";
  sds::Json family = sds::parse_json(plain, "plain");
  family["concepts"][0]["variants"] = sds::parse_json(
      R"([{"name": "a", "edit": []}, {"name": "b", "edit": []}, {"name": "c", "edit": []}])", "v");
  for (const std::string conditioning : {"text", "camera", "multiview"}) {
    INFO(conditioning);
    sds::ExactPrior one(sds::Scene::from_json(sds::parse_json(plain, "plain")),
                        coarse(conditioning));
    sds::ExactPrior three(sds::Scene::from_json(family), coarse(conditioning));
    REQUIRE(one.components(4, 4).mu.size(0) == 16);
    REQUIRE(three.components(4, 4).mu.size(0) == 32);
    const int64_t n = conditioning == "multiview" ? 4 : 2;
    std::vector<sds::Camera> cams;
    for (int64_t j = 0; j < n; ++j) cams.push_back(sds::Camera::orbit(5, 20 + 90 * j, 3, 40, 4, 4));
    at::Tensor x_t = at::randn({n, 3, 4, 4}, at::kDouble);
    at::Tensor t = at::full({n}, 400, at::kLong);
    for (const std::string prompt : {"a ball", ""}) {
      if (conditioning == "multiview" && prompt.empty()) continue;
      sds::Conditioning cond{{prompt}, sds::CameraBatch(cams)};
      CHECK(at::allclose(one.predict_noise(x_t, t, cond), three.predict_noise(x_t, t, cond), 1e-9,
                         1e-11));
      CHECK(
          at::allclose(one.log_density(x_t, t, cond), three.log_density(x_t, t, cond), 1e-9, 1e-9));
    }
  }
}

TEST_CASE("a reference image of one member conditions on that member", "[exact_prior][families]") {
  sds::ExactPrior prior(family_scene(), coarse("reference"));
  const auto& comps = prior.components(8, 8);
  sds::Conditioning cond{{"a ball"}, sds::CameraBatch({sds::Camera::orbit(0, 90, 3, 40, 8, 8)})};
  cond.reference =
      sds::ReferenceView{((comps.mu[8] + 1) / 2).view({3, 8, 8}).to(at::kFloat), comps.cameras[8]};
  auto [r, index] =
      prior.responsibilities(at::zeros({1, 3, 8, 8}), at::tensor({500}, at::kLong), cond, 0);
  REQUIRE(index.numel() == 8);
  for (int64_t i = 0; i < index.numel(); ++i) {
    CHECK(comps.member_index[index[i].item<int64_t>()] == 1);
  }
}

TEST_CASE("a family's ground truth is one member's, and a family is not one object",
          "[exact_prior][families][errors]") {
  sds::ExactPrior prior(family_scene(), coarse("text"));
  sds::CameraBatch cams({sds::Camera::orbit(0, 90, 3, 40, 8, 8)});
  const auto side = prior.ground_truth("a ball", cams, 1).rgb;
  CHECK(at::allclose(side,
                     sds::render_ground_truth(prior.scene().concepts[0].members()[1], cams).rgb));
  CHECK_FALSE(at::allclose(side, prior.ground_truth("a ball", cams, 0).rgb));
  REQUIRE_THROWS_WITH(prior.ground_truth("a ball", cams, 2), Contains("[0, 2)"));
  REQUIRE_THROWS_WITH(sds::render_ground_truth(prior.scene().concepts[0], cams),
                      Contains("family of 2 variants"));
}
