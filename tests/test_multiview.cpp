// MVDream on the exact prior: the multi-view prior's joint denoiser against its score and against
// the renders, the grouped camera sampler, the x0-reconstruction form of SDS, and the errors.
#include "testing.h"

#include "helpers.h"
#include "objective_fixture.h"

#include <torch/csrc/autograd/autograd.h>

#include <cmath>

#include "sds/camera/sampler.h"
#include "sds/core/error.h"
#include "sds/core/rng.h"
#include "sds/diffusion/exact_prior.h"
#include "sds/guidance/sds.h"

using Catch::Matchers::Contains;

namespace {

constexpr int64_t kSize = sds::test::kObjectiveImageSize;

std::shared_ptr<sds::ExactPrior> multiview_prior() {
  static auto prior = sds::test::builtin_exact_prior("multiview");
  return prior;
}

// A group of four views 90 degrees apart starting at `azimuth`.
sds::CameraBatch group(double azimuth, double elevation = 15.0) {
  return sds::test::orbit_cameras({azimuth, azimuth + 90, azimuth + 180, azimuth + 270}, elevation);
}

sds::Conditioning cond(const sds::CameraBatch& cams, const std::string& prompt) {
  return sds::test::text_and_cameras(cams, prompt);
}

at::Tensor renders(const std::string& prompt, const sds::CameraBatch& cams) {
  return multiview_prior()->ground_truth(prompt, cams).rgb.to(at::kDouble) * 2 - 1;
}

double rms(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).pow(2).mean().sqrt().item<double>();
}

}  // namespace

TEST_CASE("the multi-view prior's eps is the score of its joint density", "[multiview]") {
  auto& prior = *multiview_prior();
  auto gen = sds::make_generator(3);
  sds::CameraBatch cams = group(25.0, 10.0);
  at::Tensor x0 = renders("a small robot", cams) + 0.3 * at::randn({4, 3, kSize, kSize}, gen,
                                                                    at::kDouble);
  for (int64_t step : {100, 400, 800}) {
    at::Tensor t = at::full({4}, step, at::kLong);
    at::Tensor x_t = prior.schedule().add_noise(x0, at::randn(x0.sizes(), gen, at::kDouble), t);
    for (const char* prompt : {"a small robot", ""}) {
      sds::Conditioning c = cond(cams, prompt);
      at::Tensor x = x_t.clone().requires_grad_(true);
      at::Tensor log_p = prior.log_density(x, t, c);
      REQUIRE(log_p.sizes() == at::IntArrayRef{1});  // one joint value per group
      at::Tensor grad = torch::autograd::grad({log_p.sum()}, {x})[0];
      at::Tensor score_eps = -(1 - prior.schedule().broadcast_alpha_bar(t, x)).sqrt() * grad;
      INFO("t " << step << ", prompt \"" << prompt << "\"");
      CHECK(sds::test::max_abs_diff(prior.predict_noise(x_t, t, c), score_eps) < 1e-6);
    }
  }
}

TEST_CASE("multi-view groups are denoised jointly: one view identifies the concept for all",
          "[multiview]") {
  // View 0 is an exact render of the snowman; views 1-3 are pure noise. With the null prompt
  // the joint prior still denoises views 1-3 to the snowman's other sides, while the
  // single-view camera prior can only guess the concept for each view on its own.
  auto& prior = *multiview_prior();
  auto gen = sds::make_generator(5);
  sds::CameraBatch cams = group(0.0);
  at::Tensor truth = renders("a snowman", cams);
  const int64_t step = 600;
  const double a = prior.schedule().alpha_bar(step);
  at::Tensor x_t = std::sqrt(1 - a) * at::randn(truth.sizes(), gen, at::kDouble);
  x_t[0] = std::sqrt(a) * truth[0];
  at::Tensor t = at::full({4}, step, at::kLong);
  at::Tensor x0 = prior.posterior_mean(x_t, t, cond(cams, ""));
  for (int64_t j = 1; j < 4; ++j) {
    INFO("view " << j);
    CHECK(rms(x0[j], truth[j]) < 0.05);
  }
  auto [r, index] = prior.responsibilities(x_t, t, cond(cams, ""), 2);
  const auto& comps = prior.components(kSize, kSize);
  const int64_t best = index[r.argmax()].item<int64_t>();
  CHECK(comps.concept_index[best] == 2);  // the snowman
  CHECK(comps.cameras[best].azimuth_deg() == Approx(180.0));

  sds::ExactPrior single(sds::Scene::builtin());
  at::Tensor x0_single = single.posterior_mean(x_t, t, cond(cams, ""));
  double single_error = 0, joint_error = 0;
  for (int64_t j = 1; j < 4; ++j) {
    single_error += rms(x0_single[j], truth[j]);
    joint_error += rms(x0[j], truth[j]);
  }
  CHECK(single_error > 3 * joint_error);
}

TEST_CASE("a multi-view tuple is 4 grid views 90 degrees apart of one concept", "[multiview]") {
  auto& prior = *multiview_prior();
  const auto& comps = prior.components(kSize, kSize);
  REQUIRE(comps.tuples.size(1) == 4);
  CHECK(comps.tuples.size(0) == static_cast<int64_t>(comps.cameras.size()));
  auto acc = comps.tuples.accessor<int64_t, 2>();
  for (int64_t k = 0; k < comps.tuples.size(0); k += 17) {
    const sds::Camera& first = comps.cameras[acc[k][0]];
    for (int64_t j = 1; j < 4; ++j) {
      const sds::Camera& view = comps.cameras[acc[k][j]];
      CHECK(comps.concept_index[acc[k][j]] == comps.concept_index[acc[k][0]]);
      CHECK(view.elevation_deg() == first.elevation_deg());
      CHECK(std::fmod(view.azimuth_deg() - first.azimuth_deg() + 360.0, 360.0) ==
            Approx(90.0 * static_cast<double>(j)));
    }
  }
}

