#include "sds/guidance/timestep.h"

#include <cmath>

#include "sds/core/error.h"
#include "sds/core/registry.h"

namespace sds {

namespace {

constexpr int64_t kTrainSteps = 1000;

void check_bounds(int64_t lo, int64_t hi, const char* what) {
  SDS_CHECK(lo >= 0 && hi < kTrainSteps && lo <= hi,
            "{}: expected 0 <= min_step <= max_step < {}, got min {} and max {}", what,
            kTrainSteps, lo, hi);
}

}  // namespace

at::Tensor sample_timesteps(int64_t lo, int64_t hi, int64_t batch, bool shared,
                            at::Generator& generator) {
  SDS_CHECK(batch >= 1, "timesteps: expected a batch of >= 1, got {}", batch);
  at::Tensor t = at::randint(lo, hi + 1, {shared ? 1 : batch}, generator, at::kLong);
  return shared ? t.expand({batch}).contiguous() : t;
}

UniformTimestep::UniformTimestep(int64_t min_step, int64_t max_step, bool shared)
    : min_step_(min_step), max_step_(max_step), shared_(shared) {
  check_bounds(min_step, max_step, "uniform timestep schedule");
}

std::unique_ptr<TimestepSchedule> UniformTimestep::from_config(ConfigReader& c,
                                                               const BuildContext&) {
  return std::make_unique<UniformTimestep>(c.get<int64_t>("min_step", 20),
                                           c.get<int64_t>("max_step", 980),
                                           c.get("shared", false));
}

at::Tensor UniformTimestep::sample(int64_t, int64_t, int64_t batch, at::Generator& g) const {
  return sample_timesteps(min_step_, max_step_, batch, shared_, g);
}

std::array<int64_t, 2> UniformTimestep::range(int64_t, int64_t) const {
  return {min_step_, max_step_};
}

AnnealedTimestep::AnnealedTimestep(Options o) : options_(o) {
  check_bounds(o.min_step[0], o.max_step[0], "annealed timestep schedule (start)");
  check_bounds(o.min_step[1], o.max_step[1], "annealed timestep schedule (end)");
  SDS_CHECK(o.start_step >= 0 && (o.end_step < 0 || o.end_step > o.start_step),
            "annealed timestep schedule: expected 0 <= start_step < end_step (or end_step = -1), "
            "got {} and {}",
            o.start_step, o.end_step);
}

std::unique_ptr<TimestepSchedule> AnnealedTimestep::from_config(ConfigReader& c,
                                                                const BuildContext&) {
  Options o;
  o.min_step = c.get("min_step", o.min_step);
  o.max_step = c.get("max_step", o.max_step);
  o.start_step = c.get("start_step", o.start_step);
  o.end_step = c.get("end_step", o.end_step);
  o.shared = c.get("shared", o.shared);
  return std::make_unique<AnnealedTimestep>(o);
}

std::array<int64_t, 2> AnnealedTimestep::range(int64_t step, int64_t total_steps) const {
  const int64_t end = options_.end_step < 0 ? std::max<int64_t>(total_steps - 1, 1)
                                            : options_.end_step;
  double u = static_cast<double>(step - options_.start_step) /
             static_cast<double>(std::max<int64_t>(end - options_.start_step, 1));
  u = std::clamp(u, 0.0, 1.0);
  auto at = [u](const std::array<int64_t, 2>& v) {
    return static_cast<int64_t>(std::lround(static_cast<double>(v[0]) +
                                            u * static_cast<double>(v[1] - v[0])));
  };
  return {at(options_.min_step), at(options_.max_step)};
}

at::Tensor AnnealedTimestep::sample(int64_t step, int64_t total_steps, int64_t batch,
                                    at::Generator& g) const {
  auto [lo, hi] = range(step, total_steps);
  return sample_timesteps(lo, hi, batch, options_.shared, g);
}

template <>
void register_builtins<TimestepSchedule>(Registry<TimestepSchedule>& r) {
  r.add("uniform", &UniformTimestep::from_config);
  r.add("annealed", &AnnealedTimestep::from_config);
}

}  // namespace sds
