#pragma once
// Training cameras drawn from a fixed grid of views: the views a prior was built from.

#include <memory>
#include <vector>

#include "sds/camera/sampler.h"

namespace sds {

/// Options of the grid sampler. The defaults are the exact prior's component grid
/// (ExactPriorOptions: elevations 0, 15, 30, every 10 degrees of azimuth, radius 3, fovy 40).
struct GridSamplerOptions {
  std::vector<double> elevations_deg{0.0, 15.0, 30.0};
  double azimuth_step_deg = 10.0;  ///< azimuths 0, step, 2 step, ... below 360
  double radius = 3.0;
  double fovy_deg = 40.0;
  int64_t height = 64;
  int64_t width = 64;
  int64_t batch_size = 4;
  /// Smaller images (or other batch sizes) for the first steps; see ResolutionStage.
  std::vector<ResolutionStage> earlier_stages;
};

/// Draws each step's cameras from the grid of `elevations_deg` x azimuths every
/// `azimuth_step_deg`: view i's azimuth uniformly from the i-th of `batch_size` equal arcs of
/// the grid's azimuths (the orbit sampler's batch_uniform_azimuth, on the grid), its elevation
/// uniformly from the list. The exact prior's distribution holds only its grid's views: asked
/// for a camera between them, its denoiser returns the nearest grid view's image, misaligned by
/// up to the grid's spacing, and thin parts blur. On its grid the prior's mode is the exact view.
/// JSON: {"type": "grid", ...keys as in GridSamplerOptions}.
class GridSampler : public CameraSampler {
 public:
  explicit GridSampler(GridSamplerOptions options);
  static std::unique_ptr<CameraSampler> from_config(ConfigReader& config,
                                                    const BuildContext& context = {});

  CameraBatch sample(int64_t step, at::Generator& generator) const override;
  int64_t height() const override { return options_.height; }
  int64_t width() const override { return options_.width; }
  const GridSamplerOptions& options() const { return options_; }

 private:
  GridSamplerOptions options_;
  /// grid_views() at each stage's image size (the final size last): elevation-major, the exact
  /// prior's own grid
  std::vector<std::vector<Camera>> views_;
  int64_t azimuths_;           ///< grid azimuths per elevation
};

}  // namespace sds
