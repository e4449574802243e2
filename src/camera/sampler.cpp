#include "sds/camera/sampler.h"

#include <cmath>
#include <numbers>

#include "sampler_limits.h"
#include "sds/camera/grid_sampler.h"
#include "sds/core/error.h"
#include "sds/core/registry.h"

namespace sds {

namespace {

void check_range(const std::array<double, 2>& r, const char* name, double lo, double hi) {
  SDS_CHECK(r[0] <= r[1] && r[0] >= lo && r[1] <= hi,
            "camera_sampler.{}: expected [min, max] with {} <= min <= max <= {}, got [{}, {}]",
            name, lo, hi, r[0], r[1]);
}

double lerp(const std::array<double, 2>& r, double u) { return r[0] + (r[1] - r[0]) * u; }

}  // namespace

void check_sampler_sizes(int64_t batch_size, int64_t height, int64_t width) {
  SDS_CHECK(batch_size >= 1, "camera_sampler.batch_size: expected >= 1, got {}", batch_size);
  SDS_CHECK(height >= 1 && width >= 1 && height <= SamplerLimits::max_image_side &&
                width <= SamplerLimits::max_image_side,
            "camera_sampler: expected an image size of 1..{} per side, got {} x {}",
            SamplerLimits::max_image_side, height, width);
  SDS_CHECK(batch_size <= SamplerLimits::max_batch_size,
            "camera_sampler.batch_size: expected at most {} views per step, got {}",
            SamplerLimits::max_batch_size, batch_size);
  SDS_CHECK(batch_size * height * width <= SamplerLimits::max_pixels_per_step,
            "camera_sampler: {} views of {} x {} are {} pixels per step, more than the {} that "
            "fit (lower batch_size or the image size)",
            batch_size, height, width, batch_size * height * width,
            SamplerLimits::max_pixels_per_step);
}

std::vector<ResolutionStage> read_resolution_stages(ConfigReader& c, int64_t& height,
                                                    int64_t& width, int64_t& batch_size) {
  const auto milestones = c.get("resolution_milestones", std::vector<int64_t>{});
  const size_t stages = milestones.size() + 1;
  // A number holds for every stage; a list gives one value per stage.
  auto per_stage = [&](const char* key, int64_t fallback) {
    const Json& v = c.raw(key);
    if (v.is_null()) return std::vector<int64_t>(stages, fallback);
    if (!v.is_array()) return std::vector<int64_t>(stages, c.get(key, fallback));
    auto values = c.get(key, std::vector<int64_t>{});
    SDS_CHECK(values.size() == stages,
              "{}.{}: expected a number or one value per resolution stage ({}: "
              "resolution_milestones has {}), got {}",
              c.where(), key, stages, milestones.size(), values.size());
    return values;
  };
  const auto heights = per_stage("height", height);
  const auto widths = per_stage("width", width);
  const auto batches = per_stage("batch_size", batch_size);
  std::vector<ResolutionStage> earlier;
  for (size_t s = 0; s + 1 < stages; ++s) {
    earlier.push_back({milestones[s], heights[s], widths[s], batches[s]});
  }
  height = heights.back();
  width = widths.back();
  batch_size = batches.back();
  return earlier;
}

void check_resolution_stages(const std::vector<ResolutionStage>& stages) {
  int64_t previous = 0;
  for (const ResolutionStage& s : stages) {
    SDS_CHECK(s.until_step > previous,
              "camera_sampler.resolution_milestones: expected increasing steps >= 1, got {} "
              "after {}",
              s.until_step, previous);
    previous = s.until_step;
    check_sampler_sizes(s.batch_size, s.height, s.width);
  }
}

size_t resolution_stage_of(const std::vector<ResolutionStage>& stages, int64_t step) {
  size_t s = 0;
  while (s < stages.size() && step >= stages[s].until_step) ++s;
  return s;
}

const ResolutionStage& resolution_stage_at(const std::vector<ResolutionStage>& stages,
                                           size_t index, const ResolutionStage& final_stage) {
  return index < stages.size() ? stages[index] : final_stage;
}

OrbitSampler::OrbitSampler(OrbitSamplerOptions options) : options_(options) {
  check_range(options_.elevation_deg, "elevation_deg", -90, 90);
  check_range(options_.azimuth_deg, "azimuth_deg", -360, 360);
  check_range(options_.radius, "radius", 1e-6, 1e6);
  check_range(options_.fovy_deg, "fovy_deg", 1e-3, 179);
  check_sampler_sizes(options_.batch_size, options_.height, options_.width);
  check_resolution_stages(options_.earlier_stages);
  SDS_CHECK(options_.views_per_group >= 1, "camera_sampler: expected views_per_group >= 1, got {}",
            options_.views_per_group);
  const ResolutionStage final_stage{0, options_.height, options_.width, options_.batch_size};
  for (size_t s = 0; s <= options_.earlier_stages.size(); ++s) {
    const int64_t b = resolution_stage_at(options_.earlier_stages, s, final_stage).batch_size;
    SDS_CHECK(b % options_.views_per_group == 0,
              "camera_sampler: expected views_per_group {} to divide every batch_size, got {}",
              options_.views_per_group, b);
  }
}

std::unique_ptr<CameraSampler> OrbitSampler::from_config(ConfigReader& c, const BuildContext&) {
  OrbitSamplerOptions o;
  o.elevation_deg = c.get("elevation_deg", o.elevation_deg);
  o.azimuth_deg = c.get("azimuth_deg", o.azimuth_deg);
  o.radius = c.get("radius", o.radius);
  o.fovy_deg = c.get("fovy_deg", o.fovy_deg);
  o.earlier_stages = read_resolution_stages(c, o.height, o.width, o.batch_size);
  o.batch_uniform_azimuth = c.get("batch_uniform_azimuth", o.batch_uniform_azimuth);
  o.views_per_group = c.get("views_per_group", o.views_per_group);
  return std::make_unique<OrbitSampler>(o);
}

CameraBatch OrbitSampler::sample(int64_t step, at::Generator& generator) const {
  const ResolutionStage final_stage{0, options_.height, options_.width, options_.batch_size};
  const ResolutionStage& stage = resolution_stage_at(
      options_.earlier_stages, resolution_stage_of(options_.earlier_stages, step), final_stage);
  const int64_t b = stage.batch_size, height = stage.height, width = stage.width;
  const int64_t n = options_.views_per_group;
  const int64_t groups = b / n;
  // One draw per group; with groups of one this is one draw per camera.
  at::Tensor u = at::rand({groups, 4}, generator, at::kDouble);
  auto acc = u.accessor<double, 2>();
  std::vector<Camera> cameras;
  for (int64_t g = 0; g < groups; ++g) {
    const double ua = options_.batch_uniform_azimuth
                          ? (acc[g][1] + static_cast<double>(g)) / static_cast<double>(groups)
                          : acc[g][1];
    const double elevation = lerp(options_.elevation_deg, acc[g][0]);
    const double radius = lerp(options_.radius, acc[g][2]);
    const double fovy = lerp(options_.fovy_deg, acc[g][3]);
    for (int64_t j = 0; j < n; ++j) {
      const double u = (ua + static_cast<double>(j)) / static_cast<double>(n);
      cameras.push_back(
          Camera::orbit(elevation, lerp(options_.azimuth_deg, u), radius, fovy, height, width));
    }
  }
  return CameraBatch(std::move(cameras));
}

std::vector<Camera> grid_views(const std::vector<double>& elevations_deg, double azimuth_step_deg,
                               double radius, double fovy_deg, int64_t height, int64_t width) {
  SDS_CHECK(azimuth_step_deg > 0 && azimuth_step_deg <= 360,
            "grid_views: expected an azimuth step in (0, 360], got {}", azimuth_step_deg);
  std::vector<Camera> out;
  for (double e : elevations_deg) {
    for (double a = 0; a < 360.0 - 1e-9; a += azimuth_step_deg) {
      out.push_back(Camera::orbit(e, a, radius, fovy_deg, height, width));
    }
  }
  return out;
}

std::vector<Camera> held_out_views(double radius, double fovy_deg, int64_t height, int64_t width) {
  std::vector<Camera> out;
  for (double e : {7.5, 22.5}) {
    for (int k = 0; k < 12; ++k) {
      out.push_back(Camera::orbit(e, 5.0 + 30.0 * k, radius, fovy_deg, height, width));
    }
  }
  return out;
}

std::vector<Camera> turntable_views(int64_t frames, double elevation_deg, double radius,
                                    double fovy_deg, int64_t height, int64_t width) {
  SDS_CHECK(frames >= 1, "turntable: expected >= 1 frames, got {}", frames);
  std::vector<Camera> out;
  for (int64_t k = 0; k < frames; ++k) {
    out.push_back(Camera::orbit(elevation_deg,
                                360.0 * static_cast<double>(k) / static_cast<double>(frames),
                                radius, fovy_deg, height, width));
  }
  return out;
}

std::vector<Camera> sphere_views(int64_t count, double radius, double fovy_deg, int64_t height,
                                 int64_t width) {
  SDS_CHECK(count >= 1, "sphere_views: expected >= 1 views, got {}", count);
  constexpr double pi = std::numbers::pi;
  const double golden = pi * (3.0 - std::sqrt(5.0));
  std::vector<Camera> out;
  for (int64_t i = 0; i < count; ++i) {
    const double z = 1.0 - (2.0 * static_cast<double>(i) + 1.0) / static_cast<double>(count);
    const double elevation = std::asin(z) * 180.0 / pi;
    const double azimuth = std::remainder(golden * static_cast<double>(i), 2 * pi) * 180.0 / pi;
    out.push_back(Camera::orbit(elevation, azimuth, radius, fovy_deg, height, width));
  }
  return out;
}

template <>
void register_builtins<CameraSampler>(Registry<CameraSampler>& r) {
  r.add("orbit", &OrbitSampler::from_config);
  r.add("grid", &GridSampler::from_config);
}

}  // namespace sds
