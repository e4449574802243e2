#pragma once
// The per-Gaussian arithmetic of 3D Gaussian splatting, shared by the CPU and CUDA kernels: each
// forward function next to its vector-Jacobian product (VJP, `v_x` = dL/dx). Plain C++ so that
// nvcc can read it. Matrices are row-major; gradients of matrix functions treat every entry as
// independent ("full-matrix" convention), so the VJP of a symmetric input is itself symmetric.
// Formulas: ../shared/reference/gaussians.md sections 1-3, re-derived and checked by the tests
// against float64 finite differences.

#include "ops/device_math.h"

namespace sds::ops::detail {

template <typename T>
struct Vec2 {
  T x, y;
};

template <typename T>
struct Vec3 {
  T x, y, z;
};

template <typename T>
struct Mat2 {
  T m[2][2];
};

template <typename T>
struct Mat3 {
  T m[3][3];
};

// Rasterisation constants (gsplat HEAD, the Inria rasteriser): an opacity below 1/255 is not
// drawn, opacity is capped at 0.99 so that a pixel needs two opaque hits to stop (which keeps
// 1 / (1 - alpha) <= 100 in the backward pass), and a pixel stops once transmittance would fall
// to 1e-4.
constexpr double kAlphaMin = 1.0 / 255.0;
constexpr double kAlphaMax = 0.99;
constexpr double kTransmittanceMin = 1e-4;
// A Gaussian's screen box reaches 3.33 standard deviations (gsplat's GAUSSIAN_EXTEND), less for
// faint ones (opacity-aware, StopThePop section B.2).
constexpr double kExtentSigmas = 3.33;
// gsplat HEAD floors the anti-aliasing compensation so that tiny Gaussians are not culled.
constexpr double kMinCompensation = 0.005;
// The perspective Jacobian is evaluated with x/z and y/z clamped to the image plus this fraction
// of the half field of view on each side (gsplat's persp_proj).
constexpr double kJacobianMargin = 0.3;

SDS_HOST_DEVICE inline float sqrt_of(float x) { return ::sqrtf(x); }
SDS_HOST_DEVICE inline double sqrt_of(double x) { return ::sqrt(x); }
SDS_HOST_DEVICE inline float log_of(float x) { return ::logf(x); }
SDS_HOST_DEVICE inline double log_of(double x) { return ::log(x); }
SDS_HOST_DEVICE inline float ceil_of(float x) { return ::ceilf(x); }
SDS_HOST_DEVICE inline double ceil_of(double x) { return ::ceil(x); }
SDS_HOST_DEVICE inline float floor_of(float x) { return ::floorf(x); }
SDS_HOST_DEVICE inline double floor_of(double x) { return ::floor(x); }
SDS_HOST_DEVICE inline float exp_of(float x) { return ::expf(x); }
SDS_HOST_DEVICE inline double exp_of(double x) { return ::exp(x); }

template <typename T>
SDS_HOST_DEVICE inline T min_of(T a, T b) {
  return a < b ? a : b;
}

template <typename T>
SDS_HOST_DEVICE inline T max_of(T a, T b) {
  return a > b ? a : b;
}

template <typename T>
SDS_HOST_DEVICE inline Mat3<T> transpose(const Mat3<T>& a) {
  Mat3<T> r;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) r.m[i][j] = a.m[j][i];
  }
  return r;
}

template <typename T>
SDS_HOST_DEVICE inline Mat3<T> matmul(const Mat3<T>& a, const Mat3<T>& b) {
  Mat3<T> r;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      r.m[i][j] = a.m[i][0] * b.m[0][j] + a.m[i][1] * b.m[1][j] + a.m[i][2] * b.m[2][j];
    }
  }
  return r;
}

template <typename T>
SDS_HOST_DEVICE inline Vec3<T> matvec(const Mat3<T>& a, const Vec3<T>& v) {
  return {a.m[0][0] * v.x + a.m[0][1] * v.y + a.m[0][2] * v.z,
          a.m[1][0] * v.x + a.m[1][1] * v.y + a.m[1][2] * v.z,
          a.m[2][0] * v.x + a.m[2][1] * v.y + a.m[2][2] * v.z};
}

// ---- quaternion -> rotation ---------------------------------------------------------------

