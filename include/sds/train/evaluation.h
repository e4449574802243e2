#pragma once
// `sds eval`: every objective config on every prompt and seed, scored against ground truth.

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "sds/core/json.h"

namespace sds {

/// What to run.
struct EvaluationOptions {
  std::vector<std::filesystem::path> configs;  ///< experiment configs; the file stem names a row
  int64_t seeds = 3;                            ///< seeds 0 .. seeds - 1
  std::vector<std::string> concepts;  ///< prompts; empty = every prompt of each config's scene
  std::filesystem::path out;          ///< run folders go to out/<config>/<prompt>/seed<k>
  double threshold_db = 18.0;         ///< for the consistency rate and steps-to-threshold
  /// CI size: one prompt, one seed, `small_steps` steps.
  bool small = false;
  int64_t small_steps = 6;
  /// Called with one line per finished run.
  std::function<void(const std::string&)> log;
};

/// One run.
struct EvaluationRun {
  std::string config, prompt;  ///< config file stem and concept prompt
  uint64_t seed = 0;
  double mean_db = 0, worst_db = 0;
  int64_t steps_to_threshold = -1;  ///< first progress step with mean PSNR >= threshold; -1 never
  double seconds = 0;
};

/// One config on one prompt, over the seeds.
struct EvaluationCell {
  std::string config, prompt;  ///< config file stem and concept prompt
  double mean_db = 0;          ///< mean over seeds of the mean held-out PSNR
  double mean_db_std = 0;      ///< its standard deviation over seeds
  double worst_db = 0;         ///< mean over seeds of the worst held-out view
  double consistency = 0;      ///< fraction of seeds whose worst view is above the threshold
  double steps_to_threshold = -1;  ///< mean over the seeds that reached it; -1 if none did
  /// Seed diversity: RMS difference between the held-out renders of two seeds, averaged over
  /// pairs (0 with one seed).
  double diversity = 0;
  double seconds = 0;  ///< mean wall time of one run
};

struct EvaluationTable {
  std::vector<EvaluationRun> runs;
  std::vector<EvaluationCell> cells;
  EvaluationOptions options;
  double seconds = 0;

  std::string markdown() const;
  Json to_json() const;
};

/// Runs everything and writes out/results.md and out/results.json (atomically).
EvaluationTable evaluate(const EvaluationOptions& options);

}  // namespace sds
