#pragma once
// Which diffusion timesteps t a guidance uses at training step i of N.

#include <ATen/ATen.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "sds/core/json.h"
#include "sds/core/scalar_schedule.h"

namespace sds {

/// Draws the integer timesteps of one training step.
class TimestepSchedule {
 public:
  static constexpr const char* kInterfaceName = "timestep_schedule";
  struct BuildContext {};
  virtual ~TimestepSchedule() = default;
  /// `batch` timesteps `[batch]` (long) for step `step` of `total_steps`, drawn with `generator`.
  virtual at::Tensor sample(int64_t step, int64_t total_steps, int64_t batch,
                            at::Generator& generator) const = 0;
  /// The inclusive range [min, max] that `sample` draws from at `step`.
  virtual std::array<int64_t, 2> range(int64_t step, int64_t total_steps) const = 0;
};

/// Options of UniformTimestep; JSON keys are the field names (DreamFusion / threestudio: 0.02 and
/// 0.98 of T = 1000).
struct UniformTimestepOptions {
  int64_t min_step = 20;
  int64_t max_step = 980;
  bool shared = false;  ///< one t for the whole batch
};

/// t ~ randint[min_step, max_step] inclusive, one per batch element (or one shared), as in
/// DreamFusion / threestudio.
class UniformTimestep : public TimestepSchedule {
 public:
  explicit UniformTimestep(UniformTimestepOptions options = {});
  static std::unique_ptr<TimestepSchedule> from_config(ConfigReader& config,
                                                       const BuildContext& context = {});
  at::Tensor sample(int64_t step, int64_t total_steps, int64_t batch,
                    at::Generator& generator) const override;
  std::array<int64_t, 2> range(int64_t step, int64_t total_steps) const override;

 private:
  UniformTimestepOptions options_;
};

/// Options of AnnealedTimestep; JSON keys are the field names.
struct AnnealedTimestepOptions {
  ScalarSchedule min_step{20.0};
  ScalarSchedule max_step{980.0, 300.0, 0.0, -1.0};
  bool shared = false;  ///< one t for the whole batch
};

/// threestudio's annealed bounds: min_step and max_step are ScalarSchedules (C()), e.g.
/// [980, 300] (linear over the run) or ProlificDreamer's jump [5000, 980, 500, 5001]; then
/// t ~ randint[min, max]. The default anneals max from 980 to 300 over the run.
class AnnealedTimestep : public TimestepSchedule {
 public:
  explicit AnnealedTimestep(AnnealedTimestepOptions options = {});
  static std::unique_ptr<TimestepSchedule> from_config(ConfigReader& config,
                                                       const BuildContext& context = {});
  at::Tensor sample(int64_t step, int64_t total_steps, int64_t batch,
                    at::Generator& generator) const override;
  std::array<int64_t, 2> range(int64_t step, int64_t total_steps) const override;

 private:
  AnnealedTimestepOptions options_;
};

/// Options of PowerAnnealTimestep; JSON keys "min_step" and "max_step" (the power is the
/// schedule's: 0.5 for "sqrt_anneal" from 300, 1 for "linear_anneal" from 250).
struct PowerAnnealTimestepOptions {
  int64_t min_step = 300;
  int64_t max_step = 980;
  double power = 0.5;
};

/// A deterministic t that falls from max_step to min_step: t = floor(min + (max - min)(1 - p^q))
/// with p = step / total_steps. q = 0.5 is HiFA's "sqrt_anneal" (threestudio, range 300-980);
/// q = 1 is the linear schedule of SDI (range 250-980). One t for the whole batch.
class PowerAnnealTimestep : public TimestepSchedule {
 public:
  explicit PowerAnnealTimestep(PowerAnnealTimestepOptions options = {});
  static std::unique_ptr<TimestepSchedule> sqrt_from_config(ConfigReader& config,
                                                            const BuildContext& context = {});
  static std::unique_ptr<TimestepSchedule> linear_from_config(ConfigReader& config,
                                                              const BuildContext& context = {});
  at::Tensor sample(int64_t step, int64_t total_steps, int64_t batch,
                    at::Generator& generator) const override;
  std::array<int64_t, 2> range(int64_t step, int64_t total_steps) const override;
  /// The t of `step` of `total_steps`.
  int64_t timestep(int64_t step, int64_t total_steps) const;

