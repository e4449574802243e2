#include "testing.h"

#include "helpers.h"

#include <cmath>
#include <filesystem>
#include <utility>
#include <vector>

#include "sds/core/error.h"
#include "sds/core/io.h"
#include "sds/core/json.h"
#include "sds/train/evaluation.h"
#include "sds/train/metrics.h"

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

// A run of `length` steps that reached the threshold at `reached` (-1: never).
sds::EvaluationRun run_of(std::string config, std::string prompt, uint64_t seed, double mean_db,
                          double worst_db, int64_t reached, int64_t length = 100) {
  sds::EvaluationRun r;
  r.config = std::move(config);
  r.prompt = std::move(prompt);
  r.seed = seed;
  r.mean_db = mean_db;
  r.worst_db = worst_db;
  r.steps_to_threshold = reached;
  r.steps = length;
  r.seconds = 1.0;
  return r;
}

sds::StepsToThreshold steps_of(const std::vector<int64_t>& reached, int64_t length = 100) {
  std::vector<sds::EvaluationRun> runs;
  for (int64_t s : reached) runs.push_back(run_of("c", "p", runs.size(), 20, 15, s, length));
  return sds::steps_to_threshold(runs);
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
  CHECK(json["configs"].size() == o.configs.size());
  for (const auto& key :
       {"psnr_worst_mean", "psnr_worst_mean_std", "psnr_worst_min", "runs", "steps_reached",
        "steps_to_threshold_median", "steps_to_threshold_median_above"}) {
    INFO(key);
    CHECK(json["cells"][0].contains(key));
    CHECK(json["configs"][0].contains(key));
  }
  CHECK(json["cells"][0]["runs"] == 1);
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
  CHECK(cell.worst_db_mean == Approx((table.runs[0].worst_db + table.runs[1].worst_db) / 2));
  CHECK(cell.worst_db_std ==
        Approx(std::abs(table.runs[0].worst_db - table.runs[1].worst_db) / 2).margin(1e-12));
  CHECK(cell.worst_db_min == std::min(table.runs[0].worst_db, table.runs[1].worst_db));
  CHECK(cell.steps.reached == 2);
  CHECK(cell.steps.runs == 2);
  REQUIRE(cell.steps.median.has_value());
  CHECK(*cell.steps.median == 2.0);  // the first progress measurement
  CHECK(table.runs[0].steps == 4);
  CHECK(cell.diversity > 0.0);  // two seeds, two different blobs
  CHECK(table.runs[0].seed == 0);
  CHECK(table.runs[1].seed == 1);
}

TEST_CASE("steps to threshold count the runs that never reach it", "[eval]") {
  // 1 of 3 unreached: it sorts last, so the median is the larger reached run, not the mean 40.
  sds::StepsToThreshold one = steps_of({50, -1, 30});
  CHECK(one.reached == 2);
  CHECK(one.runs == 3);
  REQUIRE(one.median.has_value());
  CHECK(*one.median == 50.0);
  CHECK(one.reached_text() == "2/3");
  CHECK(one.median_text() == "50");
  // 2 of 3 unreached: the median is only known to exceed the run length.
  sds::StepsToThreshold two = steps_of({-1, 40, -1});
  CHECK(two.reached == 1);
  CHECK(two.runs == 3);
  CHECK_FALSE(two.median.has_value());
  CHECK(two.median_above == 100.0);
  CHECK(two.reached_text() == "1/3");
  CHECK(two.median_text() == "> 100");
  // Even counts average the middle two; exactly half unreached puts one of them past the run.
  sds::StepsToThreshold quarter = steps_of({40, -1, 10, 20});
  REQUIRE(quarter.median.has_value());
  CHECK(*quarter.median == 30.0);
  sds::StepsToThreshold half = steps_of({60, -1, 20, -1});
  CHECK(half.reached == 2);
  CHECK_FALSE(half.median.has_value());
  CHECK(half.median_above == 80.0);  // (60 + 100) / 2
  CHECK(half.median_text() == "> 80");
  CHECK(steps_of({-1, -1, -1}, 250).median_text() == "> 250");
  CHECK(steps_of({5, 15}).median_text() == "10");
  sds::StepsToThreshold none = steps_of({});
  CHECK(none.reached_text() == "0/0");
  CHECK(none.median_text() == "-");
}

