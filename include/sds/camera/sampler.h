#pragma once
// Where the cameras of a training step come from, and the fixed view sets used for the exact
// prior's components and for measurement.

#include <ATen/core/Generator.h>

#include <array>
#include <memory>
#include <vector>

#include "sds/camera/camera.h"
#include "sds/core/json.h"

namespace sds {

/// Draws the cameras of one training step.
class CameraSampler {
 public:
  static constexpr const char* kInterfaceName = "camera_sampler";
  struct BuildContext {};
  virtual ~CameraSampler() = default;
  /// The cameras for `step`, drawn with `generator` only (so a seed fixes them).
  virtual CameraBatch sample(int64_t step, at::Generator& generator) const = 0;
  /// Image size of the sampled cameras (with a progressive resolution, the final one).
  virtual int64_t height() const = 0;
  virtual int64_t width() const = 0;
};

/// Sizes a sampler accepts: larger ones are an sds::Error up front instead of an allocation that
/// cannot succeed (a 1e6-pixel-high image, 1e5 views).
struct SamplerLimits {
  static constexpr int64_t max_image_side = 8192;
  static constexpr int64_t max_batch_size = 1024;
  static constexpr int64_t max_pixels_per_step = int64_t{1} << 26;  ///< views x height x width
};

/// An earlier stage of a progressive resolution (threestudio's `resolution_milestones`): the
/// steps before `until_step` draw `batch_size` views of `height` x `width`; the sampler's own
/// height, width and batch size apply from the last stage's `until_step` on, and are the size
/// of its evaluation views.
struct ResolutionStage {
  int64_t until_step = 0;
  int64_t height = 64;
  int64_t width = 64;
  int64_t batch_size = 4;
};

/// threestudio's JSON form of a progressive resolution: "resolution_milestones": [m1, ...], and
/// "height", "width", "batch_size" each a number or a list of one value per stage (milestones
/// + 1). Sets the final size into `height`, `width`, `batch_size` and returns the earlier
/// stages; without milestones, reads the three numbers and returns no stages.
std::vector<ResolutionStage> read_resolution_stages(ConfigReader& config, int64_t& height,
                                                    int64_t& width, int64_t& batch_size);

/// sds::Error unless each stage is within SamplerLimits and the `until_step`s increase from 1.
void check_resolution_stages(const std::vector<ResolutionStage>& stages);

/// The stage `step` falls in: an index into `stages`, or stages.size() for the final size.
size_t resolution_stage_of(const std::vector<ResolutionStage>& stages, int64_t step);

/// Stage `index` in resolution_stage_of's numbering: `stages[index]`, or `final_stage` at
/// stages.size().
const ResolutionStage& resolution_stage_at(const std::vector<ResolutionStage>& stages,
                                           size_t index, const ResolutionStage& final_stage);

/// Options of the orbit sampler (threestudio's random-camera data module, simplified).
struct OrbitSamplerOptions {
  std::array<double, 2> elevation_deg{0.0, 30.0};   ///< uniform in degrees
  std::array<double, 2> azimuth_deg{-180.0, 180.0};
  std::array<double, 2> radius{3.0, 3.0};
  std::array<double, 2> fovy_deg{40.0, 40.0};
  int64_t height = 64;
  int64_t width = 64;
  int64_t batch_size = 4;
  /// Stratify azimuths over the batch ((u + i) / B of the range), as threestudio's
  /// batch_uniform_azimuth, so each step sees all sides.
  bool batch_uniform_azimuth = true;
  /// MVDream's groups: consecutive views_per_group cameras share elevation, radius and fov, and
  /// their azimuths are (u + j) / N of the range apart (90 degrees for N = 4 over 360). The
  /// batch size must be a multiple of it.
  int64_t views_per_group = 1;
  /// Smaller images (or other batch sizes) for the first steps; see ResolutionStage.
  std::vector<ResolutionStage> earlier_stages;
};

/// Cameras on a sphere around the origin with elevation, azimuth, radius and fov drawn uniformly
/// from their ranges.
class OrbitSampler : public CameraSampler {
 public:
  explicit OrbitSampler(OrbitSamplerOptions options);
  /// Reads the options from JSON (keys as in OrbitSamplerOptions).
  static std::unique_ptr<CameraSampler> from_config(ConfigReader& config,
                                                    const BuildContext& context = {});

  CameraBatch sample(int64_t step, at::Generator& generator) const override;
  int64_t height() const override { return options_.height; }
  int64_t width() const override { return options_.width; }
  const OrbitSamplerOptions& options() const { return options_; }

 private:
  OrbitSamplerOptions options_;
};

/// The grid of views every `azimuth_step_deg` degrees (from 0) at each elevation.
std::vector<Camera> grid_views(const std::vector<double>& elevations_deg, double azimuth_step_deg,
                               double radius, double fovy_deg, int64_t height, int64_t width);

/// The exact prior's 24 held-out views: azimuth 5 + 30k degrees (k = 0..11) at elevations 7.5
/// and 22.5 degrees; none lies on the component grid.
std::vector<Camera> held_out_views(double radius, double fovy_deg, int64_t height, int64_t width);

/// `count` views spread evenly over the sphere around the origin (a Fibonacci lattice: the
/// i-th at height 1 - (2 i + 1) / count along +Z and golden-angle azimuths), looking at the
/// origin from `radius`; elevations cover (-90, 90) without reaching the poles.
std::vector<Camera> sphere_views(int64_t count, double radius, double fovy_deg, int64_t height,
                                 int64_t width);

/// A turntable of `frames` views at one elevation, starting at azimuth 0 (the front).
std::vector<Camera> turntable_views(int64_t frames, double elevation_deg, double radius,
                                    double fovy_deg, int64_t height, int64_t width);

}  // namespace sds
