#pragma once
// The main job behind `sds generate`: build an experiment from a config, train it, and write
// the run folder (config.json, metrics.json, turntable/NNN.png, checkpoint/latest.pt).

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sds/core/json.h"
#include "sds/train/metrics.h"
#include "sds/train/trainer.h"

namespace sds {

struct GenerateOptions {
  bool resume = false;  ///< continue from run_dir/checkpoint/latest.pt when it exists
  /// Called after every step; `metrics["psnr"]` is set on the steps where the progress PSNR was
  /// measured.
  std::function<void(const StepInfo&)> on_step;
  bool write_turntable = true;  ///< turntable/NNN.png (prediction | ground truth)
  /// Fail before training when the prior has no ground truth to score against (`sds eval`).
  bool require_ground_truth = false;
  /// Formats for Representation::export_file, written as export/<name>.<ext> after training
  /// ("ply" -> gaussians.ply, "obj" -> mesh.obj, "mesh_ply" -> mesh.ply). Checked before
  /// training starts: a format the representation lacks is an sds::Error.
  std::vector<std::string> exports;
};

struct GenerateResult {
  std::filesystem::path run_dir;
  /// Whether the run was scored: only the exact prior has ground truth. Without it `held_out`,
  /// `held_out_rgb`, `geometry_iou` and `progress` are empty.
  bool measured = false;
  /// PSNR at the exact prior's 24 held-out views; for a family, against its nearest variant.
  ViewScores held_out;
  /// A concept family's scores against each of its variants (empty for a plain concept).
  std::optional<FamilyScores> family;
  /// Volumetric IoU of the representation's solid against the prompt's exact object (64^3; for a
  /// family, the nearest variant's);
  /// empty for representations without Representation::inside().
  std::optional<double> geometry_iou;
  std::optional<GeometryScores> geometry;  ///< the IoU with precision and recall
  at::Tensor held_out_rgb;  ///< the final renders of those views `[24, 3, H, W]`
  /// (step, mean PSNR over the config's eval.views held-out views) every eval.every steps.
  std::vector<std::pair<int64_t, double>> progress;
  int64_t steps = 0;
  double seconds = 0.0;                         ///< wall time of the whole job
  std::vector<std::filesystem::path> exported;  ///< the files written for options.exports
};

/// Runs the job; with the exact prior it is scored against the prompt's ground truth.
GenerateResult generate(const Json& config, const std::filesystem::path& run_dir,
                        const GenerateOptions& options = {});

}  // namespace sds
