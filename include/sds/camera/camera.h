#pragma once
// Cameras in the one convention of the library (threestudio / DreamFusion): world +Z is up; a
// camera at elevation e and azimuth a sits at r (cos e cos a, cos e sin a, sin e) looking at the
// origin; azimuth 0 (camera on +X) is the front; camera axes are OpenGL-style (it looks down its
// -Z, +Y up, +X right). Pixel (i, j) is row i from the top, column j from the left; its ray goes
// through the pixel centre (j + 0.5, i + 0.5).

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace sds {

/// One orbit camera looking at the origin. Angles in degrees.
struct Camera {
  double elevation_deg = 0.0;
  double azimuth_deg = 0.0;
  double radius = 3.0;
  double fovy_deg = 40.0;  ///< vertical field of view
  int64_t height = 64;
  int64_t width = 64;

  /// Camera-to-world `[4, 4]` (float64): columns right, up, back (-look), position.
  at::Tensor c2w() const;
  /// Focal length in pixels: 0.5 height / tan(fovy / 2).
  double focal() const;
  /// Unit vector from the origin towards the camera, `[3]` float64.
  at::Tensor direction() const;
};

/// Thresholds of the view sectors, in degrees (threestudio's defaults; ProlificDreamer and
/// MVDream configs use 30 / 30).
struct ViewSectorThresholds {
  double front_deg = 45.0;
  double back_deg = 45.0;
  double overhead_deg = 60.0;
};

/// The view sector of a camera direction, threestudio's rule (last match wins): "side" always;
/// "front" if |azimuth| < front; "back" if |azimuth| > 180 - back; "overhead" if
/// elevation > overhead. Azimuth is wrapped to (-180, 180] first.
std::string view_sector(double azimuth_deg, double elevation_deg,
                        const ViewSectorThresholds& thresholds = {});

/// Ray origins and unit directions, `[B, H, W, 3]` each.
struct Rays {
  at::Tensor origins;
  at::Tensor directions;
};

/// A batch of cameras with one image size.
class CameraBatch {
 public:
  CameraBatch() = default;
  /// All cameras must share height and width (sds::Error otherwise); the list may not be empty.
  explicit CameraBatch(std::vector<Camera> cameras);

  int64_t size() const { return static_cast<int64_t>(cameras_.size()); }
  int64_t height() const { return cameras_.front().height; }
  int64_t width() const { return cameras_.front().width; }
  const Camera& operator[](int64_t i) const { return cameras_.at(i); }
  const std::vector<Camera>& cameras() const { return cameras_; }

  /// Camera-to-world matrices `[B, 4, 4]` float32.
  at::Tensor c2w() const;
  /// Elevation and azimuth in degrees, `[B]` float32 each.
  at::Tensor elevation_deg() const;
  at::Tensor azimuth_deg() const;

  /// Rays through the pixels. With `supersample` s > 1 the grid is `[B, s H, s W, 3]` with rays
  /// through the centres of the s x s sub-pixels (for anti-aliased ground truth).
  Rays rays(int64_t supersample = 1, at::ScalarType dtype = at::kFloat) const;

  /// The cameras with a different image size (same poses).
  CameraBatch resized(int64_t height, int64_t width) const;

 private:
  std::vector<Camera> cameras_;
};

}  // namespace sds
