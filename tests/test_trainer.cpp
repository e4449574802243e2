#include "testing.h"

#include "helpers.h"

#include <filesystem>

#include "sds/core/error.h"
#include "sds/core/io.h"
#include "sds/core/json.h"
#include "sds/repr/voxel_grid.h"
#include "sds/train/experiment.h"
#include "sds/diffusion/ground_truth.h"
#include "sds/diffusion/scene.h"
#include "sds/train/generate.h"
#include "sds/train/metrics.h"
#include "sds/train/trainer.h"

using Catch::Matchers::Contains;

namespace {

sds::Json quick_config() {
  return sds::read_json_file(std::filesystem::path(SDS_SOURCE_DIR) / "examples/configs/quick.json");
}

sds::Trainer make_trainer(const sds::Json& config, const std::filesystem::path& dir,
                          sds::Experiment& e) {
  e = sds::Experiment::from_config(config, dir);
  return sds::Trainer(e.representation, e.sampler, e.guidance, e.trainer);
}

// A representation whose render turns NaN after `bad_step` steps.
class NanAfter : public sds::Representation {
 public:
  explicit NanAfter(int64_t bad_step) : bad_step_(bad_step) {
    value_ = at::full({1}, 0.5).requires_grad_(true);
  }
  sds::RenderOutput render(const sds::CameraBatch& cams, const sds::RenderOptions&) override {
    at::Tensor img = value_.view({1, 1, 1, 1}).expand({cams.size(), 3, cams.height(), cams.width()});
    if (calls_++ >= bad_step_) img = img * NAN;
    return {img, at::ones({cams.size(), 1, cams.height(), cams.width()}), {}, {}};
  }
  std::vector<sds::ParameterGroup> parameter_groups() override { return {{"v", {value_}, 0.01}}; }
  std::vector<std::pair<std::string, at::Tensor>> named_tensors() override { return {{"v", value_}}; }

 private:
  at::Tensor value_;
  int64_t bad_step_;
  int64_t calls_ = 0;
};

// A solid ball of `radius` at the origin, and nothing else.
class Ball : public sds::Representation {
 public:
  explicit Ball(double radius) : radius_(radius) {}
  sds::RenderOutput render(const sds::CameraBatch&, const sds::RenderOptions&) override {
    return {};
  }
  std::vector<sds::ParameterGroup> parameter_groups() override { return {}; }
  std::vector<std::pair<std::string, at::Tensor>> named_tensors() override { return {}; }
  at::Tensor inside(const at::Tensor& points) const override {
    return points.norm(2, 1) < radius_;
  }

 private:
  double radius_;
};

sds::Concept sphere_concept(double radius) {
  return {"a sphere", {1, 1, 1}, {sds::Primitive::sphere({0, 0, 0}, radius, {1, 0, 0})}};
}

}  // namespace

TEST_CASE("geometry IoU scores a representation's solid against the exact object", "[metrics]") {
  // Nested balls: IoU is the volume ratio (r / R)^3, up to the 64^3 sampling.
  CHECK(*sds::geometry_iou(Ball(0.5), sphere_concept(0.5)) == Approx(1.0));
  CHECK(*sds::geometry_iou(Ball(0.5), sphere_concept(0.4)) == Approx(0.512).epsilon(0.03));
  CHECK(*sds::geometry_iou(Ball(0.3), sphere_concept(0.6)) == Approx(0.125).epsilon(0.03));
  // A representation without inside() has no geometry score.
  CHECK_FALSE(sds::geometry_iou(NanAfter(0), sphere_concept(0.5)).has_value());
  REQUIRE_THROWS_AS(sds::geometry_iou(Ball(0.5), sphere_concept(0.5), 2), sds::Error);

  // A voxel grid whose geometry is fixed to a concept scores high on it and low on another.
  const sds::Scene scene = sds::Scene::builtin();
  const sds::Concept mug = scene.find("a red mug"), snowman = scene.find("a snowman");
  sds::VoxelGrid grid;
  grid.fix_geometry([&](const at::Tensor& points, double cell) {
    return sds::concept_occupancy(mug, points, cell);
  });
  const double own = *sds::geometry_iou(grid, mug), other = *sds::geometry_iou(grid, snowman);
  INFO("mug " << own << ", snowman " << other);
  CHECK(own >= 0.97);
  CHECK(other <= 0.5);
}

TEST_CASE("quick.json reaches 24 dB held-out PSNR end to end", "[e2e]") {
  auto dir = sds::test::fresh_temp_dir("quick");
  sds::GenerateResult r = sds::generate(quick_config(), dir);
  INFO("mean " << r.held_out.mean << " dB, worst " << r.held_out.min << " dB, " << r.seconds << " s");
  CHECK(r.held_out.mean >= 24.0);
  CHECK(r.held_out.psnr_per_view.size() == 24);
  sds::Json metrics = sds::read_json_file(dir / "metrics.json");
  CHECK(metrics["psnr_heldout_mean"].get<double>() == Approx(r.held_out.mean));
  CHECK(metrics["psnr_heldout_min"].get<double>() == Approx(r.held_out.min));
  CHECK(metrics["steps"].get<int64_t>() == r.steps);
  CHECK(metrics.contains("seconds"));
  REQUIRE(r.geometry_iou.has_value());
  INFO("geometry IoU " << *r.geometry_iou);
  CHECK(*r.geometry_iou >= 0.8);
  CHECK(metrics["geometry_iou"].get<double>() == Approx(*r.geometry_iou));
  CHECK(std::filesystem::exists(dir / "config.json"));
  CHECK(std::filesystem::exists(dir / "turntable" / "000.png"));
  CHECK(std::filesystem::exists(dir / "turntable" / "035.png"));
  CHECK(std::filesystem::exists(dir / "checkpoint" / "latest.pt"));
}

