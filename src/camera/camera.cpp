#include "sds/camera/camera.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "sds/core/checks.h"
#include "sds/core/device.h"
#include "sds/core/error.h"

namespace sds {

namespace {

using Vec3 = std::array<double, 3>;

double radians(double degrees) { return degrees * std::numbers::pi / 180.0; }
double degrees(double radians) { return radians * 180.0 / std::numbers::pi; }
// Angles read back from a pose are rounded to 1e-9 degrees, so that an orbit camera reports the
// angles it was made from (30, not 29.999999999999996) and view-sector thresholds do not flip.
double rounded_degrees(double radians) { return std::round(degrees(radians) * 1e9) / 1e9; }

Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double norm(const Vec3& a) { return std::sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]); }
Vec3 scaled(const Vec3& a, double s) { return {a[0] * s, a[1] * s, a[2] * s}; }

at::Tensor matrix(const std::array<double, 16>& m) {
  return at::tensor(at::ArrayRef<double>(m.data(), m.size()), at::kDouble).view({4, 4});
}

}  // namespace

std::string view_sector(double azimuth_deg, double elevation_deg, const ViewSectorThresholds& t) {
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

Camera Camera::orbit(double elevation_deg, double azimuth_deg, double radius, double fovy_deg,
                     int64_t height, int64_t width) {
  SDS_CHECK(std::isfinite(elevation_deg) && std::isfinite(azimuth_deg),
            "orbit camera: expected finite angles, got elevation {} and azimuth {}", elevation_deg,
            azimuth_deg);
  SDS_CHECK(radius > 0 && std::isfinite(radius), "orbit camera: expected radius > 0, got {}",
            radius);
  SDS_CHECK(fovy_deg > 0 && fovy_deg < 180,
            "orbit camera: expected fovy in (0, 180) degrees, got {}", fovy_deg);
  const double e = radians(elevation_deg), a = radians(azimuth_deg);
  const Vec3 back{std::cos(e) * std::cos(a), std::cos(e) * std::sin(a), std::sin(e)};
  Vec3 right = cross({0.0, 0.0, 1.0}, back);
  // At the poles the world up is parallel to the view axis; any right vector is then valid.
  if (norm(right) < 1e-9) right = {0.0, 1.0, 0.0};
  right = scaled(right, 1.0 / norm(right));
  const Vec3 up = cross(back, right);
  const Vec3 position = scaled(back, radius);
  Camera c;
  for (int r = 0; r < 3; ++r) {
    c.camera_to_world[4 * r + 0] = right[r];
    c.camera_to_world[4 * r + 1] = up[r];
    c.camera_to_world[4 * r + 2] = back[r];
    c.camera_to_world[4 * r + 3] = position[r];
  }
  const double f = 0.5 * static_cast<double>(height) / std::tan(radians(fovy_deg) / 2);
  c.fx = c.fy = f;
  c.cx = 0.5 * static_cast<double>(width);
  c.cy = 0.5 * static_cast<double>(height);
  c.width = width;
  c.height = height;
  c.check("orbit camera");
  return c;
}

Camera Camera::from_c2w(const at::Tensor& c2w, double fx, double fy, double cx, double cy,
                        int64_t width, int64_t height) {
  check_shape(c2w, "c2w", {4, 4}, "[4, 4]");
  check_floating(c2w, "c2w");
  at::Tensor m = c2w.detach().to(at::kCPU, at::kDouble).contiguous();
  Camera c;
  std::copy_n(m.data_ptr<double>(), 16, c.camera_to_world.begin());
  c.fx = fx;
  c.fy = fy;
  c.cx = cx;
  c.cy = cy;
  c.width = width;
  c.height = height;
  c.check("camera");
  return c;
}

void Camera::check(const std::string& what) const {
  SDS_CHECK(height > 0 && width > 0, "{}: expected a positive image size, got {} x {}", what,
            height, width);
  SDS_CHECK(fx > 0 && fy > 0 && std::isfinite(fx) && std::isfinite(fy),
            "{}: expected positive finite focal lengths, got fx {} and fy {}", what, fx, fy);
  SDS_CHECK(std::isfinite(cx) && std::isfinite(cy),
            "{}: expected a finite principal point, got ({}, {})", what, cx, cy);
  const auto& m = camera_to_world;
  for (double v : m) SDS_CHECK(std::isfinite(v), "{}: camera-to-world has NaN or Inf", what);
  SDS_CHECK(m[12] == 0 && m[13] == 0 && m[14] == 0 && m[15] == 1,
            "{}: expected the last row of camera-to-world to be (0, 0, 0, 1), got ({}, {}, {}, {})",
            what, m[12], m[13], m[14], m[15]);
  // R^T R = I within float32 round-off: the rays and the splatting Jacobians assume a rotation.
  double worst = 0;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      double dot = 0;
      for (int r = 0; r < 3; ++r) dot += m[4 * r + i] * m[4 * r + j];
      worst = std::max(worst, std::abs(dot - (i == j ? 1.0 : 0.0)));
    }
  }
  SDS_CHECK(worst < 1e-4,
            "{}: expected camera-to-world to hold a rotation (orthonormal columns), got an error "
            "of {} in R^T R",
            what, worst);
}

