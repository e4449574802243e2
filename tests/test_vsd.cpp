#include "testing.h"

#include "objective_fixture.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/optim/adam.h>

#include "sds/core/error.h"
#include "sds/core/registry.h"
#include "sds/core/rng.h"
#include "sds/diffusion/exact_prior.h"
#include "sds/guidance/timestep.h"
#include "sds/guidance/vsd.h"
#include "sds/guidance/weighting.h"

using Catch::Matchers::Contains;

namespace {

constexpr int64_t kSize = sds::test::kObjectiveImageSize;
const char* const kPrompt = "a small robot";

std::shared_ptr<sds::ExactPrior> exact_prior() { return sds::test::builtin_exact_prior(); }

sds::CameraBatch cameras(std::vector<double> azimuths) {
  return sds::test::orbit_cameras(azimuths);
}

std::unique_ptr<sds::Vsd> build(const std::string& json) {
  auto g =
      sds::make<sds::Guidance>(sds::parse_json(json, "test"), "guidance", {exact_prior(), kPrompt});
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
  at::Tensor expected =
      (1 - prior.schedule().broadcast_alpha_bar(t, z)) * (eps_u + 7.5 * (eps_c - eps_u) - eps_c);
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

namespace {

// ProlificDreamer's eps_phi is the score of the particles' rendered distribution at camera c
// (eq. 6 and 8 of arXiv 2305.16213): for one particle rendering g(c), q_t(x_t | c) =
// N(sqrt(a) g(c), (1 - a) I), so eps_phi*(x_t) = (x_t - sqrt(a) g(c)) / sqrt(1 - a). Written
// here from that equation alone, as the particle model an ideal LoRA would converge to.
class SingleParticleScore : public sds::Prior {
 public:
  explicit SingleParticleScore(std::shared_ptr<sds::Prior> base) : base_(std::move(base)) {}
  const sds::NoiseSchedule& schedule() const override { return base_->schedule(); }
  at::Tensor predict_noise(const at::Tensor& x_t, const at::Tensor& t,
                           const sds::Conditioning&) override {
    const at::Tensor a = schedule().broadcast_alpha_bar(t, x_t);
    return (x_t - a.sqrt() * render) / (1 - a).sqrt();
  }
  at::Tensor render;  ///< the particle's renders at the step's cameras

 private:
  std::shared_ptr<sds::Prior> base_;
};

// A base prior whose particle model is the exact single-particle score.
class WithExactParticle : public sds::Prior {
 public:
  explicit WithExactParticle(std::shared_ptr<sds::Prior> base)
      : base_(base), particle(std::make_shared<SingleParticleScore>(base)) {}
  const sds::NoiseSchedule& schedule() const override { return base_->schedule(); }
  at::Tensor predict_noise(const at::Tensor& x_t, const at::Tensor& t,
                           const sds::Conditioning& c) override {
    return base_->predict_noise(x_t, t, c);
  }
  std::shared_ptr<sds::Prior> make_particle_model(const sds::ParticlePriorOptions&) override {
    return particle;
  }

 private:
  std::shared_ptr<sds::Prior> base_;

 public:
  std::shared_ptr<SingleParticleScore> particle;
};

}  // namespace

TEST_CASE("with the exact score of one particle's renders, VSD's update is SDS's at its scale",
          "[objectives][vsd]") {
  auto base = std::make_shared<WithExactParticle>(exact_prior());
  sds::VsdOptions o;  // guidance scale 7.5
  std::shared_ptr<sds::TimestepSchedule> timesteps =
      sds::make<sds::TimestepSchedule>(sds::Json("uniform"), "timesteps");
  std::shared_ptr<sds::Weighting> weighting =
      sds::make<sds::Weighting>(sds::Json("sds"), "weighting");
  sds::Vsd vsd(base, kPrompt, o, timesteps, weighting, {}, base);
  auto cams = cameras({30, 200});
  // A render that is not the ground truth, so that the update is not zero.
  at::Tensor z = exact_prior()->ground_truth(kPrompt, cams).rgb.to(at::kDouble) * 1.6 - 0.7;
  base->particle->render = z;
  auto gen = sds::make_generator(5);
  at::Tensor t = at::tensor({250, 700}, at::kLong);
  at::Tensor noise = at::randn(z.sizes(), gen, at::kDouble);
  auto sds_guidance =
      sds::make<sds::Guidance>(sds::parse_json(R"({"type": "sds", "guidance_scale": 7.5})", "test"),
                               "guidance", {exact_prior(), kPrompt});
  auto* sds_step = dynamic_cast<sds::DistillationGuidance*>(sds_guidance.get());
  REQUIRE(sds_step != nullptr);
  at::Tensor g_vsd = vsd.gradient(z, t, noise, cams);
  at::Tensor g_sds = sds_step->gradient(z, t, noise, cams);
  CHECK(g_sds.abs().max().item<double>() > 1e-3);
  CHECK(at::allclose(g_vsd, g_sds, 1e-6, 1e-8));
}
