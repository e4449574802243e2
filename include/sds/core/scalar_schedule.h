#pragma once
// A hyper-parameter that may change during a run (threestudio's C() schedules).

#include <cstdint>
#include <string>

#include "sds/core/json.h"

namespace sds {

/// A value that moves linearly from `start_value` at `start_step` to `end_value` at `end_step`
/// and stays constant outside. Steps are training steps when >= 1 or 0, and fractions of the run
/// when strictly between 0 and 1, so that a published "5000 of 10000 steps" reads 0.5 in our
/// short runs.
///
/// JSON forms:
///   2.0                                      constant
///   [start_value, end_value]                 over the whole run
///   [start_value, end_value, end_step]       from step 0 (threestudio's 3-element form)
///   [start_step, start_value, end_value, end_step]   (threestudio's 4-element form)
/// A jump such as threestudio's [5000, 0.98, 0.5, 5001] is the 4-element form.
class ScalarSchedule {
 public:
  /// A constant.
  ScalarSchedule(double value = 0.0);  // NOLINT(google-explicit-constructor): a number is a schedule
  ScalarSchedule(double start_value, double end_value, double start_step, double end_step);

  /// Parses one of the JSON forms; `where` names the value in messages.
  static ScalarSchedule parse(const Json& json, const std::string& where);

  /// The value at `step` (0-based) of a run of `total_steps`.
  double operator()(int64_t step, int64_t total_steps) const;

  double start_value() const { return start_value_; }
  double end_value() const { return end_value_; }
  /// The smallest and largest value the schedule takes (for range checks).
  double min() const;
  double max() const;
  bool is_constant() const { return start_value_ == end_value_; }

 private:
  double start_value_, end_value_;
  double start_step_, end_step_;  ///< end_step_ < 0: the last step of the run
};

/// Reads `key` of `config` as a ScalarSchedule, or `fallback` when absent.
ScalarSchedule read_schedule(ConfigReader& config, const std::string& key,
                             const ScalarSchedule& fallback);

}  // namespace sds