TEST_CASE("the orbit sampler draws MVDream groups", "[multiview][camera]") {
  sds::OrbitSamplerOptions o;
  o.batch_size = 8;
  o.views_per_group = 4;
  o.radius = {2.5, 3.5};
  o.fovy_deg = {30.0, 50.0};
  sds::OrbitSampler sampler(o);
  auto gen = sds::make_generator(9);
  sds::CameraBatch cams = sampler.sample(0, gen);
  REQUIRE(cams.size() == 8);
  for (int64_t g = 0; g < 2; ++g) {
    const sds::Camera& first = cams[4 * g];
    for (int64_t j = 1; j < 4; ++j) {
      const sds::Camera& c = cams[4 * g + j];
      CHECK(c.elevation_deg() == first.elevation_deg());
      CHECK(c.radius() == Approx(first.radius()));
      CHECK(c.fy == first.fy);
      CHECK(std::fmod(c.azimuth_deg() - first.azimuth_deg() + 360.0, 360.0) ==
            Approx(90.0 * static_cast<double>(j)));
    }
  }
  CHECK(cams[0].elevation_deg() != cams[4].elevation_deg());
  o.batch_size = 6;
  CHECK_THROWS_WITH(sds::OrbitSampler(o), Contains("views_per_group"));
}

TEST_CASE("MVDream's x0-reconstruction SDS: g = z - rescaled x0_hat(eps_cfg)", "[multiview]") {
  auto prior = multiview_prior();
  auto gen = sds::make_generator(13);
  sds::CameraBatch cams = group(40.0);
  at::Tensor z = renders("a house", cams) + 0.2 * at::randn({4, 3, kSize, kSize}, gen, at::kDouble);
  at::Tensor t = at::full({4}, 500, at::kLong);
  at::Tensor noise = at::randn(z.sizes(), gen, at::kDouble);
  const double scale = 50.0;
  for (double phi : {0.0, 0.5}) {
    sds::SdsOptions o;
    o.guidance_scale = scale;
    o.recon_loss = true;
    o.recon_std_rescale = phi;
    sds::Sds sds(prior, "a house", o, std::make_unique<sds::UniformTimestep>(sds::UniformTimestepOptions{20, 980, true}),
                 std::make_unique<sds::SdsWeighting>());
    at::Tensor g = sds.gradient(z, t, noise, cams);

    const double a = prior->schedule().alpha_bar(500);
    at::Tensor z_t = std::sqrt(a) * z + std::sqrt(1 - a) * noise;
    at::Tensor e_c = prior->predict_noise(z_t, t, cond(cams, "a house"));
    at::Tensor e_u = prior->predict_noise(z_t, t, cond(cams, ""));
    at::Tensor x0 = (z_t - std::sqrt(1 - a) * (e_u + scale * (e_c - e_u))) / std::sqrt(a);
    at::Tensor x0_text = (z_t - std::sqrt(1 - a) * e_c) / std::sqrt(a);
    const double factor = (x0_text.std().item<double>() + 1e-8) / (x0.std().item<double>() + 1e-8);
    at::Tensor expected = z - (phi * factor * x0 + (1 - phi) * x0);
    INFO("phi " << phi);
    CHECK(sds::test::max_abs_diff(g, expected) < 1e-9);
  }
}

TEST_CASE("bad multi-view input is an sds::Error", "[multiview][errors]") {
  auto& prior = *multiview_prior();
  sds::CameraBatch cams = group(0.0);
  at::Tensor x = at::zeros({4, 3, kSize, kSize}, at::kDouble);
  at::Tensor t = at::full({4}, 300, at::kLong);
  sds::CameraBatch three = sds::test::orbit_cameras({0, 90, 180});
  CHECK_THROWS_WITH(prior.predict_noise(x.narrow(0, 0, 3), t.narrow(0, 0, 3), cond(three, "")),
                    Contains("groups of 4"));
  CHECK_THROWS_WITH(prior.predict_noise(x, at::tensor({300, 300, 301, 300}, at::kLong),
                                        cond(cams, "")),
                    Contains("shares one timestep"));
  sds::Conditioning mixed = cond(cams, "");
  mixed.prompts = {"a house", "a house", "a snowman", "a house"};
  CHECK_THROWS_WITH(prior.predict_noise(x, t, mixed), Contains("shares one prompt"));
  CHECK_THROWS_WITH(prior.predict_noise(x, t, cond(cams, "a house, front view")),
                    Contains("view suffix"));
  sds::Conditioning no_cams;
  no_cams.prompts = {"a house"};
  CHECK_THROWS_WITH(prior.predict_noise(x, t, no_cams), Contains("cameras"));
  sds::ExactPriorOptions o;
  o.conditioning = "multiview";
  o.views_per_group = 7;
  CHECK_THROWS_WITH(sds::ExactPrior(sds::Scene::builtin(), o), Contains("multiple"));
  sds::SdsOptions so;
  so.recon_loss = true;
  so.recon_std_rescale = 1.5;
  CHECK_THROWS_WITH(sds::Sds(multiview_prior(), "a house", so,
                             std::make_unique<sds::UniformTimestep>(),
                             std::make_unique<sds::SdsWeighting>()),
                    Contains("recon_std_rescale"));
}
