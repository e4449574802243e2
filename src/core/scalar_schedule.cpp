#include "sds/core/scalar_schedule.h"

#include <algorithm>

#include "sds/core/error.h"

namespace sds {

namespace {

// A step given as a fraction of the run (0 < s < 1) becomes a step count.
double resolve_step(double s, int64_t total_steps) {
  const double last = static_cast<double>(std::max<int64_t>(total_steps - 1, 1));
  if (s < 0) return last;
  return (s > 0 && s < 1) ? s * static_cast<double>(total_steps) : s;
}

}  // namespace

ScalarSchedule::ScalarSchedule(double value)
    : start_value_(value), end_value_(value), start_step_(0), end_step_(-1) {}

ScalarSchedule::ScalarSchedule(double start_value, double end_value, double start_step,
                               double end_step)
    : start_value_(start_value), end_value_(end_value), start_step_(start_step),
      end_step_(end_step) {
  SDS_CHECK(start_step >= 0, "schedule: expected start_step >= 0, got {}", start_step);
  SDS_CHECK(end_step < 0 || end_step > start_step,
            "schedule: expected end_step > start_step, got start {} and end {}", start_step,
            end_step);
}

ScalarSchedule ScalarSchedule::parse(const Json& j, const std::string& where) {
  if (j.is_number()) return ScalarSchedule(j.get<double>());
  SDS_CHECK(j.is_array() && j.size() >= 2 && j.size() <= 4,
            "{}: expected a number or a list [start, end], [start, end, end_step] or "
            "[start_step, start, end, end_step], got {}",
            where, j.dump());
  for (const auto& v : j) {
    SDS_CHECK(v.is_number(), "{}: expected numbers in the schedule list, got {}", where, j.dump());
  }
  auto at = [&](size_t i) { return j[i].get<double>(); };
  try {
    if (j.size() == 2) return ScalarSchedule(at(0), at(1), 0, -1);
    if (j.size() == 3) return ScalarSchedule(at(0), at(1), 0, at(2));
    return ScalarSchedule(at(1), at(2), at(0), at(3));
  } catch (const Error& e) {
    fail("{}: {}", where, e.what());
  }
}

double ScalarSchedule::operator()(int64_t step, int64_t total_steps) const {
  if (is_constant()) return start_value_;
  const double s0 = resolve_step(start_step_, total_steps);
  const double s1 = resolve_step(end_step_, total_steps);
  const double u =
      s1 > s0 ? std::clamp((static_cast<double>(step) - s0) / (s1 - s0), 0.0, 1.0) : 1.0;
  return start_value_ + u * (end_value_ - start_value_);
}

double ScalarSchedule::min() const { return std::min(start_value_, end_value_); }
double ScalarSchedule::max() const { return std::max(start_value_, end_value_); }

ScalarSchedule read_schedule(ConfigReader& c, const std::string& key,
                             const ScalarSchedule& fallback) {
  if (!c.has(key)) return fallback;
  return ScalarSchedule::parse(c.raw(key), c.where() + "." + key);
}

}  // namespace sds
