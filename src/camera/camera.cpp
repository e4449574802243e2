#include "sds/camera/camera.h"

#include <cmath>
#include <numbers>

#include "sds/core/error.h"

namespace sds {

namespace {
double radians(double degrees) { return degrees * std::numbers::pi / 180.0; }
}  // namespace

std::string view_sector(double azimuth_deg, double elevation_deg,
                        const ViewSectorThresholds& t) {
  double a = std::fmod(azimuth_deg, 360.0);
  if (a > 180.0) a -= 360.0;
  if (a <= -180.0) a += 360.0;
  a = std::abs(a);
  std::string sector = "side";
  if (a < t.front_deg) sector = "front";
  if (a > 180.0 - t.back_deg) sector = "back";
  if (elevation_deg > t.overhead_deg) sector = "overhead";
  return sector;
}

at::Tensor Camera::direction() const {
  const double e = radians(elevation_deg), a = radians(azimuth_deg);
  return at::tensor({std::cos(e) * std::cos(a), std::cos(e) * std::sin(a), std::sin(e)},
                    at::kDouble);
}

double Camera::focal() const { return 0.5 * static_cast<double>(height) / std::tan(radians(fovy_deg) / 2); }

at::Tensor Camera::c2w() const {
  SDS_CHECK(radius > 0, "camera: expected radius > 0, got {}", radius);
  SDS_CHECK(fovy_deg > 0 && fovy_deg < 180, "camera: expected fovy in (0, 180) degrees, got {}",
            fovy_deg);
  SDS_CHECK(height > 0 && width > 0, "camera: expected a positive image size, got {} x {}",
            height, width);
  at::Tensor back = direction();  // the camera looks down -back, towards the origin
  at::Tensor position = back * radius;
  at::Tensor up_world = at::tensor({0.0, 0.0, 1.0}, at::kDouble);
  at::Tensor right = at::linalg_cross(up_world, back);
  // At the poles the world up is parallel to the view axis; any right vector is then valid.
  if (right.norm().item<double>() < 1e-9) right = at::tensor({0.0, 1.0, 0.0}, at::kDouble);
  right = right / right.norm();
  at::Tensor up = at::linalg_cross(back, right);
  at::Tensor m = at::eye(4, at::kDouble);
  m.index_put_({at::indexing::Slice(0, 3), 0}, right);
  m.index_put_({at::indexing::Slice(0, 3), 1}, up);
  m.index_put_({at::indexing::Slice(0, 3), 2}, back);
  m.index_put_({at::indexing::Slice(0, 3), 3}, position);
  return m;
}

CameraBatch::CameraBatch(std::vector<Camera> cameras) : cameras_(std::move(cameras)) {
  SDS_CHECK(!cameras_.empty(), "CameraBatch: expected at least one camera, got none");
  for (const auto& c : cameras_) {
    SDS_CHECK(c.height == height() && c.width == width(),
              "CameraBatch: expected every camera to render {} x {}, got {} x {}", height(),
              width(), c.height, c.width);
  }
}

at::Tensor CameraBatch::c2w() const {
  std::vector<at::Tensor> ms;
  for (const auto& c : cameras_) ms.push_back(c.c2w());
  return at::stack(ms).to(at::kFloat);
}

at::Tensor CameraBatch::elevation_deg() const {
  std::vector<float> v;
  for (const auto& c : cameras_) v.push_back(static_cast<float>(c.elevation_deg));
  return at::tensor(v, at::kFloat);
}

at::Tensor CameraBatch::azimuth_deg() const {
  std::vector<float> v;
  for (const auto& c : cameras_) v.push_back(static_cast<float>(c.azimuth_deg));
  return at::tensor(v, at::kFloat);
}

Rays CameraBatch::rays(int64_t supersample, at::ScalarType dtype) const {
  SDS_CHECK(supersample >= 1, "rays: expected supersample >= 1, got {}", supersample);
  const int64_t h = height() * supersample, w = width() * supersample;
  // Sub-pixel centres in units of whole pixels.
  at::Tensor js = (at::arange(w, at::kDouble) + 0.5) / static_cast<double>(supersample);
  at::Tensor is = (at::arange(h, at::kDouble) + 0.5) / static_cast<double>(supersample);
  std::vector<at::Tensor> origins, directions;
  for (const auto& c : cameras_) {
    const double f = c.focal();
    at::Tensor x = ((js - 0.5 * static_cast<double>(c.width)) / f).view({1, w}).expand({h, w});
    at::Tensor y = (-(is - 0.5 * static_cast<double>(c.height)) / f).view({h, 1}).expand({h, w});
    at::Tensor d_cam = at::stack({x, y, -at::ones({h, w}, at::kDouble)}, -1);  // [h, w, 3]
    at::Tensor m = c.c2w();
    at::Tensor rot = m.index({at::indexing::Slice(0, 3), at::indexing::Slice(0, 3)});
    at::Tensor d = at::matmul(d_cam, rot.t());
    d = d / d.norm(2, -1, true);
    directions.push_back(d);
    origins.push_back(m.index({at::indexing::Slice(0, 3), 3}).view({1, 1, 3}).expand({h, w, 3}));
  }
  return {at::stack(origins).to(dtype).contiguous(), at::stack(directions).to(dtype).contiguous()};
}

CameraBatch CameraBatch::resized(int64_t height, int64_t width) const {
  std::vector<Camera> out = cameras_;
  for (auto& c : out) {
    c.height = height;
    c.width = width;
  }
  return CameraBatch(std::move(out));
}

}  // namespace sds
