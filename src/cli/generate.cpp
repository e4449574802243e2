#include <fmt/format.h>

#include "commands.h"
#include "progress.h"
#include "sds/core/json.h"
#include "sds/train/generate.h"

namespace sds::cli {

namespace {

struct GenerateArgs {
  std::string config;
  std::string out;
  std::vector<std::string> sets;
  std::string scene;
  std::string prompt;
  int64_t seed = -1;
  std::string device;
  int64_t steps = -1;
  bool resume = false;
  std::vector<std::string> exports;
};

void run(const GenerateArgs& a) {
  Json config = read_json_file(a.config);
  if (config.contains("prior") && config["prior"].is_string()) {
    config["prior"] = Json{{"type", config["prior"]}};
  }
  for (const auto& s : a.sets) {
    const auto eq = s.find('=');
    SDS_CHECK(eq != std::string::npos, "--set: expected key=value, got \"{}\"", s);
    set_json_path(config, s.substr(0, eq), s.substr(eq + 1));
  }
  if (!a.scene.empty()) set_json_path(config, "prior.scene", Json(a.scene).dump());
  if (!a.prompt.empty()) config["prompt"] = a.prompt;
  if (a.seed >= 0) config["seed"] = a.seed;
  if (!a.device.empty()) config["trainer"]["device"] = a.device;
  if (a.steps >= 0) config["steps"] = a.steps;

  std::unique_ptr<ProgressBar> bar;
  GenerateOptions options;
  options.resume = a.resume;
  options.exports = a.exports;
  options.on_step = [&](const StepInfo& info) {
    if (!bar) bar = std::make_unique<ProgressBar>(info.total_steps);
    if (info.logged || info.metrics.count("psnr")) bar->update(info.step, info.loss, info.metrics);
  };
  GenerateResult r = generate(config, a.out, options);
  if (bar) bar->finish();
  fmt::print("run folder: {}\n", r.run_dir.string());
  if (r.measured) {
    fmt::print("held-out PSNR: mean {:.2f} dB, worst view {:.2f} dB ({} steps, {:.1f} s)\n",
               r.held_out.mean, r.held_out.min, r.steps, r.seconds);
  } else {
    fmt::print("{} steps, {:.1f} s (not scored: only the exact prior has ground truth)\n",
               r.steps, r.seconds);
  }
  if (r.geometry_iou) {
    fmt::print("geometry IoU against the exact object: {:.3f}\n", *r.geometry_iou);
  }
  for (const auto& path : r.exported) fmt::print("exported: {}\n", path.string());
}

}  // namespace

void add_generate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "optimise a 3D representation with a guidance");
  cmd->add_option("--config", args->config, "experiment config (JSON)")->required();
  cmd->add_option("--out", args->out, "run folder")->required();
  cmd->add_option("--set", args->sets, "override a config key: --set guidance.guidance_scale=2");
  cmd->add_option("--scene", args->scene, "scene file for the exact prior, or builtin:families");
  cmd->add_option("--prompt", args->prompt, "prompt (a concept of the scene)");
  cmd->add_option("--seed", args->seed, "seed");
  cmd->add_option("--device", args->device, "where to train: cpu, cuda or cuda:N (trainer.device)");
  cmd->add_option("--steps", args->steps, "training steps");
  cmd->add_flag("--resume", args->resume, "continue from the run folder's checkpoint");
  cmd->add_option("--export", args->exports,
                  "also write these files into the run folder, comma-separated (gaussians: "
                  "ply = 3DGS splats, obj and mesh_ply = a coloured mesh)")
      ->delimiter(',');
  cmd->callback([args] { run(*args); });
}

}  // namespace sds::cli
