#pragma once
// Cameras in the one convention of the library (threestudio / DreamFusion): world +Z is up;
// camera axes are OpenGL-style (it looks down its -Z, +Y up, +X right), so a camera-to-world
// matrix has columns right, up, back (-look) and position. An orbit camera at elevation e and
// azimuth a sits at r (cos e cos a, cos e sin a, sin e) looking at the origin; azimuth 0 (camera
// on +X) is the front. Pixel (i, j) is row i from the top, column j from the left; its centre is
// at image coordinates (j + 0.5, i + 0.5), and its ray goes through
// ((u - cx) / fx, -(v - cy) / fy, -1) in camera space.

#include <ATen/ATen.h>

#include <array>
#include <string>
#include <vector>

namespace sds {

/// A pinhole camera: pose (camera-to-world, OpenGL axes), intrinsics in pixels and image size.
struct Camera {
  /// An identity pose without intrinsics; make cameras with orbit() or from_c2w(). (Declared so
  /// that `Camera{e, a, r, ...}` does not compile as an aggregate of the matrix entries.)
  Camera() = default;
  /// Camera-to-world, row-major; the last row is (0, 0, 0, 1).
  std::array<double, 16> camera_to_world{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  double fx = 0, fy = 0;  ///< focal lengths in pixels
  double cx = 0, cy = 0;  ///< principal point in pixels (image coordinates, see above)
  int64_t width = 0, height = 0;

  /// An orbit camera looking at the origin from elevation / azimuth (degrees) at `radius`, with
  /// vertical field of view `fovy_deg`, square pixels and the principal point at the centre.
  static Camera orbit(double elevation_deg, double azimuth_deg, double radius = 3.0,
                      double fovy_deg = 40.0, int64_t height = 64, int64_t width = 64);
  /// A camera from a camera-to-world `[4, 4]` tensor (any float dtype and device; read once to
  /// the host) and intrinsics. Checks the shape, a rigid rotation and positive sizes.
  static Camera from_c2w(const at::Tensor& c2w, double fx, double fy, double cx, double cy,
                         int64_t width, int64_t height);

  /// Camera-to-world `[4, 4]` (float64).
  at::Tensor c2w() const;
  /// World-to-camera with OpenCV axes (+x right, +y down, +z forward) `[4, 4]` float64: the
  /// splatting ops' viewmat.
  at::Tensor viewmat() const;
  /// Pinhole intrinsics `[3, 3]` float64: the splatting ops' K.
  at::Tensor K() const;
  /// The camera centre in world coordinates.
  std::array<double, 3> position() const;
  /// Unit vector from the origin towards the camera centre, `[3]` float64.
  at::Tensor direction() const;
  /// Distance of the centre from the origin.
  double radius() const;
  /// Elevation of the centre above the XY plane, degrees in [-90, 90]; the angles read from the
  /// pose are rounded to 1e-9 degrees, so an orbit camera gives back the angles it was made from.
  double elevation_deg() const;
  /// Azimuth of the centre around +Z from +X, degrees in (-180, 180].
  double azimuth_deg() const;
  /// Vertical field of view, 2 atan(height / (2 fy)), in degrees.
  double fovy_deg() const;
  /// The same pose rendering `height` x `width` pixels: the intrinsics scale with the image.
  Camera resized(int64_t height, int64_t width) const;
  /// Throws sds::Error unless the sizes and focal lengths are positive and finite.
  void check(const std::string& what = "camera") const;
};

/// Where an orbit camera sits (Camera::orbit), without an image size. Angles in degrees.
struct OrbitPose {
  double elevation_deg = 0.0;
  double azimuth_deg = 0.0;
  double radius = 3.0;
  double fovy_deg = 40.0;  ///< vertical field of view
  /// The camera at this pose rendering `height` x `width` pixels.
  Camera camera(int64_t height, int64_t width) const {
    return Camera::orbit(elevation_deg, azimuth_deg, radius, fovy_deg, height, width);
  }
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
  /// Cameras from a user's own camera-to-world matrices `[B, 4, 4]` (OpenGL axes) and
  /// intrinsics `[B, 3, 3]` (or `[3, 3]` shared), read once to the host.
  static CameraBatch from_tensors(const at::Tensor& c2w, const at::Tensor& K, int64_t width,
                                  int64_t height);

  int64_t size() const { return static_cast<int64_t>(cameras_.size()); }
  int64_t height() const { return cameras_.front().height; }
  int64_t width() const { return cameras_.front().width; }
  const Camera& operator[](int64_t i) const { return cameras_.at(i); }
  const std::vector<Camera>& cameras() const { return cameras_; }

  /// Camera-to-world matrices `[B, 4, 4]` float32.
  at::Tensor c2w() const;
  /// World-to-camera matrices with OpenCV axes `[B, 4, 4]` float32 (the splatting ops' viewmats).
  at::Tensor viewmats() const;
  /// Intrinsics `[B, 3, 3]` float32 (the splatting ops' Ks).
  at::Tensor Ks() const;
  /// Elevation and azimuth in degrees, `[B]` float32 each.
  at::Tensor elevation_deg() const;
  at::Tensor azimuth_deg() const;

  /// Rays through the pixels (the volume renderer's input). With `supersample` s > 1 the grid is
  /// `[B, s H, s W, 3]` with rays through the centres of the s x s sub-pixels (for anti-aliased
  /// ground truth).
  /// The rays are built on `device` from one host copy of the cameras (no host sync).
  Rays rays(int64_t supersample = 1, at::ScalarType dtype = at::kFloat,
            const at::Device& device = at::kCPU) const;

  /// The cameras with a different image size (same poses, see Camera::resized).
  CameraBatch resized(int64_t height, int64_t width) const;

 private:
  std::vector<Camera> cameras_;
};

}  // namespace sds