/// R(q / |q|) for q = (w, x, y, z).
template <typename T>
SDS_HOST_DEVICE inline Mat3<T> quat_to_rotmat(const T q[4]) {
  const T inv = T(1) / sqrt_of(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  const T w = q[0] * inv, x = q[1] * inv, y = q[2] * inv, z = q[3] * inv;
  Mat3<T> r;
  r.m[0][0] = T(1) - T(2) * (y * y + z * z);
  r.m[0][1] = T(2) * (x * y - w * z);
  r.m[0][2] = T(2) * (x * z + w * y);
  r.m[1][0] = T(2) * (x * y + w * z);
  r.m[1][1] = T(1) - T(2) * (x * x + z * z);
  r.m[1][2] = T(2) * (y * z - w * x);
  r.m[2][0] = T(2) * (x * z - w * y);
  r.m[2][1] = T(2) * (y * z + w * x);
  r.m[2][2] = T(1) - T(2) * (x * x + y * y);
  return r;
}

/// VJP of quat_to_rotmat through the normalisation: adds dL/dq to v_q.
template <typename T>
SDS_HOST_DEVICE inline void quat_to_rotmat_vjp(const T q[4], const Mat3<T>& v, T v_q[4]) {
  const T inv = T(1) / sqrt_of(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  const T w = q[0] * inv, x = q[1] * inv, y = q[2] * inv, z = q[3] * inv;
  const auto& g = v.m;
  // dL/dq_hat, the partial derivatives of the nine entries above.
  const T gw = T(2) * (-z * g[0][1] + y * g[0][2] + z * g[1][0] - x * g[1][2] - y * g[2][0] +
                       x * g[2][1]);
  const T gx = T(2) * (y * g[0][1] + z * g[0][2] + y * g[1][0] - T(2) * x * g[1][1] -
                       w * g[1][2] + z * g[2][0] + w * g[2][1] - T(2) * x * g[2][2]);
  const T gy = T(2) * (-T(2) * y * g[0][0] + x * g[0][1] + w * g[0][2] + x * g[1][0] +
                       z * g[1][2] - w * g[2][0] + z * g[2][1] - T(2) * y * g[2][2]);
  const T gz = T(2) * (-T(2) * z * g[0][0] - w * g[0][1] + x * g[0][2] + w * g[1][0] -
                       T(2) * z * g[1][1] + y * g[1][2] + x * g[2][0] + y * g[2][1]);
  // Normalisation q_hat = q / |q| projects out the radial component.
  const T dot = gw * w + gx * x + gy * y + gz * z;
  v_q[0] += (gw - dot * w) * inv;
  v_q[1] += (gx - dot * x) * inv;
  v_q[2] += (gy - dot * y) * inv;
  v_q[3] += (gz - dot * z) * inv;
}

// ---- (quaternion, scale) -> 3D covariance --------------------------------------------------

/// Sigma = R S S^T R^T with S = diag(scale) (standard deviations, not variances).
template <typename T>
SDS_HOST_DEVICE inline Mat3<T> quat_scale_to_covar(const T q[4], const T s[3]) {
  const Mat3<T> r = quat_to_rotmat(q);
  Mat3<T> m;  // M = R S
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) m.m[i][j] = r.m[i][j] * s[j];
  }
  return matmul(m, transpose(m));
}

/// VJP of quat_scale_to_covar: adds dL/dq to v_q and dL/dscale to v_s.
template <typename T>
SDS_HOST_DEVICE inline void quat_scale_to_covar_vjp(const T q[4], const T s[3],
                                                    const Mat3<T>& v_covar, T v_q[4], T v_s[3]) {
  const Mat3<T> r = quat_to_rotmat(q);
  Mat3<T> m;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) m.m[i][j] = r.m[i][j] * s[j];
  }
  // v_M = (v_Sigma + v_Sigma^T) M; v_R = v_M S; v_s_j = sum_i R_ij v_M_ij.
  Mat3<T> sym;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) sym.m[i][j] = v_covar.m[i][j] + v_covar.m[j][i];
  }
  const Mat3<T> v_m = matmul(sym, m);
  Mat3<T> v_r;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) v_r.m[i][j] = v_m.m[i][j] * s[j];
  }
  for (int j = 0; j < 3; ++j) {
    v_s[j] += r.m[0][j] * v_m.m[0][j] + r.m[1][j] * v_m.m[1][j] + r.m[2][j] * v_m.m[2][j];
  }
  quat_to_rotmat_vjp(q, v_r, v_q);
}

