#pragma once

#include <limits>
// A one-line progress bar on stderr: step/total, loss, PSNR, it/s, ETA.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace sds::cli {

class ProgressBar {
 public:
  explicit ProgressBar(int64_t total);
  /// Redraws the bar after `step` steps; `metrics` may hold "psnr".
  void update(int64_t step, double loss, const std::map<std::string, double>& metrics);
  /// Ends the line.
  void finish();

 private:
  int64_t total_;
  int64_t first_step_ = -1;
  double last_loss_ = std::numeric_limits<double>::quiet_NaN();
  double last_psnr_ = -1.0;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  int64_t last_printed_decile_ = -1;
};

}  // namespace sds::cli
