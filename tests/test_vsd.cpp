#include "testing.h"

#include "objective_fixture.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/optim/adam.h>

#include "sds/core/error.h"
#include "sds/core/registry.h"
#include "sds/core/rng.h"
#include "sds/diffusion/exact_prior.h"
#include "sds/guidance/vsd.h"

using Catch::Matchers::Contains;

namespace {

constexpr int64_t kSize = sds::test::kObjectiveImageSize;
const char* const kPrompt = "a small robot";

std::shared_ptr<sds::ExactPrior> exact_prior() { return sds::test::builtin_exact_prior(); }

sds::CameraBatch cameras(std::vector<double> azimuths) {
  return sds::test::orbit_cameras(azimuths);
}

std::unique_ptr<sds::Vsd> build(const std::string& json) {
  auto g = sds::make<sds::Guidance>(sds::parse_json(json, "test"), "guidance",
                                    {exact_prior(), kPrompt});
  return std::unique_ptr<sds::Vsd>(dynamic_cast<sds::Vsd*>(g.release()));
}

}  // namespace

TEST_CASE("VSD starts as w (eps_cfg - eps_cond): the particle model is the prior at first",
          "[objectives][vsd]") {
  auto vsd = build(R"({"type": "vsd"})");
  auto cams = cameras({0, 120});
  auto gen = sds::make_generator(3);
  at::Tensor z = exact_prior()->ground_truth(kPrompt, cams).rgb.to(at::kDouble) * 2 - 1;
  at::Tensor t = at::tensor({300, 600}, at::kLong);
  at::Tensor noise = at::randn(z.sizes(), gen, at::kDouble);
  at::Tensor g = vsd->gradient(z, t, noise, cams);
  auto& prior = *exact_prior();
  at::Tensor z_t = prior.schedule().add_noise(z, noise, t);
  sds::Conditioning c{{kPrompt}, cams}, u{{""}, cams};
  at::Tensor eps_c = prior.predict_noise(z_t, t, c), eps_u = prior.predict_noise(z_t, t, u);
  at::Tensor expected = (1 - prior.schedule().broadcast_alpha_bar(t, z)) *
                        (eps_u + 7.5 * (eps_c - eps_u) - eps_c);
  CHECK(at::allclose(g, expected, 1e-5, 1e-7));
  CHECK(vsd->parameter_groups().at(0).lr == 1e-4);
}

TEST_CASE("the particle model's diffusion loss decreases on a fixed image set",
          "[objectives][vsd]") {
  auto vsd = build(R"({"type": "vsd", "particle": {"hidden": 16}})");
  auto cams = cameras({0, 90, 180, 270});
  // Renders that the prior does not predict well: darkened ground truth.
  at::Tensor z = (exact_prior()->ground_truth(kPrompt, cams).rgb * 0.5) * 2 - 1;
  auto eval_gen = sds::make_generator(99);
  const int64_t repeats = 8;
  at::Tensor z_eval = z.repeat({repeats, 1, 1, 1});
  std::vector<sds::Camera> eval_cams;
  for (int64_t r = 0; r < repeats; ++r) {
    for (const auto& c : cams.cameras()) eval_cams.push_back(c);
  }
  at::Tensor t_eval = at::randint(0, 1000, {z_eval.size(0)}, eval_gen, at::kLong);
  at::Tensor n_eval = at::randn(z_eval.sizes(), eval_gen, at::kFloat);
  at::Tensor no_drop = at::zeros({z_eval.size(0)}, at::kBool);
  auto eval_loss = [&] {
    at::NoGradGuard no_grad;
    return vsd->particle_loss(z_eval, t_eval, n_eval, sds::CameraBatch(eval_cams), no_drop)
        .item<double>();
  };
  const double before = eval_loss();
  torch::optim::Adam adam(vsd->particle().trainable_parameters(), torch::optim::AdamOptions(3e-3));
  auto gen = sds::make_generator(5);
  for (int step = 0; step < 150; ++step) {
    at::Tensor t = at::randint(0, 1000, {4}, gen, at::kLong);
    at::Tensor noise = at::randn(z.sizes(), gen, at::kFloat);
    adam.zero_grad();
    vsd->particle_loss(z, t, noise, cams, at::zeros({4}, at::kBool)).backward();
    adam.step();
  }
  const double after = eval_loss();
  INFO("particle loss " << before << " -> " << after);
  CHECK(after < 0.8 * before);
}

TEST_CASE("VSD trains its particle model in the trainer's optimiser step", "[objectives][vsd]") {
  auto vsd = build(R"({"type": "vsd", "particle_lr": 0.01})");
  auto cams = cameras({0, 180});
  at::Tensor rgb = exact_prior()->ground_truth(kPrompt, cams).rgb.clone().requires_grad_(true);
  auto gen = sds::make_generator(1);
  sds::GuidanceOutput out = vsd->compute({rgb, cams, 0, 10, gen, gen});
  REQUIRE(out.metrics.count("particle_loss") == 1);
  out.loss.backward();
  // The image gets the VSD gradient; the last (zero-initialised) layer gets a particle gradient.
  CHECK(rgb.grad().abs().sum().item<double>() > 0);
  auto params = vsd->particle().trainable_parameters();
  CHECK(params.back().grad().abs().sum().item<double>() > 0);
  CHECK(vsd->named_tensors().size() == params.size());
}

TEST_CASE("bad VSD parameters are errors", "[objectives][vsd][errors]") {
  REQUIRE_THROWS_WITH(build(R"({"type": "vsd", "camera_dropout": 2})"), Contains("camera_dropout"));
  REQUIRE_THROWS_WITH(build(R"({"type": "vsd", "particle_lr": 0})"), Contains("particle_lr > 0"));
  REQUIRE_THROWS_WITH(build(R"({"type": "vsd", "particle": {"width": 3}})"), Contains("width"));
  REQUIRE_THROWS_WITH(build(R"({"type": "vsd", "particle_guidance_scale": -1})"),
                      Contains("guidance scales >= 0"));
}