// ---- world -> camera ------------------------------------------------------------------------

/// Sigma_c = R Sigma R^T for the world-to-camera rotation R.
template <typename T>
SDS_HOST_DEVICE inline Mat3<T> covar_world_to_cam(const Mat3<T>& rot, const Mat3<T>& covar) {
  return matmul(matmul(rot, covar), transpose(rot));
}

/// VJP of covar_world_to_cam w.r.t. the world covariance: R^T v R.
template <typename T>
SDS_HOST_DEVICE inline Mat3<T> covar_world_to_cam_vjp(const Mat3<T>& rot, const Mat3<T>& v) {
  return matmul(matmul(transpose(rot), v), rot);
}

// ---- perspective projection (EWA) ----------------------------------------------------------

/// Pinhole intrinsics and the image size, in pixels.
template <typename T>
struct Intrinsics {
  T fx, fy, cx, cy;
  int width, height;
};

/// The clamped x/z, y/z used by the Jacobian and whether each stayed inside its limits.
template <typename T>
struct ClampedRatios {
  T rx, ry;
  bool inside_x, inside_y;
};

template <typename T>
SDS_HOST_DEVICE inline ClampedRatios<T> clamp_ratios(const Vec3<T>& t, const Intrinsics<T>& k) {
  const T tan_x = T(0.5) * T(k.width) / k.fx;
  const T tan_y = T(0.5) * T(k.height) / k.fy;
  const T lim_x_pos = (T(k.width) - k.cx) / k.fx + T(kJacobianMargin) * tan_x;
  const T lim_x_neg = k.cx / k.fx + T(kJacobianMargin) * tan_x;
  const T lim_y_pos = (T(k.height) - k.cy) / k.fy + T(kJacobianMargin) * tan_y;
  const T lim_y_neg = k.cy / k.fy + T(kJacobianMargin) * tan_y;
  const T rx = t.x / t.z, ry = t.y / t.z;
  ClampedRatios<T> c;
  c.inside_x = rx >= -lim_x_neg && rx <= lim_x_pos;
  c.inside_y = ry >= -lim_y_neg && ry <= lim_y_pos;
  c.rx = min_of(max_of(rx, -lim_x_neg), lim_x_pos);
  c.ry = min_of(max_of(ry, -lim_y_neg), lim_y_pos);
  return c;
}

/// Projects a camera-space mean and covariance: mean2d (pixels, from the unclamped t) and
/// Sigma' = J Sigma_c J^T with J the perspective Jacobian at the clamped t.
template <typename T>
SDS_HOST_DEVICE inline void persp_proj(const Vec3<T>& t, const Mat3<T>& covar,
                                       const Intrinsics<T>& k, Vec2<T>& mean2d, Mat2<T>& cov2d) {
  const ClampedRatios<T> c = clamp_ratios(t, k);
  const T iz = T(1) / t.z;
  // J = [[fx/z, 0, -fx rx/z], [0, fy/z, -fy ry/z]] with the clamped ratios rx = tx~/z.
  const T j00 = k.fx * iz, j02 = -k.fx * c.rx * iz;
  const T j11 = k.fy * iz, j12 = -k.fy * c.ry * iz;
  const auto& s = covar.m;
  // J Sigma (2 x 3), then (J Sigma) J^T.
  const T a0 = j00 * s[0][0] + j02 * s[2][0], a1 = j00 * s[0][1] + j02 * s[2][1],
          a2 = j00 * s[0][2] + j02 * s[2][2];
  const T b0 = j11 * s[1][0] + j12 * s[2][0], b1 = j11 * s[1][1] + j12 * s[2][1],
          b2 = j11 * s[1][2] + j12 * s[2][2];
  cov2d.m[0][0] = a0 * j00 + a2 * j02;
  cov2d.m[0][1] = a1 * j11 + a2 * j12;
  cov2d.m[1][0] = b0 * j00 + b2 * j02;
  cov2d.m[1][1] = b1 * j11 + b2 * j12;
  mean2d.x = k.fx * t.x * iz + k.cx;
  mean2d.y = k.fy * t.y * iz + k.cy;
}

