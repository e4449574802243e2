#pragma once
// `sds eval`: every objective config on every prompt and seed, scored against ground truth.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sds/core/json.h"

namespace sds {

/// What to run.
struct EvaluationOptions {
  std::vector<std::filesystem::path> configs;  ///< experiment configs; the file stem names a row
  int64_t seeds = 3;                           ///< seeds 0 .. seeds - 1
  std::vector<std::string> concepts;  ///< prompts; empty = every prompt of each config's scene
  std::filesystem::path out;          ///< run folders go to out/<config>/<prompt>/seed<k>
  double threshold_db = 18.0;         ///< for the consistency rate and steps-to-threshold
  /// A family's run reaches its nearest variant when its mean PSNR against it is at least this
  /// (the coverage column).
  double coverage_db = 24.0;
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
  /// Mean PSNR over the held-out views (dB); for a family, against the nearest variant.
  double mean_db = 0;
  double worst_db = 0;              ///< PSNR of the run's worst held-out view (dB)
  int64_t variants = 1;             ///< members of the prompt's family (1: a plain concept)
  int64_t nearest_variant = 0;      ///< the member the run is nearest (0 for a plain concept)
  double family_mean_db = 0;        ///< PSNR against the family's mean image (families only)
  int64_t steps_to_threshold = -1;  ///< first progress step with mean PSNR >= threshold; -1 never
  int64_t steps = 0;                ///< the run's length in training steps
  double seconds = 0;
};

/// Steps to the threshold over a group of runs, counting the runs that never reached it. An
/// unreached run is censored: its time is only known to exceed its length, so it sorts after
/// every run that reached the threshold.
struct StepsToThreshold {
  int64_t reached = 0;  ///< runs that reached the threshold
  int64_t runs = 0;     ///< runs in the group
  /// Median over all `runs` (the mean of the two middle ones for an even count); empty when a
  /// middle run is unreached (more than half unreached, or exactly half of an even count).
  std::optional<double> median;
  /// When `median` is empty: what it is known to exceed, the median with every unreached run
  /// counted at its length (so "> N steps" when more than half are unreached). 0 otherwise.
  double median_above = 0;
  /// "3/5", or "0/0" for no runs.
  std::string reached_text() const;
  /// "120", "> 500" when censored, "-" for no runs.
  std::string median_text() const;
};

/// The censored count and median of `runs`' steps_to_threshold, as StepsToThreshold defines.
StepsToThreshold steps_to_threshold(const std::vector<EvaluationRun>& runs);

/// A group of runs summarised over seeds: one config on one prompt (a cell of the table), or one
/// config over all its prompts (a row of the per-config summary, with an empty prompt).
struct EvaluationCell {
  std::string config, prompt;  ///< config file stem and concept prompt ("" for all prompts)
  /// Mean over seeds of the mean held-out PSNR (dB); a seed with several runs (several prompts)
  /// counts the mean of its runs.
  double mean_db = 0;
  double mean_db_std = 0;    ///< its standard deviation over seeds (population, 0 with one)
  double worst_db_mean = 0;  ///< the same mean over seeds of each run's worst held-out view
  double worst_db_std = 0;   ///< its standard deviation over seeds
  double worst_db_min = 0;   ///< worst over runs: the lowest worst view of any run
  double consistency = 0;    ///< fraction of runs whose worst view is above the threshold
  StepsToThreshold steps;    ///< runs that reached the threshold and their censored median
  /// Seed diversity: RMS difference between the held-out renders of two seeds, averaged over
  /// pairs (0 with one seed); for a per-config row, the mean over its cells.
  double diversity = 0;
  double seconds = 0;  ///< mean wall time of one run
  /// Families: the variants of the prompt (summed over a per-config row's family prompts; 0
  /// when no run is of a family), how many of them the runs reach (variant_coverage at
  /// coverage_db, summed likewise), and the mean and std over seeds of the family-mean PSNR.
  int64_t variants = 0;
  int64_t coverage = 0;
  double family_mean_db = 0;
  double family_mean_db_std = 0;
};

/// Summarises a non-empty group of runs of one config as EvaluationCell defines, with the
/// threshold (dB) for the consistency rate and that for coverage. The prompt is the runs' prompt
/// when they share one, else empty; diversity (which needs the renders) is left at 0, and so is
/// coverage unless the runs share a prompt.
EvaluationCell summarise_runs(const std::vector<EvaluationRun>& runs, double threshold_db,
                              double coverage_db = 24.0);

struct EvaluationTable {
  std::vector<EvaluationRun> runs;
  std::vector<EvaluationCell> cells;  ///< one per config and prompt, in run order
  EvaluationOptions options;
  double seconds = 0;

  /// One row per config (in order of first appearance) over all its runs and prompts.
  std::vector<EvaluationCell> config_summaries() const;
  /// The cell table and the per-config table in Markdown, with a line of totals; with families, a
  /// third table of their columns (nearest-variant and family-mean PSNR, coverage).
  std::string markdown() const;
  /// threshold_db, seeds, seconds, and the arrays runs, cells and configs.
  Json to_json() const;
};

/// Runs everything and writes out/results.md and out/results.json (atomically).
EvaluationTable evaluate(const EvaluationOptions& options);

}  // namespace sds