static void check_resume(sds::Json config, const std::string& name) {
  config["steps"] = 12;
  config["trainer"]["checkpoint_every"] = 5;

  auto dir_a = sds::test::fresh_temp_dir("resume_a_" + name);
  sds::Experiment ea;
  sds::Trainer a = make_trainer(config, dir_a, ea);
  a.train();

  auto dir_b = sds::test::fresh_temp_dir("resume_b_" + name);
  {
    sds::Experiment eb;
    sds::Trainer b = make_trainer(config, dir_b, eb);
    for (int i = 0; i < 7; ++i) b.step();  // checkpoint written at step 5
  }
  sds::Experiment ec;
  sds::Trainer c = make_trainer(config, dir_b, ec);
  c.load_checkpoint(c.checkpoint_path());
  REQUIRE(c.steps_done() == 5);
  c.train();

  auto ta = ea.representation->named_tensors();
  auto tc = ec.representation->named_tensors();
  for (auto& t : ea.guidance->named_tensors()) ta.push_back(t);
  for (auto& t : ec.guidance->named_tensors()) tc.push_back(t);
  REQUIRE(ta.size() == tc.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    INFO(name << ": " << ta[i].first);
    CHECK(at::equal(ta[i].second, tc[i].second));
  }
}

TEST_CASE("resuming from a checkpoint gives the parameters of an uninterrupted run", "[e2e]") {
  check_resume(quick_config(), "sds");
  // VSD: the particle model's weights and Adam state are part of the checkpoint.
  sds::Json vsd = quick_config();
  vsd["guidance"] = {{"type", "vsd"}, {"particle_lr", 0.003}};
  check_resume(vsd, "vsd");
  // Gaussians: densification changes the parameter count after the checkpoint (refinements at
  // steps 3, 6 and 9, growth capped at 1000), so the restore resizes tensors and Adam state.
  sds::Json gs = sds::read_json_file(std::filesystem::path(SDS_SOURCE_DIR) /
                                     "examples/configs/gaussians.json");
  gs["camera_sampler"]["height"] = 16;
  gs["camera_sampler"]["width"] = 16;
  gs["representation"]["num_points"] = 300;
  gs["representation"]["densify"] = {{"preset", "dreamgaussian"}, {"grow_grad2d", 1e-9},
                                     {"refine_start", 1}, {"refine_every", 3},
                                     {"max_gaussians", 1000}};
  check_resume(gs, "gaussians");
}

TEST_CASE("a NaN stops the run naming the step and the part, keeping the last checkpoint",
          "[trainer][errors]") {
  sds::Json config = quick_config();
  auto dir = sds::test::fresh_temp_dir("nan");
  sds::Experiment e = sds::Experiment::from_config(config, dir);
  sds::TrainerOptions o = e.trainer;
  o.steps = 10;
  o.checkpoint_every = 2;
  sds::Trainer t(std::make_shared<NanAfter>(3), e.sampler, e.guidance, o);
  REQUIRE_THROWS_WITH(t.train(), Contains("step 4") && Contains("render") &&
                                     Contains("checkpoint"));
  CHECK(t.steps_done() == 3);
  // The checkpoint on disk is the one of step 2, the last good one written.
  sds::Trainer restored(std::make_shared<NanAfter>(100), e.sampler, e.guidance, o);
  restored.load_checkpoint(restored.checkpoint_path());
  CHECK(restored.steps_done() == 2);
}

TEST_CASE("bad configs are clear errors", "[trainer][errors]") {
  sds::Json config = quick_config();
  config["stepz"] = 3;
  REQUIRE_THROWS_WITH(sds::Experiment::from_config(config), Contains("stepz"));
  config = quick_config();
  config["prompt"] = "a purple giraffe";
  REQUIRE_THROWS_WITH(sds::generate(config, sds::test::fresh_temp_dir("bad_prompt")),
                      Contains("a purple giraffe") && Contains("known"));
  config = quick_config();
  config["representation"]["resolution"] = 1;
  REQUIRE_THROWS_WITH(sds::Experiment::from_config(config), Contains("resolution"));
  config = quick_config();
  config["prior"]["scene"] = "/nonexistent/scene.json";
  REQUIRE_THROWS_WITH(sds::Experiment::from_config(config), Contains("/nonexistent/scene.json"));
  config = quick_config();
  auto dir = sds::test::fresh_temp_dir("bad_checkpoint");
  sds::write_file_atomic(dir / "checkpoint" / "latest.pt", "not a checkpoint");
  sds::Experiment e;
  sds::Trainer t = make_trainer(config, dir, e);
  REQUIRE_THROWS_WITH(t.load_checkpoint(t.checkpoint_path()), Contains("latest.pt"));
}

TEST_CASE("every shipped config builds", "[trainer]") {
  std::vector<std::filesystem::path> paths;
  const auto configs = std::filesystem::path(SDS_SOURCE_DIR) / "examples/configs";
  for (const char* name : {"default.json", "quick.json"}) paths.push_back(configs / name);
  for (const auto& entry : std::filesystem::directory_iterator(configs / "eval")) {
    paths.push_back(entry.path());
  }
  for (const auto& path : paths) {
    INFO(path.string());
    REQUIRE_NOTHROW(sds::Experiment::from_config(sds::read_json_file(path)));
  }
}
