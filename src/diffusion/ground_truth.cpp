#include "sds/diffusion/ground_truth.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds {

namespace {

// A family has no single object: its callers pick a member (Concept::members()).
void check_single_member(const Concept& c, const char* what) {
  SDS_CHECK(c.variants.empty(),
            "{}: concept \"{}\" is a family of {} variants; expected one of its members "
            "(Concept::members())",
            what, c.prompt, c.variants.size());
}

constexpr double kInf = std::numeric_limits<double>::infinity();
// Hits closer than this along a ray are ignored (the ray starts at the camera, far outside).
constexpr double kMinT = 1e-9;

struct V3 {
  double x, y, z;
};
inline V3 operator+(V3 a, V3 b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
inline V3 operator-(V3 a, V3 b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
inline V3 operator*(double s, V3 a) { return {s * a.x, s * a.y, s * a.z}; }
inline double dot(V3 a, V3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
inline V3 normalized(V3 a) {
  const double len = std::sqrt(dot(a, a));
  return len > 0 ? (1.0 / len) * a : a;  // a cone's apex has no normal; it shades as ambient
}

/// A primitive ready for intersection: its local frame and parameters.
struct Prepared {
  Shape shape;
  V3 center;
  double rot[9];  // local -> world, row-major
  bool rotated;
  double bound_r2;  // squared bounding-sphere radius
  double radius, height, major, minor;
  V3 half;  // box half-size, or ellipsoid radii
  V3 albedo;
};

inline V3 to_local(const Prepared& p, V3 v) {
  if (!p.rotated) return v;
  const double* r = p.rot;  // R^T v
  return {r[0] * v.x + r[3] * v.y + r[6] * v.z, r[1] * v.x + r[4] * v.y + r[7] * v.z,
          r[2] * v.x + r[5] * v.y + r[8] * v.z};
}

inline V3 to_world(const Prepared& p, V3 v) {
  if (!p.rotated) return v;
  const double* r = p.rot;
  return {r[0] * v.x + r[1] * v.y + r[2] * v.z, r[3] * v.x + r[4] * v.y + r[5] * v.z,
          r[6] * v.x + r[7] * v.y + r[8] * v.z};
}

/// Real roots of a t^2 + 2 hb t + c = 0, ascending; false when there are none. Uses the
/// cancellation-free form q = -(hb + sign(hb) sqrt(disc)), roots q / a and c / q.
inline bool quadratic(double a, double hb, double c, double& t0, double& t1) {
  if (a == 0) {
    if (hb == 0) return false;
    t0 = t1 = -c / (2 * hb);
    return true;
  }
  const double disc = hb * hb - a * c;
  if (disc < 0) return false;
  const double q = -(hb + std::copysign(std::sqrt(disc), hb));
  if (q == 0) {
    t0 = t1 = 0;
    return true;
  }
  t0 = q / a;
  t1 = c / q;
  if (t0 > t1) std::swap(t0, t1);
  return true;
}

inline double poly_eval(const double* c, int n, double x) {
  double v = c[n];
  for (int i = n - 1; i >= 0; --i) v = v * x + c[i];
  return v;
}

/// Roots of c[0] + c[1] x + ... + c[n] x^n (n <= 4) in [lo, hi], ascending, at most `max_roots`.
/// Between consecutive roots of the derivative the polynomial is monotone, so each such piece holds
/// at most one root, bracketed by a sign change and polished by safeguarded Newton. Exact up to
/// rounding for every root with a sign change; a tangential double root (a grazing ray) may be
/// missed, which changes no pixel by more than a set of measure zero.
int poly_roots(const double* c, int n, double lo, double hi, double* out, int max_roots) {
  if (n == 1) {
    if (c[1] == 0) return 0;
    const double x = -c[0] / c[1];
    if (x < lo || x > hi) return 0;
    out[0] = x;
    return 1;
  }
  double dc[4];
  for (int i = 0; i < n; ++i) dc[i] = (i + 1) * c[i + 1];
  double knots[6];
  knots[0] = lo;
  const int m = poly_roots(dc, n - 1, lo, hi, knots + 1, 4);
  knots[m + 1] = hi;
  int count = 0;
  double fa = poly_eval(c, n, lo);
  if (fa == 0) out[count++] = lo;
  for (int k = 0; k <= m && count < max_roots; ++k) {
    double a = knots[k], b = knots[k + 1];
    const double fb = poly_eval(c, n, b);
    if ((fa < 0 && fb > 0) || (fa > 0 && fb < 0)) {
      const bool rising = fa < 0;
      double x = 0.5 * (a + b);
      for (int iter = 0; iter < 100; ++iter) {
        const double fx = poly_eval(c, n, x);
        if (fx == 0) break;
        if ((fx < 0) == rising) {
          a = x;
        } else {
          b = x;
        }
        const double dfx = poly_eval(dc, n - 1, x);
        double next = dfx != 0 ? x - fx / dfx : 0.5 * (a + b);
        if (!(next > a && next < b)) next = 0.5 * (a + b);
        const double tol = 1e-14 * (1 + std::abs(x));
        const bool done = std::abs(next - x) < tol || b - a < tol;
        x = next;
        if (done) break;
      }
      out[count++] = x;
    } else if (fb == 0 && count < max_roots) {
      out[count++] = b;
    }
    fa = fb;
  }
  return count;
}

// Each intersect_* takes the ray in the primitive's local frame (unit direction d) and returns
// the nearest hit distance in (kMinT, t_max) with its outward local normal (not normalised).

bool intersect_sphere(const Prepared& p, V3 o, V3 d, double t_max, double& t, V3& n) {
  double t0, t1;
  if (!quadratic(1.0, dot(o, d), dot(o, o) - p.radius * p.radius, t0, t1)) return false;
  const double hit = t0 > kMinT ? t0 : t1;
  if (!(hit > kMinT && hit < t_max)) return false;
  t = hit;
  n = o + hit * d;
  return true;
}

bool intersect_ellipsoid(const Prepared& p, V3 o, V3 d, double t_max, double& t, V3& n) {
  const V3 os{o.x / p.half.x, o.y / p.half.y, o.z / p.half.z};
  const V3 ds{d.x / p.half.x, d.y / p.half.y, d.z / p.half.z};
  double t0, t1;
  if (!quadratic(dot(ds, ds), dot(os, ds), dot(os, os) - 1.0, t0, t1)) return false;
  const double hit = t0 > kMinT ? t0 : t1;
  if (!(hit > kMinT && hit < t_max)) return false;
  t = hit;
  const V3 q = o + hit * d;
  n = {q.x / (p.half.x * p.half.x), q.y / (p.half.y * p.half.y), q.z / (p.half.z * p.half.z)};
  return true;
}

bool intersect_box(const Prepared& p, V3 o, V3 d, double t_max, double& t, V3& n) {
  const double os[3] = {o.x, o.y, o.z}, ds[3] = {d.x, d.y, d.z};
  const double hs[3] = {p.half.x, p.half.y, p.half.z};
  double t_near = -kInf, t_far = kInf;
  int axis = -1;
  for (int i = 0; i < 3; ++i) {
    if (ds[i] == 0) {
      if (std::abs(os[i]) > hs[i]) return false;
      continue;
    }
    double a = (-hs[i] - os[i]) / ds[i], b = (hs[i] - os[i]) / ds[i];
    if (a > b) std::swap(a, b);
    if (a > t_near) {
      t_near = a;
      axis = i;
    }
    t_far = std::min(t_far, b);
  }
  if (axis < 0 || t_near > t_far || !(t_near > kMinT && t_near < t_max)) return false;
  t = t_near;
  double nn[3] = {0, 0, 0};
  nn[axis] = ds[axis] > 0 ? -1.0 : 1.0;
  n = {nn[0], nn[1], nn[2]};
  return true;
}

bool intersect_cylinder(const Prepared& p, V3 o, V3 d, double t_max, double& t, V3& n) {
  const double h2 = 0.5 * p.height, r2 = p.radius * p.radius;
  bool found = false;
  double best = t_max;
  double t0, t1;
  if (quadratic(d.x * d.x + d.y * d.y, o.x * d.x + o.y * d.y, o.x * o.x + o.y * o.y - r2, t0, t1)) {
    for (double s : {t0, t1}) {
      const double z = o.z + s * d.z;
      if (s > kMinT && s < best && std::abs(z) <= h2) {
        best = s;
        n = {o.x + s * d.x, o.y + s * d.y, 0};
        found = true;
        break;
      }
    }
  }
  if (d.z != 0) {
    for (double zc : {-h2, h2}) {
      const double s = (zc - o.z) / d.z;
      const double x = o.x + s * d.x, y = o.y + s * d.y;
      if (s > kMinT && s < best && x * x + y * y <= r2) {
        best = s;
        n = {0, 0, zc > 0 ? 1.0 : -1.0};
        found = true;
      }
    }
  }
  if (found) t = best;
  return found;
}

bool intersect_cone(const Prepared& p, V3 o, V3 d, double t_max, double& t, V3& n) {
  // Side: x^2 + y^2 = k^2 w^2 with w = height/2 - z in [0, height], k = radius / height.
  const double h2 = 0.5 * p.height, k2 = std::pow(p.radius / p.height, 2);
  const double w0 = h2 - o.z;
  bool found = false;
  double best = t_max;
  double t0, t1;
  if (quadratic(d.x * d.x + d.y * d.y - k2 * d.z * d.z, o.x * d.x + o.y * d.y + k2 * w0 * d.z,
                o.x * o.x + o.y * o.y - k2 * w0 * w0, t0, t1)) {
    for (double s : {t0, t1}) {
      const double w = w0 - s * d.z;
      if (s > kMinT && s < best && w >= 0 && w <= p.height) {
        best = s;
        n = {o.x + s * d.x, o.y + s * d.y, k2 * w};
        found = true;
        break;
      }
    }
  }
  if (d.z != 0) {
    const double s = (-h2 - o.z) / d.z;
    const double x = o.x + s * d.x, y = o.y + s * d.y;
    if (s > kMinT && s < best && x * x + y * y <= p.radius * p.radius) {
      best = s;
      n = {0, 0, -1};
      found = true;
    }
  }
  if (found) t = best;
  return found;
}

bool intersect_torus(const Prepared& p, V3 o, V3 d, double t_max, double& t, V3& n) {
  // Shift the ray origin to its closest approach to the centre (o.d = 0 there): the quartic in
  // s = t - tc is then well scaled, its roots lie in [-(R + r), R + r].
  const double tc = -dot(o, d);
  const V3 q = o + tc * d;
  const double qq = dot(q, q), R = p.major, r = p.minor, big = R + r;
  if (qq >= big * big) return false;
  const double half_chord = std::sqrt(big * big - qq);
  const double lo = std::max(-half_chord, kMinT - tc), hi = std::min(half_chord, t_max - tc);
  if (lo >= hi) return false;
  // (|q + s d|^2 + R^2 - r^2)^2 - 4 R^2 ((qx + s dx)^2 + (qy + s dy)^2) with |d| = 1, q.d = 0.
  const double K = qq + R * R - r * r, R4 = 4 * R * R;
  const double c[5] = {K * K - R4 * (q.x * q.x + q.y * q.y), -2 * R4 * (q.x * d.x + q.y * d.y),
                       2 * K - R4 * (d.x * d.x + d.y * d.y), 0.0, 1.0};
  double root;
  if (poly_roots(c, 4, lo, hi, &root, 1) == 0) return false;
  t = root + tc;
  const V3 h = o + t * d;
  const double rho = std::sqrt(h.x * h.x + h.y * h.y);
  // Outward normal: from the nearest point of the ring circle to the hit point.
  n = rho > 0 ? V3{h.x - R * h.x / rho, h.y - R * h.y / rho, h.z} : V3{0, 0, h.z};
  return true;
}

bool intersect(const Prepared& p, V3 o, V3 d, double t_max, double& t, V3& n) {
  switch (p.shape) {
    case Shape::Sphere:
      return intersect_sphere(p, o, d, t_max, t, n);
    case Shape::Ellipsoid:
      return intersect_ellipsoid(p, o, d, t_max, t, n);
    case Shape::Box:
      return intersect_box(p, o, d, t_max, t, n);
    case Shape::Cylinder:
      return intersect_cylinder(p, o, d, t_max, t, n);
    case Shape::Cone:
      return intersect_cone(p, o, d, t_max, t, n);
    case Shape::Torus:
      return intersect_torus(p, o, d, t_max, t, n);
  }
  return false;
}

/// Whether the ray can reach the sphere (centre c, squared radius r2) before `t_max`.
inline bool reaches_sphere(V3 o, V3 d, V3 c, double r2, double t_max) {
  const V3 oc = o - c;
  const double b = dot(oc, d), disc = b * b - (dot(oc, oc) - r2);
  if (disc < 0) return false;
  const double s = std::sqrt(disc);
  return -b + s > kMinT && -b - s < t_max;
}

Prepared prepare(const Primitive& q) {
  Prepared p{};
  p.shape = q.shape;
  p.center = {q.center[0], q.center[1], q.center[2]};
  const auto rot = rotation_matrix(q.rotation_deg);
  std::copy(rot.begin(), rot.end(), p.rot);
  p.rotated = q.rotation_deg != std::array<double, 3>{0, 0, 0};
  const double br = q.bounding_radius();
  // Slack so that rounding in the bound never culls a ray that touches the surface.
  p.bound_r2 = std::pow(br * (1 + 1e-9) + 1e-12, 2);
  p.radius = q.radius;
  p.height = q.height;
  p.major = q.major_radius;
  p.minor = q.minor_radius;
  if (q.shape == Shape::Box) {
    p.half = {0.5 * q.size[0], 0.5 * q.size[1], 0.5 * q.size[2]};
  } else {
    p.half = {q.radii[0], q.radii[1], q.radii[2]};
  }
  p.albedo = {q.color[0], q.color[1], q.color[2]};
  return p;
}

bool inside(const Prepared& p, V3 world) {
  const V3 x = to_local(p, world - p.center);
  switch (p.shape) {
    case Shape::Sphere:
      return dot(x, x) <= p.radius * p.radius;
    case Shape::Ellipsoid: {
      const V3 u{x.x / p.half.x, x.y / p.half.y, x.z / p.half.z};
      return dot(u, u) <= 1.0;
    }
    case Shape::Box:
      return std::abs(x.x) <= p.half.x && std::abs(x.y) <= p.half.y && std::abs(x.z) <= p.half.z;
    case Shape::Cylinder:
      return x.x * x.x + x.y * x.y <= p.radius * p.radius && std::abs(x.z) <= 0.5 * p.height;
    case Shape::Cone: {
      if (std::abs(x.z) > 0.5 * p.height) return false;
      const double r = p.radius * (0.5 - x.z / p.height);  // base at -h/2, apex at +h/2
      return x.x * x.x + x.y * x.y <= r * r;
    }
    case Shape::Torus: {
      const double ring = std::sqrt(x.x * x.x + x.y * x.y) - p.major;
      return ring * ring + x.z * x.z <= p.minor * p.minor;
    }
  }
  return false;
}

}  // namespace

at::Tensor concept_occupancy(const Concept& concept_, const at::Tensor& points, double cell,
                             int64_t samples) {
  validate_concept(concept_);
  check_single_member(concept_, "concept_occupancy");
  SDS_CHECK(points.dim() == 2 && points.size(1) == 3,
            "concept_occupancy: expected points [N, 3], got {}", shape_string(points.sizes()));
  SDS_CHECK(cell >= 0 && samples >= 1,
            "concept_occupancy: expected cell >= 0 and samples >= 1, got {} and {}", cell, samples);
  std::vector<Prepared> prims;
  for (const Primitive& q : concept_.primitives) prims.push_back(prepare(q));
  at::Tensor pts = points.to(at::kCPU, at::kDouble).contiguous();
  const int64_t n = pts.size(0);
  const int64_t per_axis = cell > 0 ? samples : 1;
  at::Tensor out = at::empty({n}, at::kDouble);
  const double* src = pts.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  at::parallel_for(0, n, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      int64_t hits = 0;
      for (int64_t a = 0; a < per_axis; ++a) {
        for (int64_t b = 0; b < per_axis; ++b) {
          for (int64_t c = 0; c < per_axis; ++c) {
            auto offset = [&](int64_t k) {
              return cell * ((static_cast<double>(k) + 0.5) / static_cast<double>(per_axis) - 0.5);
            };
            const V3 q{src[3 * i] + offset(a), src[3 * i + 1] + offset(b),
                       src[3 * i + 2] + offset(c)};
            for (const Prepared& p : prims) {
              if (inside(p, q)) {
                ++hits;
                break;
              }
            }
          }
        }
      }
      dst[i] = static_cast<double>(hits) / static_cast<double>(per_axis * per_axis * per_axis);
    }
  });
  return out;
}

GroundTruthImages render_ground_truth(const Concept& concept_, const CameraBatch& cameras,
                                      const GroundTruthOptions& options) {
  validate_concept(concept_, fmt::format("concept \"{}\"", concept_.prompt));
  check_single_member(concept_, "render_ground_truth");
  SDS_CHECK(cameras.size() > 0, "render_ground_truth: expected at least one camera, got none");
  const int64_t s = options.supersample;
  SDS_CHECK(s >= 1 && s <= 16, "ground truth: expected supersample in [1, 16], got {}", s);
  SDS_CHECK(options.ambient >= 0 && options.diffuse >= 0,
            "ground truth: expected ambient >= 0 and diffuse >= 0, got {} and {}", options.ambient,
            options.diffuse);
  const V3 light_raw{options.light_dir[0], options.light_dir[1], options.light_dir[2]};
  const double light_norm = std::sqrt(dot(light_raw, light_raw));
  SDS_CHECK(std::isfinite(light_norm) && light_norm > 0,
            "ground truth: expected a non-zero finite light_dir, got [{}, {}, {}]", light_raw.x,
            light_raw.y, light_raw.z);
  const V3 light = (1.0 / light_norm) * light_raw;

  std::vector<Prepared> prims;
  for (const Primitive& q : concept_.primitives) prims.push_back(prepare(q));
  // One sphere around the whole object culls most background rays with a single test.
  V3 lo{kInf, kInf, kInf}, hi{-kInf, -kInf, -kInf};
  for (const Primitive& q : concept_.primitives) {
    const auto b = q.bounds();
    lo = {std::min(lo.x, b[0][0]), std::min(lo.y, b[0][1]), std::min(lo.z, b[0][2])};
    hi = {std::max(hi.x, b[1][0]), std::max(hi.y, b[1][1]), std::max(hi.z, b[1][2])};
  }
  const V3 all_center = 0.5 * (lo + hi);
  double all_r = 0;
  for (const Prepared& p : prims) {
    const V3 dc = p.center - all_center;
    all_r = std::max(all_r, std::sqrt(dot(dc, dc)) + std::sqrt(p.bound_r2));
  }
  const double all_r2 = std::pow(all_r * (1 + 1e-9), 2);

  const V3 bg{concept_.background[0], concept_.background[1], concept_.background[2]};
  const int64_t B = cameras.size(), H = cameras.height(), W = cameras.width();
  at::Tensor rgb = at::empty({B, 3, H, W}, at::kFloat);
  at::Tensor alpha = at::empty({B, 1, H, W}, at::kFloat);
  at::Tensor depth = at::empty({B, 1, H, W}, at::kFloat);
  float* rgb_ptr = rgb.data_ptr<float>();
  float* alpha_ptr = alpha.data_ptr<float>();
  float* depth_ptr = depth.data_ptr<float>();
  const double inv_samples = 1.0 / static_cast<double>(s * s);
  const int64_t sh = s * H, sw = s * W, plane = H * W;

  // Shades pixels [begin, end) (row-major) of camera `b`, whose rays `[sH, sW, 3]` start at `org`
  // and `dir`.
  auto trace = [&](const double* org, const double* dir, int64_t b, int64_t begin, int64_t end) {
    for (int64_t pixel = begin; pixel < end; ++pixel) {
      const int64_t i = pixel / W, j = pixel % W;
      V3 sum{0, 0, 0};
      int64_t hits = 0;
      double distance = 0;
      for (int64_t si = 0; si < s; ++si) {
        for (int64_t sj = 0; sj < s; ++sj) {
          const int64_t ray = (i * s + si) * sw + j * s + sj;
          const V3 o{org[3 * ray], org[3 * ray + 1], org[3 * ray + 2]};
          const V3 d{dir[3 * ray], dir[3 * ray + 1], dir[3 * ray + 2]};
          double best = kInf;
          V3 best_n{0, 0, 0};
          const Prepared* best_p = nullptr;
          if (reaches_sphere(o, d, all_center, all_r2, kInf)) {
            for (const Prepared& p : prims) {
              if (!reaches_sphere(o, d, p.center, p.bound_r2, best)) continue;
              double t;
              V3 n;
              if (intersect(p, to_local(p, o - p.center), to_local(p, d), best, t, n)) {
                best = t;
                best_n = n;
                best_p = &p;
              }
            }
          }
          if (best_p == nullptr) {
            sum = sum + bg;
            continue;
          }
          ++hits;
          distance += best;
          const V3 n = normalized(to_world(*best_p, best_n));
          const double shade = options.ambient + options.diffuse * std::max(0.0, dot(n, light));
          sum = sum + shade * best_p->albedo;
        }
      }
      rgb_ptr[(b * 3 + 0) * plane + pixel] = static_cast<float>(sum.x * inv_samples);
      rgb_ptr[(b * 3 + 1) * plane + pixel] = static_cast<float>(sum.y * inv_samples);
      rgb_ptr[(b * 3 + 2) * plane + pixel] = static_cast<float>(sum.z * inv_samples);
      alpha_ptr[b * plane + pixel] = static_cast<float>(hits * inv_samples);
      depth_ptr[b * plane + pixel] = static_cast<float>(distance * inv_samples);
    }
  };

  if (B >= 2 * at::get_num_threads()) {
    // Many views: one task per camera, each computing its own rays. Inside a parallel region
    // ATen runs the ray ops inline, so the whole render is a single parallel region (the many
    // small parallel ops of a batched ray computation stall when the cores are shared), and the
    // supersampled rays of only a few cameras are in memory at once.
    at::parallel_for(0, B, 1, [&](int64_t first, int64_t last) {
      for (int64_t b = first; b < last; ++b) {
        const Rays rays = CameraBatch({cameras[b]}).rays(s, at::kDouble);
        trace(rays.origins.data_ptr<double>(), rays.directions.data_ptr<double>(), b, 0, plane);
      }
    });
  } else {
    // Few views: all rays at once, pixels in parallel.
    const Rays rays = cameras.rays(s, at::kDouble);
    const double* org = rays.origins.data_ptr<double>();
    const double* dir = rays.directions.data_ptr<double>();
    at::parallel_for(0, B * plane, 256, [&](int64_t begin, int64_t end) {
      for (int64_t idx = begin; idx < end;) {
        const int64_t b = idx / plane, stop = std::min(end, (b + 1) * plane);
        trace(org + b * sh * sw * 3, dir + b * sh * sw * 3, b, idx - b * plane, stop - b * plane);
        idx = stop;
      }
    });
  }
  // Shading above 1 (ambient + diffuse > 1) would leave [0, 1]; the contract is an image in [0, 1].
  rgb.clamp_(0.0, 1.0);
  return {rgb, alpha, depth};
}

}  // namespace sds