TEST_CASE("a cell summary is means, stds over seeds, the worst run and a censored median",
          "[eval]") {
  const std::vector<sds::EvaluationRun> runs = {run_of("c", "p", 0, 20, 15, 30),
                                                run_of("c", "p", 1, 22, 18, -1),
                                                run_of("c", "p", 2, 24, 12, 70)};
  sds::EvaluationCell c = sds::summarise_runs(runs, 14.0);
  CHECK(c.config == "c");
  CHECK(c.prompt == "p");
  CHECK(c.mean_db == Approx(22.0));
  CHECK(c.mean_db_std == Approx(std::sqrt(8.0 / 3.0)));    // deviations -2, 0, 2
  CHECK(c.worst_db_mean == Approx(15.0));                  // mean of each run's worst view
  CHECK(c.worst_db_std == Approx(std::sqrt(18.0 / 3.0)));  // deviations 0, 3, -3
  CHECK(c.worst_db_min == 12.0);                           // worst over runs is a min
  CHECK(c.consistency == Approx(2.0 / 3.0));               // 15 and 18 are above 14
  CHECK(c.seconds == Approx(1.0));
  CHECK(c.steps.reached == 2);
  CHECK(c.steps.runs == 3);
  REQUIRE(c.steps.median.has_value());
  CHECK(*c.steps.median == 70.0);  // 30, 70, never
  REQUIRE_THROWS_WITH(sds::summarise_runs({}, 14.0), Contains("at least one run"));
}

