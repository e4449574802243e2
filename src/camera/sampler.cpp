#include "sds/camera/sampler.h"

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

OrbitSampler::OrbitSampler(OrbitSamplerOptions options) : options_(options) {
  check_range(options_.elevation_deg, "elevation_deg", -90, 90);
  check_range(options_.azimuth_deg, "azimuth_deg", -360, 360);
  check_range(options_.radius, "radius", 1e-6, 1e6);
  check_range(options_.fovy_deg, "fovy_deg", 1e-3, 179);
  check_sampler_sizes(options_.batch_size, options_.height, options_.width);
  SDS_CHECK(options_.views_per_group >= 1 && options_.batch_size % options_.views_per_group == 0,
            "camera_sampler: expected views_per_group >= 1 dividing batch_size {}, got {}",
            options_.batch_size, options_.views_per_group);
}

std::unique_ptr<CameraSampler> OrbitSampler::from_config(ConfigReader& c, const BuildContext&) {
  OrbitSamplerOptions o;
  o.elevation_deg = c.get("elevation_deg", o.elevation_deg);
  o.azimuth_deg = c.get("azimuth_deg", o.azimuth_deg);
  o.radius = c.get("radius", o.radius);
  o.fovy_deg = c.get("fovy_deg", o.fovy_deg);
  o.height = c.get("height", o.height);
  o.width = c.get("width", o.width);
  o.batch_size = c.get("batch_size", o.batch_size);
  o.batch_uniform_azimuth = c.get("batch_uniform_azimuth", o.batch_uniform_azimuth);
  o.views_per_group = c.get("views_per_group", o.views_per_group);
  return std::make_unique<OrbitSampler>(o);
}

CameraBatch OrbitSampler::sample(int64_t /*step*/, at::Generator& generator) const {
  const int64_t b = options_.batch_size;
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
      cameras.push_back(Camera::orbit(elevation, lerp(options_.azimuth_deg, u), radius, fovy,
                                      options_.height, options_.width));
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

template <>
void register_builtins<CameraSampler>(Registry<CameraSampler>& r) {
  r.add("orbit", &OrbitSampler::from_config);
  r.add("grid", &GridSampler::from_config);
}

}  // namespace sds
