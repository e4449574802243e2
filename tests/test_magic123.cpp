// Magic123 on the exact prior: reference-image conditioning (concept and pose from the image,
// relative cameras), the joint objective's gradient, the reference-view losses and the errors.
#include "testing.h"

#include "helpers.h"
#include "objective_fixture.h"

#include <torch/csrc/autograd/autograd.h>

#include "sds/core/error.h"
#include "sds/core/io.h"
#include "sds/core/registry.h"
#include "sds/core/rng.h"
#include "sds/diffusion/exact_prior.h"
#include "sds/guidance/magic123.h"
#include "sds/train/experiment.h"
#include "sds/train/trainer.h"

using Catch::Matchers::Contains;

namespace {

constexpr int64_t kSize = sds::test::kObjectiveImageSize;

std::shared_ptr<sds::ExactPrior> reference_prior() {
  static auto prior = sds::test::builtin_exact_prior("reference");
  return prior;
}

sds::Camera camera(double azimuth, double elevation = 0.0) {
  return sds::Camera::orbit(elevation, azimuth, 3.0, 40.0, kSize, kSize);
}

// The reference: `prompt` rendered from the grid view at `true_azimuth`, declared to be at
// azimuth 0 (the user's frame need not be the prior's).
sds::ReferenceView reference(const std::string& prompt, double true_azimuth) {
  at::Tensor rgb = reference_prior()->ground_truth(prompt, sds::CameraBatch({camera(true_azimuth)}))
                       .rgb[0];
  return sds::ReferenceView{rgb, camera(0.0)};
}

sds::Conditioning cond(const sds::CameraBatch& cams, const sds::ReferenceView& ref,
                       const std::string& prompt = "a red mug") {
  sds::Conditioning c = sds::test::text_and_cameras(cams, prompt);
  c.reference = ref;
  return c;
}

const char* const kMagic123 = R"({
  "type": "magic123",
  "prior_2d": {"type": "exact", "conditioning": "text"},
  "prior_3d": {"type": "exact", "conditioning": "reference"}
})";

std::unique_ptr<sds::Guidance> magic123(const std::string& json = kMagic123) {
  return sds::make<sds::Guidance>(sds::parse_json(json, "test"), "guidance",
                                  sds::Guidance::BuildContext{nullptr, "a snowman"});
}

}  // namespace

TEST_CASE("reference conditioning identifies the concept and pose from the image and applies "
          "the relative camera",
          "[magic123][exact_prior]") {
  auto& prior = *reference_prior();
  const auto& comps = prior.components(kSize, kSize);
  // The robot seen from azimuth 30 is the reference at "azimuth 0"; a camera at azimuth 90 is
  // 90 degrees from the reference, so the prior must denoise it as the robot from azimuth 120.
  // The prompt says "a red mug": a view-synthesis prior reads the image, not the text.
  sds::ReferenceView ref = reference("a small robot", 30.0);
  sds::CameraBatch cams({camera(90.0)});
  at::Tensor x_t = at::randn({1, 3, kSize, kSize}, sds::make_generator(1), at::kDouble);
  at::Tensor t = at::full({1}, 900, at::kLong);
  auto [r, index] = prior.responsibilities(x_t, t, cond(cams, ref), 0);
  const int64_t best = index[r.argmax()].item<int64_t>();
  CHECK(comps.concept_index[best] == 1);
  CHECK(comps.cameras[best].azimuth_deg() == Approx(120.0));
  CHECK(r.max().item<double>() > 0.5);

  // At low noise the denoised image is that view's render.
  at::Tensor truth = prior.ground_truth("a small robot", sds::CameraBatch({camera(120.0)})).rgb;
  truth = truth.to(at::kDouble) * 2 - 1;
  at::Tensor t_low = at::full({1}, 50, at::kLong);
  at::Tensor x_low = prior.schedule().add_noise(truth, x_t, t_low);
  at::Tensor x0 = prior.posterior_mean(x_low, t_low, cond(cams, ref));
  CHECK((x0 - truth).abs().max().item<double>() < 0.02);

  // The null prompt is Zero123's unconditional branch: every component, no camera.
  auto [r_null, index_null] = prior.responsibilities(x_t, t, cond(cams, ref, ""), 0);
  CHECK(index_null.numel() == static_cast<int64_t>(comps.cameras.size()));
}

