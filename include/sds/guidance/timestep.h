#pragma once
// Which diffusion timesteps t a guidance uses at training step i of N.

#include <ATen/ATen.h>

#include <array>
#include <memory>

#include "sds/core/json.h"

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

/// t ~ randint[min_step, max_step] inclusive, one per batch element (or one shared), as in
/// DreamFusion / threestudio (defaults 20 and 980 = 0.02 and 0.98 of T = 1000).
class UniformTimestep : public TimestepSchedule {
 public:
  UniformTimestep(int64_t min_step = 20, int64_t max_step = 980, bool shared = false);
  static std::unique_ptr<TimestepSchedule> from_config(ConfigReader& config,
                                                       const BuildContext& context = {});
  at::Tensor sample(int64_t step, int64_t total_steps, int64_t batch,
                    at::Generator& generator) const override;
  std::array<int64_t, 2> range(int64_t step, int64_t total_steps) const override;

 private:
  int64_t min_step_, max_step_;
  bool shared_;
};

/// threestudio's linearly annealed min/max step (its C() schedule): the bounds move linearly
/// from their start to their end value between `start_step` and `end_step` (the last training
/// step when -1), then t ~ randint[min, max]. The default anneals max from 980 to 300.
class AnnealedTimestep : public TimestepSchedule {
 public:
  struct Options {
    std::array<int64_t, 2> min_step{20, 20};    ///< [start value, end value]
    std::array<int64_t, 2> max_step{980, 300};  ///< [start value, end value]
    int64_t start_step = 0;
    int64_t end_step = -1;
    bool shared = false;  ///< one t for the whole batch
  };
  explicit AnnealedTimestep(Options options);
  static std::unique_ptr<TimestepSchedule> from_config(ConfigReader& config,
                                                       const BuildContext& context = {});
  at::Tensor sample(int64_t step, int64_t total_steps, int64_t batch,
                    at::Generator& generator) const override;
  std::array<int64_t, 2> range(int64_t step, int64_t total_steps) const override;

 private:
  Options options_;
};

/// Draws `batch` integers uniformly in [lo, hi] (one shared value when `shared`).
at::Tensor sample_timesteps(int64_t lo, int64_t hi, int64_t batch, bool shared,
                            at::Generator& generator);

}  // namespace sds
