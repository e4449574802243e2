#include "testing.h"

#include "helpers.h"

#include <filesystem>

#include "sds/core/error.h"
#include "sds/core/io.h"
#include "sds/core/json.h"
#include "sds/train/evaluation.h"

using Catch::Matchers::Contains;

namespace {

std::vector<std::filesystem::path> eval_configs() {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(SDS_SOURCE_DIR) / "examples/configs/eval")) {
    out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("every eval config runs a few steps and lands in the table", "[eval][e2e]") {
  sds::EvaluationOptions o;
  o.configs = eval_configs();
  REQUIRE(o.configs.size() >= 8);
  o.small = true;
  o.small_steps = 3;
  o.out = sds::test::fresh_temp_dir("eval_small");
  sds::EvaluationTable table = sds::evaluate(o);
  REQUIRE(table.cells.size() == o.configs.size());
  REQUIRE(table.runs.size() == o.configs.size());
  for (const auto& run : table.runs) {
    INFO(run.config);
    CHECK(std::isfinite(run.mean_db));
    CHECK(run.worst_db <= run.mean_db);
    CHECK(run.mean_db > 5.0);  // a few steps from the blob: far from ground truth, but an image
  }
  const std::string md = sds::read_text_file(o.out / "results.md");
  for (const auto& path : o.configs) CHECK_THAT(md, Contains("| " + path.stem().string() + " |"));
  sds::Json json = sds::read_json_file(o.out / "results.json");
  CHECK(json["cells"].size() == o.configs.size());
  CHECK(std::filesystem::exists(o.out / "sds" / "a_red_mug" / "seed0" / "metrics.json"));
}

TEST_CASE("the eval summary follows its definitions", "[eval]") {
  // Two seeds of one config, given directly: consistency counts seeds above the threshold.
  sds::EvaluationOptions o;
  o.configs = {std::filesystem::path(SDS_SOURCE_DIR) / "examples/configs/eval/sds.json"};
  o.concepts = {"a snowman"};
  o.seeds = 2;
  o.small = false;
  o.out = sds::test::fresh_temp_dir("eval_two_seeds");
  o.threshold_db = 0.0;  // every run passes
  // Shorten the runs through a config copy.
  sds::Json config = sds::read_json_file(o.configs[0]);
  config["steps"] = 4;
  config["eval"]["every"] = 2;
  sds::write_file_atomic(o.out / "short.json", config.dump());
  o.configs = {o.out / "short.json"};
  sds::EvaluationTable table = sds::evaluate(o);
  REQUIRE(table.runs.size() == 2);
  const auto& cell = table.cells.at(0);
  CHECK(cell.prompt == "a snowman");
  CHECK(cell.mean_db == Approx((table.runs[0].mean_db + table.runs[1].mean_db) / 2));
  CHECK(cell.mean_db_std == Approx(std::abs(table.runs[0].mean_db - table.runs[1].mean_db) / 2));
  CHECK(cell.consistency == 1.0);
  CHECK(cell.steps_to_threshold == 2.0);  // the first progress measurement
  CHECK(cell.diversity > 0.0);            // two seeds, two different blobs
  CHECK(table.runs[0].seed == 0);
  CHECK(table.runs[1].seed == 1);
}

TEST_CASE("bad eval options are errors", "[eval][errors]") {
  sds::EvaluationOptions o;
  o.out = sds::test::fresh_temp_dir("eval_bad");
  REQUIRE_THROWS_WITH(sds::evaluate(o), Contains("--configs"));
  o.configs = {"/nonexistent/config.json"};
  REQUIRE_THROWS_WITH(sds::evaluate(o), Contains("/nonexistent/config.json"));
  o.configs = eval_configs();
  o.seeds = 0;
  REQUIRE_THROWS_WITH(sds::evaluate(o), Contains("--seeds"));
}
