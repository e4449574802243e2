#include "testing.h"

#include "helpers.h"

#include <filesystem>

#include "sds/core/error.h"
#include "sds/core/io.h"
#include "sds/core/json.h"
#include "sds/repr/voxel_grid.h"
#include "sds/train/experiment.h"
#include "sds/train/generate.h"
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

}  // namespace

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