/// VJP of persp_proj: adds dL/dt to v_t and dL/dSigma_c to v_covar.
template <typename T>
SDS_HOST_DEVICE inline void persp_proj_vjp(const Vec3<T>& t, const Mat3<T>& covar,
                                           const Intrinsics<T>& k, const Vec2<T>& v_mean2d,
                                           const Mat2<T>& v_cov2d, Vec3<T>& v_t,
                                           Mat3<T>& v_covar) {
  const ClampedRatios<T> c = clamp_ratios(t, k);
  const T iz = T(1) / t.z, iz2 = iz * iz;
  T j[2][3] = {{k.fx * iz, T(0), -k.fx * c.rx * iz}, {T(0), k.fy * iz, -k.fy * c.ry * iz}};
  // v_Sigma_c = J^T v J.
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3; ++b) {
      T acc = T(0);
      for (int p = 0; p < 2; ++p) {
        for (int q = 0; q < 2; ++q) acc += j[p][a] * v_cov2d.m[p][q] * j[q][b];
      }
      v_covar.m[a][b] += acc;
    }
  }
  // v_J = (v + v^T) J Sigma_c.
  T js[2][3];
  for (int p = 0; p < 2; ++p) {
    for (int b = 0; b < 3; ++b) {
      js[p][b] = j[p][0] * covar.m[0][b] + j[p][1] * covar.m[1][b] + j[p][2] * covar.m[2][b];
    }
  }
  T vj[2][3];
  for (int p = 0; p < 2; ++p) {
    for (int b = 0; b < 3; ++b) {
      vj[p][b] = (v_cov2d.m[p][0] + v_cov2d.m[0][p]) * js[0][b] +
                 (v_cov2d.m[p][1] + v_cov2d.m[1][p]) * js[1][b];
    }
  }
  // mean2d = (fx tx / tz + cx, fy ty / tz + cy).
  v_t.x += k.fx * iz * v_mean2d.x;
  v_t.y += k.fy * iz * v_mean2d.y;
  v_t.z -= (k.fx * t.x * v_mean2d.x + k.fy * t.y * v_mean2d.y) * iz2;
  // J entries: J00 = fx/z, J11 = fy/z; J02 = -fx rx / z with rx = tx/z inside the limits (then
  // dJ02/dtx = -fx/z^2, dJ02/dtz = 2 fx tx/z^3) and a constant outside (dJ02/dtz = fx rx/z^2).
  v_t.z -= k.fx * iz2 * vj[0][0] + k.fy * iz2 * vj[1][1];
  if (c.inside_x) {
    v_t.x -= k.fx * iz2 * vj[0][2];
    v_t.z += T(2) * k.fx * t.x * iz2 * iz * vj[0][2];
  } else {
    v_t.z += k.fx * c.rx * iz2 * vj[0][2];
  }
  if (c.inside_y) {
    v_t.y -= k.fy * iz2 * vj[1][2];
    v_t.z += T(2) * k.fy * t.y * iz2 * iz * vj[1][2];
  } else {
    v_t.z += k.fy * c.ry * iz2 * vj[1][2];
  }
}

// ---- low-pass dilation, inverse and compensation -------------------------------------------

template <typename T>
SDS_HOST_DEVICE inline T det2(const Mat2<T>& a) {
  return a.m[0][0] * a.m[1][1] - a.m[0][1] * a.m[1][0];
}

/// Inverse of a 2x2 matrix with determinant `det`.
template <typename T>
SDS_HOST_DEVICE inline Mat2<T> inverse2(const Mat2<T>& a, T det) {
  const T inv = T(1) / det;
  Mat2<T> r;
  r.m[0][0] = a.m[1][1] * inv;
  r.m[0][1] = -a.m[0][1] * inv;
  r.m[1][0] = -a.m[1][0] * inv;
  r.m[1][1] = a.m[0][0] * inv;
  return r;
}

/// VJP of P = A^-1 given P: dL/dA = -P^T V P^T.
template <typename T>
SDS_HOST_DEVICE inline Mat2<T> inverse2_vjp(const Mat2<T>& p, const Mat2<T>& v) {
  Mat2<T> pv, r;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 2; ++j) pv.m[i][j] = p.m[0][i] * v.m[0][j] + p.m[1][i] * v.m[1][j];
  }
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 2; ++j) r.m[i][j] = -(pv.m[i][0] * p.m[j][0] + pv.m[i][1] * p.m[j][1]);
  }
  return r;
}

