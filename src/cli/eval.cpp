#include <fmt/format.h>

#include "commands.h"
#include "sds/train/evaluation.h"

namespace sds::cli {

namespace {

struct EvalArgs {
  std::vector<std::string> configs;
  std::vector<std::string> concepts;
  std::string out;
  int64_t seeds = 3;
  double threshold = 18.0;
  double coverage = 24.0;
  bool small = false;
};

void run(const EvalArgs& a) {
  EvaluationOptions o;
  for (const auto& c : a.configs) o.configs.emplace_back(c);
  o.concepts = a.concepts;
  o.out = a.out;
  o.seeds = a.seeds;
  o.threshold_db = a.threshold;
  o.coverage_db = a.coverage;
  o.small = a.small;
  o.log = [](const std::string& line) {
    fmt::print("{}\n", line);
    std::fflush(stdout);
  };
  EvaluationTable table = evaluate(o);
  fmt::print("\n{}\nwritten: {}/results.md and results.json\n", table.markdown(), a.out);
}

}  // namespace

void add_eval(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "run objective configs on every concept and seed; write a PSNR table");
  cmd->add_option("--configs", args->configs, "experiment configs (JSON), one row each")
      ->required();
  cmd->add_option("--out", args->out, "output folder")->required();
  cmd->add_option("--seeds", args->seeds, "seeds per config and concept (default 3)");
  cmd->add_option("--concepts", args->concepts, "prompts to run (default: every concept)");
  cmd->add_option("--threshold", args->threshold, "PSNR threshold in dB (default 18)");
  cmd->add_option("--coverage-db", args->coverage,
                  "families: PSNR at which a run reaches its nearest variant (default 24)");
  cmd->add_flag("--small", args->small, "CI size: one concept, one seed, a few steps");
  cmd->callback([args] { run(*args); });
}

}  // namespace sds::cli
