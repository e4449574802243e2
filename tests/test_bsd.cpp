// BSD on the exact prior: the personalised prior reproduces its added components, the
// personalisation cycle, the BSD gradient against its formula, SDEdit augmentation and errors.
#include "testing.h"

#include "helpers.h"
#include "objective_fixture.h"

#include <torch/csrc/autograd/autograd.h>

#include "sds/core/error.h"
#include "sds/core/registry.h"
#include "sds/core/rng.h"
#include "sds/guidance/bsd.h"

using Catch::Matchers::Contains;

namespace {

constexpr int64_t kSize = sds::test::kObjectiveImageSize;

using sds::test::Testbed;
Testbed testbed(int which) { return sds::test::objective_testbed(which); }

std::unique_ptr<sds::Bsd> bsd(const std::string& json, const Testbed& bed = testbed(0)) {
  auto g = sds::make<sds::Guidance>(sds::parse_json(json, "test"), "guidance",
                                    sds::Guidance::BuildContext{bed.prior, bed.prompt});
  return std::unique_ptr<sds::Bsd>(dynamic_cast<sds::Bsd*>(g.release()));
}

sds::Conditioning cond(const sds::CameraBatch& cams, const std::string& prompt) {
  return sds::test::text_and_cameras(cams, prompt);
}

}  // namespace

TEST_CASE("the personalised prior reproduces its added components at small t", "[bsd]") {
  sds::ExactPrior prior(sds::Scene::builtin());
  // Images no grid view resembles (smooth random colours), at off-grid cameras.
  auto gen = sds::make_generator(21);
  at::Tensor images =
      at::upsample_bilinear2d(at::rand({3, 3, 2, 2}, gen, at::kDouble), {kSize, kSize}, false);
  sds::CameraBatch cams = sds::test::orbit_cameras({13.0, 137.0, 251.0}, 7.0);
  prior.set_personal_components(images, cams, "a red mug");
  CHECK(prior.personal_count(kSize, kSize) == 3);
  at::Tensor x0 = images * 2 - 1;
  at::Tensor t = at::full({3}, 20, at::kLong);
  at::Tensor x_t = prior.schedule().add_noise(x0, at::randn(x0.sizes(), gen, at::kDouble), t);
  at::Tensor denoised = prior.posterior_mean(x_t, t, cond(cams, "a red mug"));
  CHECK((denoised - x0).abs().max().item<double>() < 0.01);

  // Without them the prior denoises to the mug's grid views instead.
  prior.clear_personal_components();
  CHECK(prior.personal_count(kSize, kSize) == 0);
  at::Tensor without = prior.posterior_mean(x_t, t, cond(cams, "a red mug"));
  CHECK((without - x0).abs().max().item<double>() > 0.3);
}

TEST_CASE("BSD personalises first, then follows w(t) (eps_cfg^personal - eps_phi)", "[bsd]") {
  const Testbed bed = testbed(GENERATE(0, 1));
  INFO(bed.prompt);
  auto g = bsd(R"({"type": "bsd", "cycle_steps": 10, "pretrain_steps": 3, "augment_every": 2,
                   "cache_size": 5, "augment_t": 300, "augment_steps": 4})",
               bed);
  sds::CameraBatch cams = sds::test::orbit_cameras({20.0, 200.0});
  auto gen = sds::make_generator(2);
  at::Tensor rgb0 = at::rand({2, 3, kSize, kSize}, gen);
  auto step = [&](int64_t i) {
    at::Tensor rgb = rgb0.clone().requires_grad_(true);
    sds::GuidanceOutput out = g->compute({rgb, cams, i, 20, gen, gen});
    return std::make_pair(torch::autograd::grad({out.loss}, {rgb}, {}, false, true)[0], out);
  };
  // Steps 0-2 personalise only: augmentations at steps 0 and 2, no gradient for the 3D model.
  for (int64_t i = 0; i < 3; ++i) {
    auto [grad, out] = step(i);
    CHECK((!grad.defined() || grad.abs().max().item<double>() == 0.0));
    CHECK(out.metrics.at("cached_images").item<double>() == (i < 2 ? 2.0 : 4.0));
    CHECK(out.metrics.count("personal_loss") == 0);  // the exact prior is fitted in closed form
  }
  auto& exact_personal = dynamic_cast<sds::ExactPrior&>(g->personalised());
  CHECK(exact_personal.personal_count(kSize, kSize) == 4);
  CHECK(g->parameter_groups().size() == 1);  // only eps_phi trains
  auto [grad, out] = step(3);
  CHECK(grad.abs().max().item<double>() > 0);
  CHECK(g->cached() == 4);  // no augmentation outside the personalisation steps

  // The gradient against its formula; eps_phi starts as the original prior's conditional eps.
  at::Tensor z = rgb0.to(at::kDouble) * 2 - 1;
  at::Tensor t = at::tensor({120, 380}, at::kLong);
  at::Tensor noise = at::randn(z.sizes(), gen, at::kDouble);
  at::Tensor z_t = g->personalised().schedule().add_noise(z, noise, t);
  auto& personal = g->personalised();
  at::Tensor e_c = personal.predict_noise(z_t, t, cond(cams, bed.prompt));
  at::Tensor e_u = personal.predict_noise(z_t, t, cond(cams, ""));
  at::Tensor e_phi = bed.prior->predict_noise(z_t, t, cond(cams, bed.prompt));
  at::Tensor w = 1 - personal.schedule().broadcast_alpha_bar(t, z);
  at::Tensor expected = w * (e_u + 2.0 * (e_c - e_u) - e_phi);
  CHECK(sds::test::max_abs_diff(g->gradient(z, t, noise, cams), expected) < 1e-5);
  // The personal components matter: the original prior's CFG would give another gradient.
  at::Tensor b_c = bed.prior->predict_noise(z_t, t, cond(cams, bed.prompt));
  at::Tensor b_u = bed.prior->predict_noise(z_t, t, cond(cams, ""));
  CHECK(sds::test::max_abs_diff(expected, w * (b_u + 2.0 * (b_c - b_u) - e_phi)) > 1e-3);
}

