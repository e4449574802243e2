#include "progress.h"

#include <cmath>

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace sds::cli {

ProgressBar::ProgressBar(int64_t total)
    : total_(total), tty_(::isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {}

void ProgressBar::update(int64_t step, double loss, const std::map<std::string, double>& metrics) {
  // The rate counts from the first update, so a resumed run does not report its skipped steps.
  if (first_step_ < 0) {
    first_step_ = step;
    start_ = std::chrono::steady_clock::now();
  }
  if (auto it = metrics.find("psnr"); it != metrics.end()) last_psnr_ = it->second;
  if (!std::isnan(loss)) last_loss_ = loss;  // a step that logged nothing keeps the last loss
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(step - first_step_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - step) / rate : 0.0;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(kWidth * step / std::max<int64_t>(total_, 1));
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::string psnr = last_psnr_ >= 0 ? fmt::format(" psnr {:.1f} dB", last_psnr_) : "";
  const std::string speed =
      rate > 0 ? fmt::format("{:.2f} it/s ETA {}:{:02d}", rate, static_cast<int>(eta) / 60,
                             static_cast<int>(eta) % 60)
               : std::string("-- it/s ETA --:--");
  std::string line = fmt::format("[{}] {}/{} loss {:.3g}{} {}", bar, step, total_, last_loss_, psnr, speed);
  if (tty_) {
    fmt::print(stderr, "\r{}\x1b[K", line);
  } else {
    // Logs get one line per tenth of the run instead of carriage returns.
    const int64_t decile = 10 * step / std::max<int64_t>(total_, 1);
    if (decile != last_printed_decile_) {
      fmt::print(stderr, "{}\n", line);
      last_printed_decile_ = decile;
    }
  }
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (tty_) fmt::print(stderr, "\n");
}

}  // namespace sds::cli