/// The anti-aliasing compensation rho = sqrt(det Sigma' / det Sigma'') (Mip-Splatting), floored.
template <typename T>
SDS_HOST_DEVICE inline T compensation(T det_blur, T det_orig) {
  const T rho2 = max_of(T(0), det_orig / det_blur);
  return max_of(sqrt_of(rho2), T(kMinCompensation));
}

/// VJP of compensation w.r.t. Sigma'' (= w.r.t. Sigma', since Sigma'' = Sigma' + eps I), for
/// P = Sigma''^-1: d rho / d Sigma'' = [(1 - rho^2) P - eps det(P) I] / (2 rho). Zero where the
/// floor is active.
template <typename T>
SDS_HOST_DEVICE inline void compensation_vjp(T rho, const Mat2<T>& p, T eps2d, T v_rho,
                                             Mat2<T>& v_cov2d) {
  if (rho <= T(kMinCompensation)) return;
  const T f = v_rho / (T(2) * rho);
  const T one_minus = T(1) - rho * rho;
  const T det_p = det2(p);
  v_cov2d.m[0][0] += f * (one_minus * p.m[0][0] - eps2d * det_p);
  v_cov2d.m[0][1] += f * one_minus * p.m[0][1];
  v_cov2d.m[1][0] += f * one_minus * p.m[1][0];
  v_cov2d.m[1][1] += f * (one_minus * p.m[1][1] - eps2d * det_p);
}

// ---- pixel footprint ------------------------------------------------------------------------

/// Opacity falloff of a Gaussian at offset (dx, dy) = mean2d - pixel for conic (a, b, c):
/// sigma = (a dx^2 + c dy^2) / 2 + b dx dy.
template <typename T>
SDS_HOST_DEVICE inline T conic_power(T a, T b, T c, T dx, T dy) {
  return T(0.5) * (a * dx * dx + c * dy * dy) + b * dx * dy;
}

// ---- spherical harmonics (degree <= 3) -----------------------------------------------------

constexpr int kMaxShDegree = 3;
constexpr int kMaxShCoeffs = 16;

/// The real SH basis Y_k(d) of unit d for k < (degree + 1)^2, in the 3DGS order, and (when
/// `grad` is not null) the partial derivatives dY_k/d(x, y, z) in grad[3k .. 3k + 2].
template <typename T>
SDS_HOST_DEVICE inline void sh_basis(int degree, T x, T y, T z, T* basis, T* grad) {
  const T c0 = T(0.28209479177387814), c1 = T(0.4886025119029199);
  basis[0] = c0;
  if (grad) grad[0] = grad[1] = grad[2] = T(0);
  if (degree < 1) return;
  basis[1] = -c1 * y;
  basis[2] = c1 * z;
  basis[3] = -c1 * x;
  if (grad) {
    const T g[9] = {T(0), -c1, T(0), T(0), T(0), c1, -c1, T(0), T(0)};
    for (int i = 0; i < 9; ++i) grad[3 + i] = g[i];
  }
  if (degree < 2) return;
  const T a = T(1.0925484305920792), b = T(0.31539156525252005), c = T(0.5462742152960396);
  const T xx = x * x, yy = y * y, zz = z * z;
  basis[4] = a * x * y;
  basis[5] = -a * y * z;
  basis[6] = b * (T(2) * zz - xx - yy);
  basis[7] = -a * x * z;
  basis[8] = c * (xx - yy);
  if (grad) {
    const T g[15] = {a * y,          a * x,          T(0),  T(0),  -a * z, -a * y,
                     -T(2) * b * x,  -T(2) * b * y,  T(4) * b * z,     -a * z, T(0),
                     -a * x,         T(2) * c * x,   -T(2) * c * y,    T(0)};
    for (int i = 0; i < 15; ++i) grad[12 + i] = g[i];
  }
  if (degree < 3) return;
  const T d9 = T(0.5900435899266435), d10 = T(2.890611442640554), d11 = T(0.4570457994644658),
          d12 = T(0.3731763325901154), d14 = T(1.445305721320277);
  basis[9] = -d9 * y * (T(3) * xx - yy);
  basis[10] = d10 * x * y * z;
  basis[11] = -d11 * y * (T(4) * zz - xx - yy);
  basis[12] = d12 * z * (T(2) * zz - T(3) * xx - T(3) * yy);
  basis[13] = -d11 * x * (T(4) * zz - xx - yy);
  basis[14] = d14 * z * (xx - yy);
  basis[15] = -d9 * x * (xx - T(3) * yy);
  if (grad) {
    const T g[21] = {-T(6) * d9 * x * y,
                     -d9 * (T(3) * xx - T(3) * yy),
                     T(0),
                     d10 * y * z,
                     d10 * x * z,
                     d10 * x * y,
                     T(2) * d11 * x * y,
                     -d11 * (T(4) * zz - xx - T(3) * yy),
                     -T(8) * d11 * y * z,
                     -T(6) * d12 * x * z,
                     -T(6) * d12 * y * z,
                     d12 * (T(6) * zz - T(3) * xx - T(3) * yy),
                     -d11 * (T(4) * zz - T(3) * xx - yy),
                     T(2) * d11 * x * y,
                     -T(8) * d11 * x * z,
                     T(2) * d14 * x * z,
                     -T(2) * d14 * y * z,
                     d14 * (xx - yy),
                     -d9 * (T(3) * xx - T(3) * yy),
                     T(6) * d9 * x * y,
                     T(0)};
    for (int i = 0; i < 21; ++i) grad[27 + i] = g[i];
  }
}