TEST_CASE("reference conditioning's eps is the score of its density", "[magic123][exact_prior]") {
  auto& prior = *reference_prior();
  sds::ReferenceView ref = reference("a snowman", 0.0);
  sds::CameraBatch cams = sds::test::orbit_cameras({20.0, 140.0});
  auto gen = sds::make_generator(2);
  at::Tensor x_t = at::randn({2, 3, kSize, kSize}, gen, at::kDouble);
  at::Tensor t = at::tensor({300, 700}, at::kLong);
  at::Tensor x = x_t.clone().requires_grad_(true);
  at::Tensor grad =
      torch::autograd::grad({prior.log_density(x, t, cond(cams, ref)).sum()}, {x})[0];
  at::Tensor score_eps = -(1 - prior.schedule().broadcast_alpha_bar(t, x)).sqrt() * grad;
  CHECK(sds::test::max_abs_diff(prior.predict_noise(x_t, t, cond(cams, ref)), score_eps) < 1e-6);
}

TEST_CASE("magic123's gradient is lambda_2d g_2d + lambda_3d g_3d", "[magic123]") {
  auto guidance = magic123();
  auto& m = dynamic_cast<sds::Magic123&>(*guidance);
  sds::CameraBatch cams = sds::test::orbit_cameras({30.0, 210.0});
  at::Tensor rgb0 = at::rand({2, 3, kSize, kSize}, sds::make_generator(4));
  auto grad_of = [&](const std::function<at::Tensor(const sds::GuidanceInput&)>& loss) {
    at::Tensor rgb = rgb0.clone().requires_grad_(true);
    auto gen = sds::make_generator(8);
    return torch::autograd::grad({loss({rgb, cams, 3, 10, gen, gen})}, {rgb})[0];
  };
  at::Tensor joint = grad_of([&](const sds::GuidanceInput& in) { return m.compute(in).loss; });
  at::Tensor parts = grad_of([&](const sds::GuidanceInput& in) {
    // The same draws in the same order: the 2D objective first, then the 3D one.
    at::Tensor loss_2d = m.guidance_2d().compute(in).loss;
    at::Tensor loss_3d = m.guidance_3d().compute(in).loss;
    return 1.0 * loss_2d + 40.0 * loss_3d;
  });
  CHECK(sds::test::max_abs_diff(joint, parts) < 1e-6);
  CHECK(joint.abs().max().item<double>() > 0);
}

