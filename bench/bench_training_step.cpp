// Where a training step of default.json spends its time: render forward, guidance (exact prior),
// backward, optimiser step. Prints milliseconds per part (median of repetitions).

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <vector>

#include "sds/core/json.h"
#include "sds/core/rng.h"
#include "sds/train/experiment.h"

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "examples/configs/default.json";
  sds::Experiment e = sds::Experiment::from_config(sds::read_json_file(path));
  std::vector<double> render_ms, guidance_ms, backward_ms;
  for (int i = 0; i < 12; ++i) {
    auto g = sds::make_generator(static_cast<uint64_t>(i));
    auto cams = e.sampler->sample(i, g);
    auto t0 = std::chrono::steady_clock::now();
    auto out = e.representation->render(cams, e.trainer.render);
    render_ms.push_back(ms_since(t0));
    t0 = std::chrono::steady_clock::now();
    auto loss = e.guidance->compute({out.rgb, cams, i, 250, g, g}).loss;
    guidance_ms.push_back(ms_since(t0));
    t0 = std::chrono::steady_clock::now();
    loss.backward();
    backward_ms.push_back(ms_since(t0));
  }
  // The first step builds the prior's components; leave it out of the medians.
  render_ms.erase(render_ms.begin());
  guidance_ms.erase(guidance_ms.begin());
  backward_ms.erase(backward_ms.begin());
  fmt::print("config {}\n", path);
  fmt::print("render forward  {:8.1f} ms\n", median(render_ms));
  fmt::print("guidance        {:8.1f} ms\n", median(guidance_ms));
  fmt::print("backward        {:8.1f} ms\n", median(backward_ms));
  return 0;
}