at::Tensor Camera::c2w() const { return matrix(camera_to_world); }

at::Tensor Camera::viewmat() const {
  // OpenCV axes are OpenGL's with y and z flipped: viewmat = diag(1, -1, -1, 1) c2w^-1, and the
  // inverse of a rigid transform is [R^T, -R^T t].
  const auto& m = camera_to_world;
  std::array<double, 16> v{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const double flip[3] = {1.0, -1.0, -1.0};
  for (int i = 0; i < 3; ++i) {
    double t = 0;
    for (int r = 0; r < 3; ++r) {
      v[4 * i + r] = flip[i] * m[4 * r + i];
      t -= m[4 * r + i] * m[4 * r + 3];
    }
    v[4 * i + 3] = flip[i] * t;
  }
  return matrix(v);
}

at::Tensor Camera::K() const {
  return at::tensor({fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0}, at::kDouble).view({3, 3});
}

std::array<double, 3> Camera::position() const {
  return {camera_to_world[3], camera_to_world[7], camera_to_world[11]};
}

double Camera::radius() const { return norm(position()); }

at::Tensor Camera::direction() const {
  const Vec3 p = position();
  const double r = norm(p);
  SDS_CHECK(r > 0, "camera: the direction of a camera at the origin is undefined");
  return at::tensor({p[0] / r, p[1] / r, p[2] / r}, at::kDouble);
}

double Camera::elevation_deg() const {
  const Vec3 p = position();
  const double r = norm(p);
  return r > 0 ? rounded_degrees(std::asin(std::clamp(p[2] / r, -1.0, 1.0))) : 0.0;
}

double Camera::azimuth_deg() const {
  const Vec3 p = position();
  const double a = rounded_degrees(std::atan2(p[1], p[0]));
  return a <= -180.0 ? a + 360.0 : a;
}

double Camera::fovy_deg() const {
  return degrees(2.0 * std::atan(0.5 * static_cast<double>(height) / fy));
}

Camera Camera::resized(int64_t new_height, int64_t new_width) const {
  SDS_CHECK(new_height > 0 && new_width > 0, "camera: expected a positive image size, got {} x {}",
            new_height, new_width);
  Camera c = *this;
  const double sx = static_cast<double>(new_width) / static_cast<double>(width);
  const double sy = static_cast<double>(new_height) / static_cast<double>(height);
  c.fx = fx * sx;
  c.cx = cx * sx;
  c.fy = fy * sy;
  c.cy = cy * sy;
  c.width = new_width;
  c.height = new_height;
  return c;
}

CameraBatch::CameraBatch(std::vector<Camera> cameras) : cameras_(std::move(cameras)) {
  SDS_CHECK(!cameras_.empty(), "CameraBatch: expected at least one camera, got none");
  for (const auto& c : cameras_) {
    SDS_CHECK(c.height == height() && c.width == width(),
              "CameraBatch: expected every camera to render {} x {}, got {} x {}", height(),
              width(), c.height, c.width);
  }
}

CameraBatch CameraBatch::from_tensors(const at::Tensor& c2w, const at::Tensor& K, int64_t width,
                                      int64_t height) {
  check_shape(c2w, "c2w", {-1, 4, 4}, "[B, 4, 4]");
  check_floating(c2w, "c2w");
  check_floating(K, "K");
  SDS_CHECK(c2w.size(0) >= 1, "CameraBatch: expected at least one camera, got none");
  at::Tensor ks = K.dim() == 2 ? K.unsqueeze(0).expand({c2w.size(0), 3, 3}) : K;
  check_shape(ks, "K", {c2w.size(0), 3, 3}, "[B, 3, 3] or [3, 3]");
  // One copy of each to the host (from_c2w's own copy is then a no-op).
  ks = ks.detach().to(at::kCPU, at::kDouble).contiguous();
  const at::Tensor poses = c2w.detach().to(at::kCPU, at::kDouble);
  auto k = ks.accessor<double, 3>();
  std::vector<Camera> cameras;
  for (int64_t b = 0; b < c2w.size(0); ++b) {
    SDS_CHECK(
        k[b][0][1] == 0 && k[b][1][0] == 0 && k[b][2][0] == 0 && k[b][2][1] == 0 && k[b][2][2] == 1,
        "CameraBatch: expected K[{}] as [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]", b);
    cameras.push_back(
        Camera::from_c2w(poses[b], k[b][0][0], k[b][1][1], k[b][0][2], k[b][1][2], width, height));
  }
  return CameraBatch(std::move(cameras));
}

namespace {
template <class F>
at::Tensor stack_cameras(const std::vector<Camera>& cameras, F&& f) {
  std::vector<at::Tensor> ms;
  for (const auto& c : cameras) ms.push_back(f(c));
  return at::stack(ms).to(at::kFloat);
}
}  // namespace

at::Tensor CameraBatch::c2w() const {
  return stack_cameras(cameras_, [](const Camera& c) { return c.c2w(); });
}
at::Tensor CameraBatch::viewmats() const {
  return stack_cameras(cameras_, [](const Camera& c) { return c.viewmat(); });
}
at::Tensor CameraBatch::Ks() const {
  return stack_cameras(cameras_, [](const Camera& c) { return c.K(); });
}

at::Tensor CameraBatch::elevation_deg() const {
  std::vector<float> v;
  for (const auto& c : cameras_) v.push_back(static_cast<float>(c.elevation_deg()));
  return at::tensor(v, at::kFloat);
}

at::Tensor CameraBatch::azimuth_deg() const {
  std::vector<float> v;
  for (const auto& c : cameras_) v.push_back(static_cast<float>(c.azimuth_deg()));
  return at::tensor(v, at::kFloat);
}

Rays CameraBatch::rays(int64_t supersample, at::ScalarType dtype, const at::Device& device) const {
  SDS_CHECK(supersample >= 1, "rays: expected supersample >= 1, got {}", supersample);
  const int64_t b = size(), h = height() * supersample, w = width() * supersample;
  // One host tensor of every camera's pose and intrinsics, one copy to the device.
  std::vector<double> params;
  for (const auto& c : cameras_) {
    const at::Tensor m = c.c2w();
    params.insert(params.end(), m.const_data_ptr<double>(), m.const_data_ptr<double>() + 16);
    params.insert(params.end(), {c.fx, c.fy, c.cx, c.cy});
  }
  const at::Tensor p = to_device(at::tensor(params, at::kDouble).view({b, 20}), device);
  const at::Tensor c2w = p.narrow(1, 0, 16).view({b, 4, 4});
  auto column = [&](int64_t k) { return p.select(1, 16 + k).view({b, 1, 1}); };
  const auto options = at::TensorOptions(at::kDouble).device(device);
  // Sub-pixel centres in units of whole pixels.
  at::Tensor js = ((at::arange(w, options) + 0.5) / static_cast<double>(supersample)).view({1, 1, w});
  at::Tensor is = ((at::arange(h, options) + 0.5) / static_cast<double>(supersample)).view({1, h, 1});
  at::Tensor x = ((js - column(2)) / column(0)).expand({b, h, w});
  at::Tensor y = (-(is - column(3)) / column(1)).expand({b, h, w});
  at::Tensor d_cam = at::stack({x, y, -at::ones({b, h, w}, options)}, -1);  // [b, h, w, 3]
  at::Tensor rot = c2w.narrow(1, 0, 3).narrow(2, 0, 3);                      // [b, 3, 3]
  at::Tensor d = at::matmul(d_cam.view({b, h * w, 3}), rot.transpose(1, 2)).view({b, h, w, 3});
  d = d / d.norm(2, -1, true);
  at::Tensor o = c2w.narrow(1, 0, 3).select(2, 3).view({b, 1, 1, 3}).expand({b, h, w, 3});
  return {o.to(dtype).contiguous(), d.to(dtype).contiguous()};
}

CameraBatch CameraBatch::resized(int64_t height, int64_t width) const {
  std::vector<Camera> out;
  for (const auto& c : cameras_) out.push_back(c.resized(height, width));
  return CameraBatch(std::move(out));
}

}  // namespace sds