TEST_CASE("magic123's reference losses: 5 MSE(rgb a, ref a) + 0.5 MSE(alpha, ref alpha) + "
          "0.01 (1 - Pearson(depth, ref depth)) / 2",
          "[magic123]") {
  auto guidance = magic123();
  auto& m = dynamic_cast<sds::Magic123&>(*guidance);
  REQUIRE(m.reference_camera(kSize, kSize).has_value());
  CHECK(m.reference_camera(32, 32)->azimuth_deg() == 0.0);
  const sds::GroundTruthImages& ref = m.reference_images(kSize, kSize);
  at::Tensor ref_rgb = ref.rgb, ref_alpha = ref.alpha;
  at::Tensor truth = reference_prior()->ground_truth("a snowman", sds::CameraBatch({camera(0.0)}))
                         .rgb;
  CHECK(sds::test::max_abs_diff(ref_rgb, truth) == 0.0);

  auto gen = sds::make_generator(6);
  at::Tensor rgb = at::rand({1, 3, kSize, kSize}, gen).requires_grad_(true);
  at::Tensor alpha = at::rand({1, 1, kSize, kSize}, gen).requires_grad_(true);
  at::Tensor depth = at::rand({1, 1, kSize, kSize}, gen).requires_grad_(true);
  sds::GuidanceOutput out = m.reference_loss(rgb, alpha, depth, 0, 10);
  // The depth term, independently: Pearson over the reference mask in float64.
  at::Tensor mask = (ref_alpha > 0.5).flatten();
  REQUIRE(mask.sum().item<int64_t>() > 4);
  at::Tensor p = depth.detach().flatten().to(at::kDouble).masked_select(mask);
  at::Tensor q = ref.depth.flatten().to(at::kDouble).masked_select(mask);
  const double n = static_cast<double>(p.numel());
  const double cov = (p * q).sum().item<double>() / n - p.mean().item<double>() * q.mean().item<double>();
  const double pearson = cov / (p.std(false).item<double>() * q.std(false).item<double>());
  CHECK(out.metrics.at("ref_depth").item<double>() == Approx((1 - pearson) / 2).epsilon(1e-4));
  const double n_rgb = 3.0 * kSize * kSize, n_alpha = 1.0 * kSize * kSize;
  at::Tensor diff = (rgb - ref_rgb) * ref_alpha;
  CHECK(out.loss.item<double>() ==
        Approx(5.0 * diff.pow(2).sum().item<double>() / n_rgb +
               0.5 * (alpha - ref_alpha).pow(2).sum().item<double>() / n_alpha +
               0.01 * (1 - pearson) / 2)
            .epsilon(1e-5));
  auto grads = torch::autograd::grad({out.loss}, {rgb, alpha});
  // The depth of the ground truth is the distance to the surface: about the camera radius 3
  // minus the object's extent, and 0 where the ray misses.
  CHECK(ref.depth.masked_select(ref.alpha == 0).abs().max().item<double>() == 0.0);
  CHECK(ref.depth.max().item<double>() < 3.0);
  CHECK(ref.depth.masked_select(ref.alpha == 1).min().item<double>() > 1.5);
  CHECK(sds::test::max_abs_diff(grads[0], 5.0 * 2 * diff * ref_alpha / n_rgb) < 1e-7);
  CHECK(sds::test::max_abs_diff(grads[1], 0.5 * 2 * (alpha - ref_alpha) / n_alpha) < 1e-7);
}

TEST_CASE("the trainer renders magic123's reference view and fits it", "[magic123][trainer]") {
  sds::Json config = sds::read_json_file(std::string(SDS_SOURCE_DIR) +
                                         "/examples/configs/eval/magic123.json");
  config["steps"] = 40;
  config["prompt"] = "a house";
  config["trainer"]["log_every"] = 1;  // the reference loss of every step
  sds::Experiment e = sds::Experiment::from_config(config, {});
  sds::Trainer trainer(e.representation, e.sampler, e.guidance, e.trainer);
  std::vector<double> ref_rgb;
  trainer.train([&](const sds::StepInfo& info) {
    REQUIRE(info.logged);
    REQUIRE(info.metrics.count("ref_rgb") == 1);
    REQUIRE(info.metrics.count("3d_t") == 1);
    ref_rgb.push_back(info.metrics.at("ref_rgb"));
  });
  CHECK(ref_rgb.back() < 0.5 * ref_rgb.front());
}

TEST_CASE("magic123 takes its reference from a PNG file, composited over white",
          "[magic123]") {
  // The snowman's frontal view as a straight-alpha RGBA PNG: the colour under the coverage.
  const sds::GroundTruthImages truth =
      reference_prior()->ground_truth("a snowman", sds::CameraBatch({camera(0.0)}));
  const at::Tensor alpha = truth.alpha[0];
  const at::Tensor colour =
      ((truth.rgb[0] - (1 - alpha)) / alpha.clamp_min(1e-3)).clamp(0, 1) * (alpha > 0);
  const auto dir = sds::test::fresh_temp_dir("magic123_png");
  sds::write_png(dir / "snowman.png", at::cat({colour, alpha}));
  sds::Json config = sds::parse_json(kMagic123, "test");
  config["depth_weight"] = 0.0;
  config["reference"] = {{"image", (dir / "snowman.png").string()}};
  auto guidance = magic123(config.dump());
  auto& m = dynamic_cast<sds::Magic123&>(*guidance);
  const sds::GroundTruthImages& ref = m.reference_images(kSize, kSize);
  CHECK(!ref.depth.defined());
  CHECK(sds::test::max_abs_diff(ref.alpha, truth.alpha) <= 0.5 / 255 + 1e-6);
  CHECK(sds::test::max_abs_diff(ref.rgb, truth.rgb) < 2.5 / 255);
  // Another render size resizes the file's image.
  CHECK(m.reference_images(kSize / 2, kSize / 2).rgb.sizes() ==
        at::IntArrayRef({1, 3, kSize / 2, kSize / 2}));
  sds::GuidanceOutput out =
      m.reference_loss(truth.rgb, truth.alpha, {}, 0, 1);  // no depth term, no depth needed
  CHECK(out.loss.item<double>() < 1e-5);
  CHECK(out.metrics.count("ref_depth") == 0);

  config["depth_weight"] = 0.01;
  CHECK_THROWS_WITH(magic123(config.dump()), Contains("depth_weight must be 0"));
  config["depth_weight"] = 0.0;
  config["reference"] = {{"image", (dir / "missing.png").string()}};
  CHECK_THROWS_WITH(magic123(config.dump()), Contains("missing.png"));
}

