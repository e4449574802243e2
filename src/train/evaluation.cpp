#include "sds/train/evaluation.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <map>
#include <tuple>
#include <utility>

#include "sds/core/error.h"
#include "sds/core/io.h"
#include "sds/diffusion/scene.h"
#include "sds/train/generate.h"
#include "sds/train/metrics.h"

namespace sds {

namespace {

std::string slug(const std::string& prompt) {
  std::string out;
  for (char ch : prompt) {
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  return out;
}

std::vector<std::string> concepts_of(const Json& config) {
  std::string scene_file;
  if (config.contains("prior") && config["prior"].is_object() &&
      config["prior"].contains("scene")) {
    scene_file = config["prior"]["scene"].get<std::string>();
  }
  Scene scene = Scene::resolve(scene_file);
  return scene.prompts();
}

double diversity_of(const std::vector<at::Tensor>& renders) {
  double total = 0, pairs = 0;
  for (size_t i = 0; i < renders.size(); ++i) {
    for (size_t j = i + 1; j < renders.size(); ++j) {
      total += (renders[i] - renders[j]).pow(2).mean().sqrt().item<double>();
      pairs += 1;
    }
  }
  return pairs > 0 ? total / pairs : 0.0;
}

// Mean and population standard deviation.
std::pair<double, double> mean_std(const std::vector<double>& values) {
  const double n = static_cast<double>(values.size());
  double mean = 0, var = 0;
  for (double v : values) mean += v / n;
  for (double v : values) var += (v - mean) * (v - mean) / n;
  return {mean, std::sqrt(var)};
}

}  // namespace

std::string StepsToThreshold::reached_text() const { return fmt::format("{}/{}", reached, runs); }

std::string StepsToThreshold::median_text() const {
  if (runs == 0) return "-";
  return median ? fmt::format("{:g}", *median) : fmt::format("> {:g}", median_above);
}

StepsToThreshold steps_to_threshold(const std::vector<EvaluationRun>& runs) {
  StepsToThreshold s;
  s.runs = static_cast<int64_t>(runs.size());
  if (runs.empty()) return s;
  // (unreached, steps): an unreached run sorts after every reached one, at its length.
  std::vector<std::pair<bool, int64_t>> order;
  for (const auto& r : runs) {
    const bool unreached = r.steps_to_threshold < 0;
    if (!unreached) s.reached += 1;
    order.emplace_back(unreached, unreached ? r.steps : r.steps_to_threshold);
  }
  std::sort(order.begin(), order.end());
  const auto& lo = order[(order.size() - 1) / 2];
  const auto& hi = order[order.size() / 2];
  const double value = 0.5 * static_cast<double>(lo.second + hi.second);
  if (lo.first || hi.first) {
    s.median_above = value;
  } else {
    s.median = value;
  }
  return s;
}

EvaluationCell summarise_runs(const std::vector<EvaluationRun>& runs, double threshold_db,
                              double coverage_db) {
  SDS_CHECK(!runs.empty(), "eval: expected at least one run to summarise, got none");
  EvaluationCell c;
  c.config = runs.front().config;
  c.prompt = runs.front().prompt;
  const double n = static_cast<double>(runs.size());
  c.worst_db_min = runs.front().worst_db;
  // Per seed: the sums and count of its runs' mean and worst PSNR.
  std::map<uint64_t, std::array<double, 3>> by_seed;
  for (const auto& r : runs) {
    if (r.prompt != c.prompt) c.prompt.clear();
    c.worst_db_min = std::min(c.worst_db_min, r.worst_db);
    c.consistency += (r.worst_db > threshold_db ? 1.0 : 0.0) / n;
    c.seconds += r.seconds / n;
    auto& s = by_seed[r.seed];
    s[0] += r.mean_db;
    s[1] += r.worst_db;
    s[2] += 1;
  }
  std::vector<double> means, worsts;
  for (const auto& [seed, s] : by_seed) {
    means.push_back(s[0] / s[2]);
    worsts.push_back(s[1] / s[2]);
  }
  std::tie(c.mean_db, c.mean_db_std) = mean_std(means);
  std::tie(c.worst_db_mean, c.worst_db_std) = mean_std(worsts);
  c.steps = steps_to_threshold(runs);

  std::vector<EvaluationRun> family;
  for (const auto& r : runs) {
    if (r.variants > 1) family.push_back(r);
  }
  if (family.empty()) return c;
  std::map<uint64_t, std::pair<double, double>> family_by_seed;  // sum, count
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<double>>> by_prompt;
  std::map<std::string, int64_t> variants_of;
  for (const auto& r : family) {
    family_by_seed[r.seed].first += r.family_mean_db;
    family_by_seed[r.seed].second += 1;
    by_prompt[r.prompt].first.push_back(r.nearest_variant);
    by_prompt[r.prompt].second.push_back(r.mean_db);
    variants_of[r.prompt] = r.variants;
  }
  std::vector<double> family_means;
  for (const auto& [seed, s] : family_by_seed) family_means.push_back(s.first / s.second);
  std::tie(c.family_mean_db, c.family_mean_db_std) = mean_std(family_means);
  for (const auto& [prompt, nearest] : by_prompt) {
    c.variants += variants_of[prompt];
    c.coverage += variant_coverage(nearest.first, nearest.second, coverage_db);
  }
  return c;
}

EvaluationTable evaluate(const EvaluationOptions& o) {
  SDS_CHECK(!o.configs.empty(), "eval: expected at least one config (--configs), got none");
  SDS_CHECK(o.seeds >= 1, "eval: expected --seeds >= 1, got {}", o.seeds);
  SDS_CHECK(!o.out.empty(), "eval: expected an output folder (--out), got none");
  SDS_CHECK(o.small_steps >= 1, "eval: expected small_steps >= 1, got {}", o.small_steps);
  const auto start = std::chrono::steady_clock::now();
  EvaluationTable table;
  table.options = o;
  const int64_t seeds = o.small ? 1 : o.seeds;
  for (const auto& path : o.configs) {
    const Json base = read_json_file(path);
    const std::string name = path.stem().string();
    std::vector<std::string> concepts = o.concepts.empty() ? concepts_of(base) : o.concepts;
    if (o.small) concepts.resize(1);
    for (const auto& prompt : concepts) {
      std::vector<EvaluationRun> runs;
      std::vector<at::Tensor> renders;
      for (int64_t seed = 0; seed < seeds; ++seed) {
        Json config = base;
        config["prompt"] = prompt;
        config["seed"] = seed;
        if (o.small) {
          config["steps"] = o.small_steps;
          config["eval"]["every"] = 2;
          config["eval"]["turntable_frames"] = 2;
        }
        const auto dir = o.out / name / slug(prompt) / fmt::format("seed{}", seed);
        GenerateOptions g;
        g.require_ground_truth = true;
        GenerateResult r = generate(config, dir, g);
        EvaluationRun run;
        run.config = name;
        run.prompt = prompt;
        run.seed = static_cast<uint64_t>(seed);
        run.mean_db = r.held_out.mean;
        run.worst_db = r.held_out.min;
        if (r.family) {
          run.variants = static_cast<int64_t>(r.family->variant_mean_db.size());
          run.nearest_variant = r.family->nearest;
          run.family_mean_db = r.family->family_mean_db;
        }
        run.steps = r.steps;
        run.seconds = r.seconds;
        for (const auto& [step, psnr] : r.progress) {
          if (psnr >= o.threshold_db) {
            run.steps_to_threshold = step;
            break;
          }
        }
        if (o.log) {
          const std::string family =
              r.family ? fmt::format(" (nearest variant {}, family mean {:.2f} dB)",
                                     run.nearest_variant, run.family_mean_db)
                       : std::string();
          o.log(fmt::format("{:<24} {:<16} seed {}: {:.2f} / {:.2f} dB{}, {:.1f} s", name, prompt,
                            seed, run.mean_db, run.worst_db, family, run.seconds));
        }
        runs.push_back(run);
        renders.push_back(r.held_out_rgb.to(at::kDouble));
        table.runs.push_back(run);
      }
      EvaluationCell cell = summarise_runs(runs, o.threshold_db, o.coverage_db);
      cell.diversity = diversity_of(renders);
      table.cells.push_back(cell);
    }
  }
  table.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_file_atomic(o.out / "results.md", table.markdown());
  write_file_atomic(o.out / "results.json", table.to_json().dump(2) + "\n");
  return table;
}

std::vector<EvaluationCell> EvaluationTable::config_summaries() const {
  std::vector<std::string> order;
  std::map<std::string, std::vector<EvaluationRun>> by_config;
  for (const auto& r : runs) {
    if (by_config[r.config].empty()) order.push_back(r.config);
    by_config[r.config].push_back(r);
  }
  std::vector<EvaluationCell> out;
  for (const auto& name : order) {
    EvaluationCell row = summarise_runs(by_config[name], options.threshold_db, options.coverage_db);
    row.prompt.clear();
    double cells_of = 0;
    for (const auto& c : cells) {
      if (c.config != name) continue;
      row.diversity += c.diversity;
      cells_of += 1;
    }
    if (cells_of > 0) row.diversity /= cells_of;
    out.push_back(row);
  }
  return out;
}

std::string EvaluationTable::markdown() const {
  const double th = options.threshold_db;
  std::string md = fmt::format(
      "| config | prompt | mean PSNR (dB, ± std over seeds) | worst view, mean over runs (dB, ± "
      "std over seeds) | worst view, min over runs (dB) | consistency (worst > {0:.0f} dB) | "
      "runs reaching {0:.0f} dB | median steps to {0:.0f} dB | seed diversity (RMS) | time / run "
      "(s) |\n"
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
      th);
  for (const auto& c : cells) {
    md += fmt::format(
        "| {} | {} | {:.2f} ± {:.2f} | {:.2f} ± {:.2f} | {:.2f} | {:.2f} | {} | {} | {:.4f} | "
        "{:.1f} |\n",
        c.config, c.prompt, c.mean_db, c.mean_db_std, c.worst_db_mean, c.worst_db_std,
        c.worst_db_min, c.consistency, c.steps.reached_text(), c.steps.median_text(), c.diversity,
        c.seconds);
  }
  md += fmt::format(
      "\n| config | mean PSNR (dB, ± std over seeds) | worst view, mean over runs (dB, ± std over "
      "seeds) | worst view, min over runs (dB) | consistency | runs reaching {0:.0f} dB | median "
      "steps to {0:.0f} dB | seed diversity | time / run (s) |\n"
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
      th);
  for (const auto& c : config_summaries()) {
    md += fmt::format(
        "| {} | {:.2f} ± {:.2f} | {:.2f} ± {:.2f} | {:.2f} | {:.2f} | {} | {} | "
        "{:.4f} | {:.1f} |\n",
        c.config, c.mean_db, c.mean_db_std, c.worst_db_mean, c.worst_db_std, c.worst_db_min,
        c.consistency, c.steps.reached_text(), c.steps.median_text(), c.diversity, c.seconds);
  }
  if (std::any_of(cells.begin(), cells.end(), [](const auto& c) { return c.variants > 1; })) {
    md += fmt::format(
        "\n| config | prompt | nearest-variant PSNR (dB, ± std over seeds) | family-mean PSNR "
        "(dB, ± std over seeds) | coverage (variants reached at {:.0f} dB) | seed diversity "
        "(RMS) |\n"
        "| --- | --- | --- | --- | --- | --- |\n",
        options.coverage_db);
    for (const auto& c : cells) {
      if (c.variants <= 1) continue;
      md += fmt::format("| {} | {} | {:.2f} ± {:.2f} | {:.2f} ± {:.2f} | {}/{} | {:.4f} |\n",
                        c.config, c.prompt, c.mean_db, c.mean_db_std, c.family_mean_db,
                        c.family_mean_db_std, c.coverage, c.variants, c.diversity);
    }
  }
  md += fmt::format(
      "\nThe per-config rows pool all prompts; their std is over seeds of each seed's mean over "
      "prompts. Median steps count every run: one that never reached {:.0f} dB sorts last, as "
      "longer than its run, and \"> N\" means the median falls on such runs.\n",
      th);
  md += fmt::format("\n{} runs, {} seed(s), {:.0f} s in all.\n", runs.size(),
                    options.small ? 1 : options.seeds, seconds);
  return md;
}

namespace {

// A per-config row has no prompt.
Json cell_json(const EvaluationCell& c, bool with_prompt) {
  Json j = {{"config", c.config},
            {"psnr_mean", c.mean_db},
            {"psnr_mean_std", c.mean_db_std},
            {"psnr_worst_mean", c.worst_db_mean},
            {"psnr_worst_mean_std", c.worst_db_std},
            {"psnr_worst_min", c.worst_db_min},
            {"consistency", c.consistency},
            {"runs", c.steps.runs},
            {"steps_reached", c.steps.reached},
            {"steps_to_threshold_median", nullptr},
            {"steps_to_threshold_median_above", nullptr},
            {"diversity", c.diversity},
            {"seconds", c.seconds}};
  if (c.variants > 1) {
    j["variants"] = c.variants;
    j["coverage"] = c.coverage;
    j["psnr_family_mean"] = c.family_mean_db;
    j["psnr_family_mean_std"] = c.family_mean_db_std;
  }
  if (with_prompt) j["prompt"] = c.prompt;
  if (c.steps.median) {
    j["steps_to_threshold_median"] = *c.steps.median;
  } else if (c.steps.runs > 0) {
    j["steps_to_threshold_median_above"] = c.steps.median_above;
  }
  return j;
}

}  // namespace

Json EvaluationTable::to_json() const {
  Json j;
  j["threshold_db"] = options.threshold_db;
  j["coverage_db"] = options.coverage_db;
  j["seeds"] = options.small ? 1 : options.seeds;
  j["seconds"] = seconds;
  j["runs"] = Json::array();
  for (const auto& r : runs) {
    j["runs"].push_back({{"config", r.config},
                         {"prompt", r.prompt},
                         {"seed", r.seed},
                         {"psnr_mean", r.mean_db},
                         {"psnr_worst", r.worst_db},
                         {"steps_to_threshold", r.steps_to_threshold},
                         {"steps", r.steps},
                         {"seconds", r.seconds}});
    if (r.variants > 1) {
      j["runs"].back()["variants"] = r.variants;
      j["runs"].back()["nearest_variant"] = r.nearest_variant;
      j["runs"].back()["psnr_family_mean"] = r.family_mean_db;
    }
  }
  j["cells"] = Json::array();
  for (const auto& c : cells) j["cells"].push_back(cell_json(c, true));
  j["configs"] = Json::array();
  for (const auto& c : config_summaries()) j["configs"].push_back(cell_json(c, false));
  return j;
}

}  // namespace sds