/// 1 / |v|, or 0 for a zero vector (a camera exactly at a mean sees it from "no direction").
template <typename T>
SDS_HOST_DEVICE inline T inverse_norm(const T v[3]) {
  const T n2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
  return n2 > T(0) ? T(1) / sqrt_of(n2) : T(0);
}

/// rgb = max(0, sum_k coeffs[k] Y_k(dir / |dir|) + 0.5) for K = (degree + 1)^2 coefficients of
/// 3 channels (coefficient-major), `dir` not necessarily unit.
template <typename T>
SDS_HOST_DEVICE inline void sh_to_color(int degree, const T dir[3], const T* coeffs, T rgb[3]) {
  T basis[kMaxShCoeffs];
  const T inv = inverse_norm(dir);
  sh_basis<T>(degree, dir[0] * inv, dir[1] * inv, dir[2] * inv, basis, nullptr);
  const int k_count = (degree + 1) * (degree + 1);
  for (int ch = 0; ch < 3; ++ch) {
    T acc = T(0.5);
    for (int k = 0; k < k_count; ++k) acc += coeffs[3 * k + ch] * basis[k];
    rgb[ch] = max_of(acc, T(0));
  }
}

/// VJP of sh_to_color: writes dL/dcoeffs (K x 3) and adds dL/ddir to v_dir (when not null).
/// Channels clamped at 0 pass no gradient.
template <typename T>
SDS_HOST_DEVICE inline void sh_to_color_vjp(int degree, const T dir[3], const T* coeffs,
                                            const T v_rgb[3], T* v_coeffs, T* v_dir) {
  T basis[kMaxShCoeffs];
  T grad[3 * kMaxShCoeffs];
  const T inv = inverse_norm(dir);
  const T d[3] = {dir[0] * inv, dir[1] * inv, dir[2] * inv};
  sh_basis<T>(degree, d[0], d[1], d[2], basis, v_dir ? grad : nullptr);
  const int k_count = (degree + 1) * (degree + 1);
  T v_eff[3];
  for (int ch = 0; ch < 3; ++ch) {
    T acc = T(0.5);
    for (int k = 0; k < k_count; ++k) acc += coeffs[3 * k + ch] * basis[k];
    v_eff[ch] = acc > T(0) ? v_rgb[ch] : T(0);
  }
  for (int k = 0; k < k_count; ++k) {
    for (int ch = 0; ch < 3; ++ch) v_coeffs[3 * k + ch] = basis[k] * v_eff[ch];
  }
  if (!v_dir || degree < 1) return;
  T v_d[3] = {T(0), T(0), T(0)};
  for (int k = 1; k < k_count; ++k) {
    const T w = coeffs[3 * k] * v_eff[0] + coeffs[3 * k + 1] * v_eff[1] +
                coeffs[3 * k + 2] * v_eff[2];
    v_d[0] += w * grad[3 * k];
    v_d[1] += w * grad[3 * k + 1];
    v_d[2] += w * grad[3 * k + 2];
  }
  // Through d = dir / |dir|: (v_d - (v_d . d) d) / |dir|.
  const T dot = v_d[0] * d[0] + v_d[1] * d[1] + v_d[2] * d[2];
  for (int i = 0; i < 3; ++i) v_dir[i] += (v_d[i] - dot * d[i]) * inv;
}

}  // namespace sds::ops::detail