 private:
  PowerAnnealTimestepOptions options_;
};

/// Options of WarmupTimestep; JSON keys are the field names (LucidDreamer's defaults).
struct WarmupTimestepOptions {
  int64_t min_step = 20;
  int64_t max_step = 500;
  int64_t warmup_max_step = 980;
  double warmup_steps = 1500;  ///< a fraction in (0, 1) is a fraction of the run
  bool shared = true;          ///< one t for the whole batch
};

/// LucidDreamer's warm-up: t ~ randint[min_step, max_step + (warmup_max_step - max_step) r]
/// with r = 1 - min(step / warmup_steps, 1), one t for the whole batch; defaults 20, 500, 980 and
/// 1500 steps (a fraction in (0, 1) is a fraction of the run).
class WarmupTimestep : public TimestepSchedule {
 public:
  explicit WarmupTimestep(WarmupTimestepOptions options = {});
  static std::unique_ptr<TimestepSchedule> from_config(ConfigReader& config,
                                                       const BuildContext& context = {});
  at::Tensor sample(int64_t step, int64_t total_steps, int64_t batch,
                    at::Generator& generator) const override;
  std::array<int64_t, 2> range(int64_t step, int64_t total_steps) const override;

 private:
  WarmupTimestepOptions options_;
  ScalarSchedule warm_;  ///< r, 1 -> 0 over the warm-up
};

/// Options of DreamTimeTimestep; JSON keys are the field names (DreamTime: m1 = 800, s1 = 300,
/// m2 = 500, s2 = 100).
struct DreamTimeTimestepOptions {
  double m1 = 800, s1 = 300, m2 = 500, s2 = 100;
  std::string base = "ddpm";  ///< "ddpm" (W_d W_p) or "uniform" (W_p only)
  int64_t min_step = 20;
  int64_t max_step = 980;
};

/// DreamTime's time-prioritised monotone schedule (arXiv 2306.12422): a prior
/// p(t) proportional to W_d(t) W_p(t) on [min_step, max_step], with
/// W_d = sqrt((1 - alpha_bar) / alpha_bar) ("ddpm"; "uniform" drops it) and W_p a flat-topped
/// Gaussian (exp(-(t - m1)^2 / 2 s1^2) above m1, 1 on [m2, m1], exp(-(t - m2)^2 / 2 s2^2) below
/// m2); step i of N takes the t whose upper tail mass sum_{t' >= t} p(t') is closest to i / N.
/// Deterministic and non-increasing; one t for the whole batch.
class DreamTimeTimestep : public TimestepSchedule {
 public:
  explicit DreamTimeTimestep(DreamTimeTimestepOptions options = {});
  static std::unique_ptr<TimestepSchedule> from_config(ConfigReader& config,
                                                       const BuildContext& context = {});
  at::Tensor sample(int64_t step, int64_t total_steps, int64_t batch,
                    at::Generator& generator) const override;
  std::array<int64_t, 2> range(int64_t step, int64_t total_steps) const override;
  /// t(i) for the progress fraction i / N in [0, 1].
  int64_t timestep(double progress) const;
  /// The normalised prior p(t) for t = min_step..max_step.
  const std::vector<double>& prior() const { return prior_; }

 private:
  DreamTimeTimestepOptions options_;
  std::vector<double> prior_;
  std::vector<double> tail_;  ///< tail_[j] = sum of p over t >= max_step - j
};

/// Draws `batch` integers uniformly in [lo, hi] (one shared value when `shared`).
at::Tensor sample_timesteps(int64_t lo, int64_t hi, int64_t batch, bool shared,
                            at::Generator& generator);

}  // namespace sds