TEST_CASE("magic123 names what a 3D prior lacks", "[magic123][errors]") {
  // A text prior cannot take the reference view.
  CHECK_THROWS_WITH(magic123(R"({"type": "magic123",
                                 "prior_3d": {"type": "exact", "conditioning": "text"}})"),
                    Contains("Prior::conditions_on_reference"));
  // A reference-image prior that does not know the prompt's views needs a reference image.
  struct Blind : sds::Prior {
    sds::NoiseSchedule schedule_ = sds::NoiseSchedule::scaled_linear();
    const sds::NoiseSchedule& schedule() const override { return schedule_; }
    at::Tensor predict_noise(const at::Tensor& x, const at::Tensor&,
                             const sds::Conditioning&) override {
      return at::zeros_like(x);
    }
    bool conditions_on_reference() const override { return true; }
  };
  auto objective = [](std::shared_ptr<sds::Prior> prior) {
    auto g = sds::make<sds::Guidance>(sds::parse_json(R"({"type": "sds"})", "test"), "guidance",
                                      sds::Guidance::BuildContext{std::move(prior), "a snowman"});
    return std::shared_ptr<sds::DistillationGuidance>(
        dynamic_cast<sds::DistillationGuidance*>(g.release()));
  };
  sds::Magic123 m(objective(sds::test::builtin_exact_prior("text")),
                  objective(std::make_shared<Blind>()), sds::Magic123Options{});
  CHECK_THROWS_WITH(m.reference_images(kSize, kSize), Contains("Prior::known_views"));
}

TEST_CASE("bad reference and magic123 input is an sds::Error", "[magic123][errors]") {
  auto& prior = *reference_prior();
  sds::CameraBatch cams({camera(0.0)});
  at::Tensor x = at::zeros({1, 3, kSize, kSize}, at::kDouble);
  at::Tensor t = at::full({1}, 300, at::kLong);
  sds::Conditioning no_ref;
  no_ref.prompts = {"a house"};
  no_ref.cameras = cams;
  CHECK_THROWS_WITH(prior.predict_noise(x, t, no_ref), Contains("Conditioning::reference"));
  sds::ReferenceView small = reference("a house", 0.0);
  small.rgb = small.rgb.narrow(1, 0, kSize / 2);
  CHECK_THROWS_WITH(prior.predict_noise(x, t, cond(cams, small)), Contains("reference image"));
  sds::ReferenceView nan = reference("a house", 0.0);
  nan.rgb[0][0][0] = std::nan("");
  CHECK_THROWS_WITH(prior.predict_noise(x, t, cond(cams, nan)), Contains("finite"));

  CHECK_THROWS_WITH(magic123(R"({"type": "magic123", "lambda_3d": -1})"), Contains("lambda_3d"));
  CHECK_THROWS_WITH(magic123(R"({"type": "magic123", "reference": {"radius": 0}})"),
                    Contains("radius"));
  auto guidance = magic123();
  CHECK_THROWS_WITH(guidance->reference_loss(at::zeros({2, 3, kSize, kSize}),
                                             at::zeros({2, 1, kSize, kSize}), {}, 0, 1),
                    Contains("[1, 3, H, W]"));
  CHECK_THROWS_WITH(guidance->reference_loss(at::zeros({1, 3, kSize, kSize}),
                                             at::zeros({1, 1, kSize, kSize}), {}, 0, 1),
                    Contains("depth_weight"));
}
