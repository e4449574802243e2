#include "sds/train/evaluation.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <map>

#include "sds/core/error.h"
#include "sds/core/io.h"
#include "sds/diffusion/scene.h"
#include "sds/train/generate.h"

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
  Scene scene = scene_file.empty() ? Scene::builtin() : Scene::load(scene_file);
  return scene.prompts();
}

EvaluationCell summarise(const std::vector<EvaluationRun>& runs,
                         const std::vector<at::Tensor>& renders, double threshold) {
  EvaluationCell c;
  c.config = runs.front().config;
  c.prompt = runs.front().prompt;
  const double n = static_cast<double>(runs.size());
  double reached = 0, steps = 0;
  for (const auto& r : runs) {
    c.mean_db += r.mean_db / n;
    c.worst_db += r.worst_db / n;
    c.consistency += (r.worst_db > threshold ? 1.0 : 0.0) / n;
    c.seconds += r.seconds / n;
    if (r.steps_to_threshold >= 0) {
      reached += 1;
      steps += static_cast<double>(r.steps_to_threshold);
    }
  }
  c.steps_to_threshold = reached > 0 ? steps / reached : -1;
  for (const auto& r : runs) c.mean_db_std += std::pow(r.mean_db - c.mean_db, 2) / n;
  c.mean_db_std = std::sqrt(c.mean_db_std);
  double pairs = 0;
  for (size_t i = 0; i < renders.size(); ++i) {
    for (size_t j = i + 1; j < renders.size(); ++j) {
      c.diversity += (renders[i] - renders[j]).pow(2).mean().sqrt().item<double>();
      pairs += 1;
    }
  }
  if (pairs > 0) c.diversity /= pairs;
  return c;
}

std::string steps_text(double steps) {
  return steps < 0 ? std::string("never") : fmt::format("{:.0f}", steps);
}

}  // namespace

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
        GenerateResult r = generate(config, dir, g);
        EvaluationRun run{name, prompt, static_cast<uint64_t>(seed), r.held_out.mean,
                          r.held_out.min, -1, r.seconds};
        for (const auto& [step, psnr] : r.progress) {
          if (psnr >= o.threshold_db) {
            run.steps_to_threshold = step;
            break;
          }
        }
        if (o.log) {
          o.log(fmt::format("{:<24} {:<16} seed {}: {:.2f} / {:.2f} dB, {:.1f} s", name, prompt,
                            seed, run.mean_db, run.worst_db, run.seconds));
        }
        runs.push_back(run);
        renders.push_back(r.held_out_rgb.to(at::kDouble));
        table.runs.push_back(run);
      }
      table.cells.push_back(summarise(runs, renders, o.threshold_db));
    }
  }
  table.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_file_atomic(o.out / "results.md", table.markdown());
  write_file_atomic(o.out / "results.json", table.to_json().dump(2) + "\n");
  return table;
}

std::string EvaluationTable::markdown() const {
  const double th = options.threshold_db;
  std::string md = fmt::format(
      "| config | prompt | mean PSNR (dB, ± std over seeds) | worst view (dB) | consistency "
      "(worst > {:.0f} dB) | steps to {:.0f} dB | seed diversity (RMS) | time / run (s) |\n"
      "| --- | --- | --- | --- | --- | --- | --- | --- |\n",
      th, th);
  for (const auto& c : cells) {
    md += fmt::format("| {} | {} | {:.2f} ± {:.2f} | {:.2f} | {:.2f} | {} | {:.4f} | {:.1f} |\n",
                      c.config, c.prompt, c.mean_db, c.mean_db_std, c.worst_db, c.consistency,
                      steps_text(c.steps_to_threshold), c.diversity, c.seconds);
  }
  // One row per config, averaged over concepts.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const EvaluationCell*>> by_config;
  for (const auto& c : cells) {
    if (by_config[c.config].empty()) order.push_back(c.config);
    by_config[c.config].push_back(&c);
  }
  md += fmt::format(
      "\n| config | mean PSNR (dB) | worst view (dB) | consistency | steps to {:.0f} dB | seed "
      "diversity | time / run (s) |\n| --- | --- | --- | --- | --- | --- | --- |\n",
      th);
  for (const auto& name : order) {
    const auto& list = by_config[name];
    const double n = static_cast<double>(list.size());
    double mean = 0, worst = 0, cons = 0, div = 0, secs = 0, steps = 0, reached = 0;
    for (const auto* c : list) {
      mean += c->mean_db / n;
      worst += c->worst_db / n;
      cons += c->consistency / n;
      div += c->diversity / n;
      secs += c->seconds / n;
      if (c->steps_to_threshold >= 0) {
        steps += c->steps_to_threshold;
        reached += 1;
      }
    }
    md += fmt::format("| {} | {:.2f} | {:.2f} | {:.2f} | {} | {:.4f} | {:.1f} |\n", name, mean,
                      worst, cons, steps_text(reached > 0 ? steps / reached : -1), div, secs);
  }
  md += fmt::format("\n{} runs, {} seed(s), {:.0f} s in all.\n", runs.size(),
                    options.small ? 1 : options.seeds, seconds);
  return md;
}

Json EvaluationTable::to_json() const {
  Json j;
  j["threshold_db"] = options.threshold_db;
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
                         {"seconds", r.seconds}});
  }
  j["cells"] = Json::array();
  for (const auto& c : cells) {
    j["cells"].push_back({{"config", c.config},
                          {"prompt", c.prompt},
                          {"psnr_mean", c.mean_db},
                          {"psnr_mean_std", c.mean_db_std},
                          {"psnr_worst", c.worst_db},
                          {"consistency", c.consistency},
                          {"steps_to_threshold", c.steps_to_threshold},
                          {"diversity", c.diversity},
                          {"seconds", c.seconds}});
  }
  return j;
}

}  // namespace sds
