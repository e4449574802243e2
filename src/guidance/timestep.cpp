#include "sds/guidance/timestep.h"

#include <algorithm>
#include <cmath>

#include "sds/core/error.h"
#include "sds/core/registry.h"
#include "sds/diffusion/schedule.h"
#include "sds/guidance/weighting.h"

namespace sds {

namespace {

constexpr int64_t kTrainSteps = 1000;

void check_bounds(double lo, double hi, const char* what) {
  SDS_CHECK(lo >= 0 && hi < kTrainSteps && lo <= hi,
            "{}: expected 0 <= min_step <= max_step < {}, got min {} and max {}", what,
            kTrainSteps, lo, hi);
}

double progress(int64_t step, int64_t total_steps) {
  return std::clamp(static_cast<double>(step) / static_cast<double>(std::max<int64_t>(total_steps, 1)),
                    0.0, 1.0);
}

}  // namespace

at::Tensor sample_timesteps(int64_t lo, int64_t hi, int64_t batch, bool shared,
                            at::Generator& generator) {
  SDS_CHECK(batch >= 1, "timesteps: expected a batch of >= 1, got {}", batch);
  at::Tensor t = at::randint(lo, hi + 1, {shared ? 1 : batch}, generator, at::kLong);
  return shared ? t.expand({batch}).contiguous() : t;
}

// ---- uniform ----

UniformTimestep::UniformTimestep(UniformTimestepOptions o) : options_(o) {
  check_bounds(static_cast<double>(o.min_step), static_cast<double>(o.max_step),
               "uniform timestep schedule");
}

std::unique_ptr<TimestepSchedule> UniformTimestep::from_config(ConfigReader& c,
                                                               const BuildContext&) {
  UniformTimestepOptions o;
  o.min_step = c.get("min_step", o.min_step);
  o.max_step = c.get("max_step", o.max_step);
  o.shared = c.get("shared", o.shared);
  return std::make_unique<UniformTimestep>(o);
}

at::Tensor UniformTimestep::sample(int64_t, int64_t, int64_t batch, at::Generator& g) const {
  return sample_timesteps(options_.min_step, options_.max_step, batch, options_.shared, g);
}

std::array<int64_t, 2> UniformTimestep::range(int64_t, int64_t) const {
  return {options_.min_step, options_.max_step};
}

// ---- annealed ----

AnnealedTimestep::AnnealedTimestep(AnnealedTimestepOptions o) : options_(std::move(o)) {
  check_bounds(options_.min_step.start_value(), options_.max_step.start_value(),
               "annealed timestep schedule (start)");
  check_bounds(options_.min_step.end_value(), options_.max_step.end_value(),
               "annealed timestep schedule (end)");
}

std::unique_ptr<TimestepSchedule> AnnealedTimestep::from_config(ConfigReader& c,
                                                                const BuildContext&) {
  AnnealedTimestepOptions o;
  o.min_step = read_schedule(c, "min_step", o.min_step);
  o.max_step = read_schedule(c, "max_step", o.max_step);
  o.shared = c.get("shared", o.shared);
  return std::make_unique<AnnealedTimestep>(o);
}

std::array<int64_t, 2> AnnealedTimestep::range(int64_t step, int64_t total_steps) const {
  auto lo = static_cast<int64_t>(std::lround(options_.min_step(step, total_steps)));
  auto hi = static_cast<int64_t>(std::lround(options_.max_step(step, total_steps)));
  return {std::min(lo, hi), hi};
}

at::Tensor AnnealedTimestep::sample(int64_t step, int64_t total_steps, int64_t batch,
                                    at::Generator& g) const {
  auto [lo, hi] = range(step, total_steps);
  return sample_timesteps(lo, hi, batch, options_.shared, g);
}

// ---- power anneal (HiFA sqrt, SDI linear) ----

PowerAnnealTimestep::PowerAnnealTimestep(PowerAnnealTimestepOptions o) : options_(o) {
  check_bounds(static_cast<double>(o.min_step), static_cast<double>(o.max_step),
               "annealed deterministic timestep schedule");
  SDS_CHECK(o.power > 0, "annealed deterministic timestep schedule: expected power > 0, got {}",
            o.power);
}

std::unique_ptr<TimestepSchedule> PowerAnnealTimestep::sqrt_from_config(ConfigReader& c,
                                                                        const BuildContext&) {
  PowerAnnealTimestepOptions o{300, 980, 0.5};
  o.min_step = c.get("min_step", o.min_step);
  o.max_step = c.get("max_step", o.max_step);
  return std::make_unique<PowerAnnealTimestep>(o);
}

std::unique_ptr<TimestepSchedule> PowerAnnealTimestep::linear_from_config(ConfigReader& c,
                                                                          const BuildContext&) {
  PowerAnnealTimestepOptions o{250, 980, 1.0};
  o.min_step = c.get("min_step", o.min_step);
  o.max_step = c.get("max_step", o.max_step);
  return std::make_unique<PowerAnnealTimestep>(o);
}

int64_t PowerAnnealTimestep::timestep(int64_t step, int64_t total_steps) const {
  const double p = std::pow(progress(step, total_steps), options_.power);
  const auto lo = static_cast<double>(options_.min_step);
  const auto hi = static_cast<double>(options_.max_step);
  return static_cast<int64_t>(std::floor(lo + (hi - lo) * (1 - p)));
}

at::Tensor PowerAnnealTimestep::sample(int64_t step, int64_t total_steps, int64_t batch,
                                       at::Generator&) const {
  return at::full({batch}, timestep(step, total_steps), at::kLong);
}

std::array<int64_t, 2> PowerAnnealTimestep::range(int64_t step, int64_t total_steps) const {
  const int64_t t = timestep(step, total_steps);
  return {t, t};
}

// ---- LucidDreamer warm-up ----

WarmupTimestep::WarmupTimestep(WarmupTimestepOptions o)
    : options_(o), warm_(1.0, 0.0, 0.0, o.warmup_steps) {
  check_bounds(static_cast<double>(o.min_step), static_cast<double>(o.max_step),
               "warm-up timestep schedule");
  check_bounds(static_cast<double>(o.max_step), static_cast<double>(o.warmup_max_step),
               "warm-up timestep schedule (max_step and warmup_max_step)");
  SDS_CHECK(o.warmup_steps > 0, "warm-up timestep schedule: expected warmup_steps > 0, got {}",
            o.warmup_steps);
}

std::unique_ptr<TimestepSchedule> WarmupTimestep::from_config(ConfigReader& c,
                                                              const BuildContext&) {
  WarmupTimestepOptions o;
  o.min_step = c.get("min_step", o.min_step);
  o.max_step = c.get("max_step", o.max_step);
  o.warmup_max_step = c.get("warmup_max_step", o.warmup_max_step);
  o.warmup_steps = c.get("warmup_steps", o.warmup_steps);
  o.shared = c.get("shared", o.shared);
  return std::make_unique<WarmupTimestep>(o);
}

std::array<int64_t, 2> WarmupTimestep::range(int64_t step, int64_t total_steps) const {
  const double r = warm_(step, total_steps);
  const int64_t extra = options_.warmup_max_step - options_.max_step;
  return {options_.min_step,
          options_.max_step + static_cast<int64_t>(static_cast<double>(extra) * r)};
}

at::Tensor WarmupTimestep::sample(int64_t step, int64_t total_steps, int64_t batch,
                                  at::Generator& g) const {
  auto [lo, hi] = range(step, total_steps);
  return sample_timesteps(lo, hi, batch, options_.shared, g);
}

// ---- DreamTime ----

DreamTimeTimestep::DreamTimeTimestep(DreamTimeTimestepOptions o) : options_(std::move(o)) {
  check_bounds(static_cast<double>(options_.min_step), static_cast<double>(options_.max_step),
               "dreamtime timestep schedule");
  SDS_CHECK(options_.s1 > 0 && options_.s2 > 0,
            "dreamtime timestep schedule: expected s1 > 0 and s2 > 0, got {} and {}", options_.s1,
            options_.s2);
  SDS_CHECK(options_.m2 <= options_.m1,
            "dreamtime timestep schedule: expected m2 <= m1, got m1 {} and m2 {}", options_.m1,
            options_.m2);
  SDS_CHECK(options_.base == "ddpm" || options_.base == "uniform",
            "dreamtime timestep schedule: expected base \"ddpm\" or \"uniform\", got \"{}\"",
            options_.base);
  const NoiseSchedule schedule = NoiseSchedule::scaled_linear();
  const at::Tensor w_d = NoiseToSignalWeighting()(schedule.alphas_cumprod());
  double total = 0.0;
  for (int64_t t = options_.min_step; t <= options_.max_step; ++t) {
    const double td = static_cast<double>(t);
    double w_p = 1.0;
    if (td > options_.m1) w_p = std::exp(-std::pow(td - options_.m1, 2) / (2 * options_.s1 * options_.s1));
    if (td < options_.m2) w_p = std::exp(-std::pow(td - options_.m2, 2) / (2 * options_.s2 * options_.s2));
    const double w = (options_.base == "ddpm" ? w_d[t].item<double>() : 1.0) * w_p;
    prior_.push_back(w);
    total += w;
  }
  for (double& p : prior_) p /= total;
  double acc = 0.0;
  for (auto it = prior_.rbegin(); it != prior_.rend(); ++it) tail_.push_back(acc += *it);
}

std::unique_ptr<TimestepSchedule> DreamTimeTimestep::from_config(ConfigReader& c,
                                                                 const BuildContext&) {
  DreamTimeTimestepOptions o;
  o.m1 = c.get("m1", o.m1);
  o.s1 = c.get("s1", o.s1);
  o.m2 = c.get("m2", o.m2);
  o.s2 = c.get("s2", o.s2);
  o.base = c.get("base", o.base);
  o.min_step = c.get("min_step", o.min_step);
  o.max_step = c.get("max_step", o.max_step);
  return std::make_unique<DreamTimeTimestep>(o);
}

int64_t DreamTimeTimestep::timestep(double p) const {
  SDS_CHECK(p >= 0 && p <= 1, "dreamtime timestep schedule: expected progress in [0, 1], got {}",
            p);
  // The first t (from the top) whose tail mass reaches the progress (the first author's
  // bisection rule in DreamWaltz-G).
  const auto j = std::lower_bound(tail_.begin(), tail_.end(), p) - tail_.begin();
  return std::max(options_.max_step - static_cast<int64_t>(j), options_.min_step);
}

at::Tensor DreamTimeTimestep::sample(int64_t step, int64_t total_steps, int64_t batch,
                                     at::Generator&) const {
  return at::full({batch}, timestep(progress(step, total_steps)), at::kLong);
}

std::array<int64_t, 2> DreamTimeTimestep::range(int64_t step, int64_t total_steps) const {
  const int64_t t = timestep(progress(step, total_steps));
  return {t, t};
}

template <>
void register_builtins<TimestepSchedule>(Registry<TimestepSchedule>& r) {
  r.add("uniform", &UniformTimestep::from_config);
  r.add("annealed", &AnnealedTimestep::from_config);
  r.add("sqrt_anneal", &PowerAnnealTimestep::sqrt_from_config);
  r.add("linear_anneal", &PowerAnnealTimestep::linear_from_config);
  r.add("warmup", &WarmupTimestep::from_config);
  r.add("dreamtime", &DreamTimeTimestep::from_config);
}

}  // namespace sds