TEST_CASE("BSD's SDEdit augmentation projects a render onto the prior's views", "[bsd]") {
  // The exact prior's modes are narrow, so SDEdit from any noise level returns the nearest view
  // of the concept: the augmentation removes the render's error, as DreamBooth data should.
  auto g = bsd(R"({"type": "bsd"})");
  sds::CameraBatch cams = sds::test::orbit_cameras({30.0}, 15.0);  // a grid view
  at::Tensor truth = sds::test::builtin_exact_prior()->ground_truth("a red mug", cams).rgb;
  auto gen = sds::make_generator(3);
  at::Tensor render = (truth + 0.1 * at::randn(truth.sizes(), gen)).clamp(0, 1);
  const double render_error = (render - truth).pow(2).mean().sqrt().item<double>();
  for (int64_t from : {5, 200, 600}) {
    at::Tensor out = g->augment(render * 2 - 1, cams, from, gen);
    INFO("from t = " << from);
    CHECK(out.min().item<double>() >= 0);
    CHECK(out.max().item<double>() <= 1);
    CHECK((out - truth).pow(2).mean().sqrt().item<double>() < 0.2 * render_error);
  }
}

TEST_CASE("bad BSD input is an sds::Error", "[bsd][errors]") {
  CHECK_THROWS_WITH(bsd(R"({"type": "bsd", "cycle_steps": 10, "pretrain_steps": 10})"),
                    Contains("pretrain_steps"));
  CHECK_THROWS_WITH(bsd(R"({"type": "bsd", "augment_t": 1000})"), Contains("augment_t"));
  CHECK_THROWS_WITH(bsd(R"({"type": "bsd", "cache_size": 0})"), Contains("cache_size"));
  CHECK_THROWS_WITH(
      sds::make<sds::Guidance>(sds::parse_json(R"({"type": "bsd"})", "test"), "guidance",
                               sds::Guidance::BuildContext{nullptr, "a red mug"}),
      Contains("expected a prior"));
  // A prior without a personalised copy: BSD names what is missing.
  struct Plain : sds::Prior {
    sds::NoiseSchedule schedule_ = sds::NoiseSchedule::scaled_linear();
    const sds::NoiseSchedule& schedule() const override { return schedule_; }
    at::Tensor predict_noise(const at::Tensor& x, const at::Tensor&,
                             const sds::Conditioning&) override {
      return at::zeros_like(x);
    }
  };
  CHECK_THROWS_WITH(
      sds::make<sds::Guidance>(sds::parse_json(R"({"type": "bsd"})", "test"), "guidance",
                               sds::Guidance::BuildContext{std::make_shared<Plain>(), "a red mug"}),
      Contains("Prior::make_personalised"));
  sds::ExactPriorOptions o;
  o.conditioning = "multiview";
  sds::ExactPrior multiview(sds::Scene::builtin(), o);
  CHECK_THROWS_WITH(multiview.set_personal_components(at::zeros({1, 3, kSize, kSize}),
                                                      sds::test::orbit_cameras({0.0}), "a red mug"),
                    Contains("multi-view"));
  sds::ExactPrior prior(sds::Scene::builtin());
  CHECK_THROWS_WITH(prior.set_personal_components(at::zeros({2, 3, kSize, kSize}),
                                                  sds::test::orbit_cameras({0.0}), "a red mug"),
                    Contains("one camera per personal image"));
  CHECK_THROWS_WITH(prior.set_personal_components(at::zeros({1, 3, kSize, kSize}),
                                                  sds::test::orbit_cameras({0.0}), ""),
                    Contains("null prompt"));
}
