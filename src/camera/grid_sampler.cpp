#include "sds/camera/grid_sampler.h"

#include <cmath>

#include "sampler_limits.h"
#include "sds/core/error.h"

namespace sds {

GridSampler::GridSampler(GridSamplerOptions options) : options_(std::move(options)) {
  SDS_CHECK(!options_.elevations_deg.empty(),
            "camera_sampler (grid).elevations_deg: expected at least one elevation");
  for (double e : options_.elevations_deg) {
    SDS_CHECK(std::isfinite(e) && e >= -90 && e <= 90,
              "camera_sampler (grid).elevations_deg: expected degrees in [-90, 90], got {}", e);
  }
  const double step = options_.azimuth_step_deg;
  SDS_CHECK(std::isfinite(step) && step > 0 && step <= 360,
            "camera_sampler (grid).azimuth_step_deg: expected (0, 360], got {}", step);
  SDS_CHECK(options_.radius > 0 && options_.radius <= 1e6,
            "camera_sampler (grid).radius: expected (0, 1e6], got {}", options_.radius);
  SDS_CHECK(options_.fovy_deg > 0 && options_.fovy_deg < 180,
            "camera_sampler (grid).fovy_deg: expected (0, 180), got {}", options_.fovy_deg);
  check_sampler_sizes(options_.batch_size, options_.height, options_.width);
  check_resolution_stages(options_.earlier_stages);
  // The same function builds the exact prior's components, so each drawn view is one of them.
  for (const ResolutionStage& s : options_.earlier_stages) {
    views_.push_back(grid_views(options_.elevations_deg, step, options_.radius,
                                options_.fovy_deg, s.height, s.width));
  }
  views_.push_back(grid_views(options_.elevations_deg, step, options_.radius, options_.fovy_deg,
                              options_.height, options_.width));
  azimuths_ = static_cast<int64_t>(views_.back().size() / options_.elevations_deg.size());
}

std::unique_ptr<CameraSampler> GridSampler::from_config(ConfigReader& c, const BuildContext&) {
  GridSamplerOptions o;
  o.elevations_deg = c.get("elevations_deg", o.elevations_deg);
  o.azimuth_step_deg = c.get("azimuth_step_deg", o.azimuth_step_deg);
  o.radius = c.get("radius", o.radius);
  o.fovy_deg = c.get("fovy_deg", o.fovy_deg);
  o.earlier_stages = read_resolution_stages(c, o.height, o.width, o.batch_size);
  return std::make_unique<GridSampler>(o);
}

CameraBatch GridSampler::sample(int64_t step, at::Generator& generator) const {
  const size_t stage = resolution_stage_of(options_.earlier_stages, step);
  const std::vector<Camera>& views = views_[stage];
  const ResolutionStage final_stage{0, options_.height, options_.width, options_.batch_size};
  const int64_t b = resolution_stage_at(options_.earlier_stages, stage, final_stage).batch_size;
  at::Tensor u = at::rand({b, 2}, generator, at::kDouble);
  auto acc = u.accessor<double, 2>();
  const auto elevations = static_cast<int64_t>(options_.elevations_deg.size());
  std::vector<Camera> cameras;
  for (int64_t i = 0; i < b; ++i) {
    // The i-th arc [i M / B, (i + 1) M / B) of the M grid azimuths.
    const double arc = (acc[i][0] + static_cast<double>(i)) / static_cast<double>(b);
    const int64_t a = std::min(azimuths_ - 1, static_cast<int64_t>(arc * azimuths_));
    const int64_t e = std::min(elevations - 1, static_cast<int64_t>(acc[i][1] * elevations));
    cameras.push_back(views[e * azimuths_ + a]);
  }
  return CameraBatch(std::move(cameras));
}

}  // namespace sds