TEST_CASE("the per-config summary pools prompts and reports them in both tables and the JSON",
          "[eval]") {
  sds::EvaluationTable table;
  table.options.threshold_db = 18.0;
  table.options.seeds = 2;
  // Config a: two prompts, two seeds; p1 reaches the threshold, p2 never does in 50 steps.
  table.runs = {run_of("a", "p1", 0, 20, 10, 10, 50), run_of("a", "p1", 1, 26, 16, 30, 50),
                run_of("a", "p2", 0, 24, 14, -1, 50), run_of("a", "p2", 1, 30, 8, -1, 50),
                run_of("b", "p1", 0, 19, 19, 5, 50)};
  const std::vector<std::pair<int, int>> groups = {{0, 2}, {2, 4}, {4, 5}};
  for (const auto& [from, to] : groups) {
    table.cells.push_back(sds::summarise_runs({table.runs.begin() + from, table.runs.begin() + to},
                                              table.options.threshold_db));
  }
  table.cells[0].diversity = 0.1;
  table.cells[1].diversity = 0.3;

  const auto rows = table.config_summaries();
  REQUIRE(rows.size() == 2);
  const auto& a = rows[0];
  CHECK(a.config == "a");
  CHECK(a.prompt.empty());
  // Per seed over prompts: seed 0 has mean 22, worst 12; seed 1 has mean 28, worst 12.
  CHECK(a.mean_db == Approx(25.0));
  CHECK(a.mean_db_std == Approx(3.0));
  CHECK(a.worst_db_mean == Approx(12.0));
  CHECK(a.worst_db_std == Approx(0.0).margin(1e-12));
  CHECK(a.worst_db_min == 8.0);
  CHECK(a.consistency == 0.0);
  CHECK(a.diversity == Approx(0.2));
  CHECK(a.steps.reached == 2);
  CHECK(a.steps.runs == 4);
  CHECK_FALSE(a.steps.median.has_value());  // 10, 30, never, never
  CHECK(a.steps.median_above == 40.0);
  CHECK(rows[1].config == "b");
  CHECK(rows[1].mean_db_std == 0.0);

  const std::string md = table.markdown();
  CHECK_THAT(md, Contains("| config | prompt | mean PSNR (dB, ± std over seeds) | worst view, mean "
                          "over runs (dB, ± std over seeds) | worst view, min over runs (dB) | "
                          "consistency (worst > 18 dB) | runs reaching 18 dB | median steps to 18 "
                          "dB | seed diversity (RMS) | time / run (s) |"));
  CHECK_THAT(md, Contains("| a | p1 | 23.00 ± 3.00 | 13.00 ± 3.00 | 10.00 | 0.00 | 2/2 | 20 | "
                          "0.1000 | 1.0 |"));
  CHECK_THAT(md, Contains("| a | p2 | 27.00 ± 3.00 | 11.00 ± 3.00 | 8.00 | 0.00 | 0/2 | > 50 |"));
  CHECK_THAT(md, Contains("| a | 25.00 ± 3.00 | 12.00 ± 0.00 | 8.00 | 0.00 | 2/4 | > 40 | 0.2000 "
                          "| 1.0 |"));
  CHECK_THAT(md, Contains("| b | 19.00 ± 0.00 | 19.00 ± 0.00 | 19.00 | 1.00 | 1/1 | 5 |"));

  const sds::Json j = table.to_json();
  REQUIRE(j["cells"].size() == 3);
  CHECK(j["cells"][0]["prompt"] == "p1");
  CHECK(j["cells"][0]["runs"] == 2);
  CHECK(j["cells"][0]["steps_reached"] == 2);
  CHECK(j["cells"][0]["steps_to_threshold_median"] == 20.0);
  CHECK(j["cells"][0]["steps_to_threshold_median_above"].is_null());
  CHECK(j["cells"][1]["steps_reached"] == 0);
  CHECK(j["cells"][1]["steps_to_threshold_median"].is_null());
  CHECK(j["cells"][1]["steps_to_threshold_median_above"] == 50.0);
  CHECK(j["cells"][1]["psnr_worst_mean"] == 11.0);
  CHECK(j["cells"][1]["psnr_worst_mean_std"] == 3.0);
  CHECK(j["cells"][1]["psnr_worst_min"] == 8.0);
  CHECK_FALSE(j["cells"][0].contains("steps_to_threshold"));
  REQUIRE(j["configs"].size() == 2);
  CHECK(j["configs"][0]["config"] == "a");
  CHECK_FALSE(j["configs"][0].contains("prompt"));
  CHECK(j["configs"][0]["runs"] == 4);
  CHECK(j["configs"][0]["steps_reached"] == 2);
  CHECK(j["configs"][0]["steps_to_threshold_median"].is_null());
  CHECK(j["configs"][0]["steps_to_threshold_median_above"] == 40.0);
  CHECK(j["configs"][0]["psnr_worst_min"] == 8.0);
  CHECK(j["configs"][1]["steps_to_threshold_median"] == 5.0);
  CHECK(j["runs"][3]["steps_to_threshold"] == -1);
  CHECK(j["runs"][3]["steps"] == 50);
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

TEST_CASE("nearest-variant and family-mean PSNR follow their definitions", "[eval][families]") {
  at::Tensor a = at::full({3, 3, 4, 4}, 0.2), b = at::full({3, 3, 4, 4}, 0.8);
  at::Tensor prediction = b.clone();
  prediction.select(0, 1).add_(0.1);  // one view off by 0.1: 20 dB; the others exact
  prediction.select(0, 2).add_(0.01);
  sds::FamilyScores f = sds::score_family(prediction, {a, b});
  CHECK(f.nearest == 1);
  REQUIRE(f.variant_mean_db.size() == 2);
  CHECK(f.nearest_scores.psnr_per_view.at(1) == Approx(20.0));
  CHECK(f.nearest_scores.psnr_per_view.at(2) == Approx(40.0));
  CHECK(f.variant_mean_db[1] == Approx(f.nearest_scores.mean));
  // Against a: errors 0.6, 0.7 and 0.61; against the family mean 0.5: 0.3, 0.4 and 0.31.
  CHECK(f.variant_mean_db[0] ==
        Approx(-10 * (std::log10(0.36) + std::log10(0.49) + std::log10(0.3721)) / 3));
  CHECK(f.family_mean_db ==
        Approx(-10 * (std::log10(0.09) + std::log10(0.16) + std::log10(0.0961)) / 3));
  REQUIRE_THROWS_AS(sds::score_family(prediction, {}), sds::Error);
}

TEST_CASE("coverage counts the distinct variants that runs reach", "[eval][families]") {
  CHECK(sds::variant_coverage({0, 0, 1, 2}, {30, 31, 20, 25}, 24) == 2);
  CHECK(sds::variant_coverage({0, 0, 0}, {30, 31, 29}, 24) == 1);
  CHECK(sds::variant_coverage({3, 1, 2, 0}, {30, 31, 29, 28}, 24) == 4);
  CHECK(sds::variant_coverage({3, 1}, {10, 11}, 24) == 0);
  REQUIRE_THROWS_AS(sds::variant_coverage({0}, {}, 24), sds::Error);

  std::vector<sds::EvaluationRun> runs;
  const std::vector<int64_t> nearest{2, 2, 0, 1};
  const std::vector<double> db{30, 28, 26, 20}, family{15, 16, 17, 18};
  for (size_t i = 0; i < nearest.size(); ++i) {
    runs.push_back(run_of("vsd", "a family", i, db[i], db[i] - 3, -1));
    runs.back().variants = 4;
    runs.back().nearest_variant = nearest[i];
    runs.back().family_mean_db = family[i];
  }
  const sds::EvaluationCell cell = sds::summarise_runs(runs, 18.0, 24.0);
  CHECK(cell.variants == 4);
  CHECK(cell.coverage == 2);  // variants 2 and 0; the run at variant 1 is below 24 dB
  CHECK(cell.family_mean_db == Approx(16.5));
  CHECK(cell.family_mean_db_std == Approx(std::sqrt(1.25)));
  const sds::EvaluationCell plain = sds::summarise_runs({run_of("sds", "p", 0, 20, 15, -1)}, 18.0);
  CHECK(plain.variants == 0);
  CHECK(plain.coverage == 0);
}

TEST_CASE("a family config runs in the eval and reports the family columns",
          "[eval][families][e2e]") {
  sds::EvaluationOptions o;
  o.configs = {std::filesystem::path(SDS_SOURCE_DIR) / "examples/configs/families/sds.json"};
  o.small = true;
  o.small_steps = 3;
  o.out = sds::test::fresh_temp_dir("eval_family");
  sds::EvaluationTable table = sds::evaluate(o);
  REQUIRE(table.runs.size() == 1);
  const auto& run = table.runs[0];
  CHECK(run.variants == 4);
  CHECK(run.nearest_variant >= 0);
  CHECK(run.nearest_variant < 4);
  CHECK(std::isfinite(run.family_mean_db));
  const std::string md = sds::read_text_file(o.out / "results.md");
  CHECK_THAT(md, Contains("nearest-variant PSNR") && Contains("/4 |"));
  const sds::Json metrics = sds::read_json_file(o.out / "sds" / "a_mug_in_one_of_four_colours" /
                                                "seed0" / "metrics.json");
  REQUIRE(metrics.contains("psnr_per_variant"));
  CHECK(metrics["psnr_per_variant"].size() == 4);
  CHECK(metrics["variants"][0] == "red");
  CHECK(metrics["psnr_per_variant"][metrics["nearest_variant"].get<size_t>()].get<double>() ==
        Approx(metrics["psnr_heldout_mean"].get<double>()));
  const sds::Json json = sds::read_json_file(o.out / "results.json");
  CHECK(json["cells"][0]["variants"] == 4);
  CHECK(json["runs"][0].contains("psnr_family_mean"));
}
