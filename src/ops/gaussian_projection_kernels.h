#pragma once
// project_gaussians kernels: the per-(camera, Gaussian) EWA projection and its VJP, shared by
// the CPU and CUDA kernels, and the backends' entry points. The part above the tensor-level
// declarations is plain C++ so nvcc can read it.

#include <cstdint>

#include "ops/gaussian_math.h"

#ifdef SDS_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace sds::ops::detail {

/// Settings of one projection call.
template <typename T>
struct ProjectionSettings {
  int width, height;
  T eps2d, near_plane, far_plane;
  bool antialiased;
};

template <typename T>
SDS_HOST_DEVICE inline Intrinsics<T> intrinsics_of(const T* k, int width, int height) {
  return {k[0], k[4], k[2], k[5], width, height};
}

template <typename T>
SDS_HOST_DEVICE inline void split_viewmat(const T* v, Mat3<T>& rot, Vec3<T>& trans) {
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) rot.m[i][j] = v[4 * i + j];
  }
  trans = {v[3], v[7], v[11]};
}

/// Everything the forward computes for one (camera, Gaussian) pair; the backward recomputes it.
template <typename T>
struct ProjectedGaussian {
  bool visible;
  Vec3<T> t;        // camera-space mean
  Mat3<T> covar_c;  // camera-space covariance
  Vec2<T> mean2d;
  Mat2<T> conic;    // (Sigma' + eps2d I)^-1
  T compensation;   // 1 unless anti-aliased
  T radius_x, radius_y;
};

/// The EWA projection of one Gaussian (mean [3], quat [4] wxyz, scale [3] standard deviations)
/// into one camera (viewmat [4, 4] world-to-camera, OpenCV axes; K [3, 3]). `opacity` (may be
/// null) makes the screen box opacity-aware and culls Gaussians fainter than 1/255.
template <typename T>
SDS_HOST_DEVICE inline ProjectedGaussian<T> project_gaussian(const T* mean, const T* quat,
                                                             const T* scale, const T* opacity,
                                                             const T* viewmat, const T* k,
                                                             const ProjectionSettings<T>& s) {
  ProjectedGaussian<T> g;
  g.visible = false;
  Mat3<T> rot;
  Vec3<T> trans;
  split_viewmat(viewmat, rot, trans);
  g.t = matvec(rot, Vec3<T>{mean[0], mean[1], mean[2]});
  g.t.x += trans.x;
  g.t.y += trans.y;
  g.t.z += trans.z;
  if (!(g.t.z >= s.near_plane && g.t.z <= s.far_plane)) return g;
  g.covar_c = covar_world_to_cam(rot, quat_scale_to_covar(quat, scale));
  const Intrinsics<T> in = intrinsics_of(k, s.width, s.height);
  Mat2<T> cov2d;
  persp_proj(g.t, g.covar_c, in, g.mean2d, cov2d);
  const T det_orig = det2(cov2d);
  cov2d.m[0][0] += s.eps2d;
  cov2d.m[1][1] += s.eps2d;
  const T det = det2(cov2d);
  if (!(det > T(0))) return g;
  g.conic = inverse2(cov2d, det);
  g.compensation = s.antialiased ? compensation(det, det_orig) : T(1);
  T extent = T(kExtentSigmas);
  if (opacity) {
    const T o = opacity[0] * g.compensation;
    if (!(o >= T(kAlphaMin))) return g;
    extent = min_of(extent, sqrt_of(T(2) * log_of(o / T(kAlphaMin))));
  }
  g.radius_x = ceil_of(extent * sqrt_of(cov2d.m[0][0]));
  g.radius_y = ceil_of(extent * sqrt_of(cov2d.m[1][1]));
  if (!(g.radius_x > T(0) && g.radius_y > T(0))) return g;
  // Boxes wholly outside the image touch no tile.
  if (g.mean2d.x + g.radius_x <= T(0) || g.mean2d.x - g.radius_x >= T(s.width) ||
      g.mean2d.y + g.radius_y <= T(0) || g.mean2d.y - g.radius_y >= T(s.height)) {
    return g;
  }
  g.visible = true;
  return g;
}

/// Forward of one pair, writing the outputs (radii 0 and zeros elsewhere when culled).
template <typename T>
SDS_HOST_DEVICE inline void project_gaussian_fwd(const T* mean, const T* quat, const T* scale,
                                                 const T* opacity, const T* viewmat, const T* k,
                                                 const ProjectionSettings<T>& s, int32_t* radii,
                                                 T* mean2d, T* depth, T* conic, T* comp) {
  const ProjectedGaussian<T> g = project_gaussian(mean, quat, scale, opacity, viewmat, k, s);
  if (!g.visible) {
    radii[0] = radii[1] = 0;
    mean2d[0] = mean2d[1] = T(0);
    *depth = T(0);
    conic[0] = conic[1] = conic[2] = T(0);
    if (comp) *comp = T(0);
    return;
  }
  // Capped before the conversion: a float beyond int32 converts differently on the host (INT_MIN,
  // which would cull the Gaussian) and the device (saturated). 2^30 still covers any image.
  radii[0] = static_cast<int32_t>(min_of(g.radius_x, T(1 << 30)));
  radii[1] = static_cast<int32_t>(min_of(g.radius_y, T(1 << 30)));
  mean2d[0] = g.mean2d.x;
  mean2d[1] = g.mean2d.y;
  *depth = g.t.z;
  conic[0] = g.conic.m[0][0];
  conic[1] = g.conic.m[0][1];
  conic[2] = g.conic.m[1][1];
  if (comp) *comp = g.compensation;
}

/// Backward of one visible pair: adds dL/dmean [3], dL/dquat [4] and dL/dscale [3] from the
/// upstream v_mean2d [2], v_depth, v_conic [3] and v_comp (may be null).
template <typename T>
SDS_HOST_DEVICE inline void project_gaussian_bwd(const T* mean, const T* quat, const T* scale,
                                                 const T* viewmat, const T* k,
                                                 const ProjectionSettings<T>& s,
                                                 const T* v_mean2d, T v_depth, const T* v_conic,
                                                 const T* v_comp, T* v_mean, T* v_quat,
                                                 T* v_scale) {
  // Visibility was decided by the forward; recompute without the opacity test (it only culls).
  const ProjectedGaussian<T> g = project_gaussian(mean, quat, scale, (const T*)nullptr, viewmat,
                                                  k, s);
  // conic = (P00, P01, P11) and P01 = P10, so each off-diagonal entry gets half of v_b.
  Mat2<T> v_p;
  v_p.m[0][0] = v_conic[0];
  v_p.m[0][1] = v_p.m[1][0] = T(0.5) * v_conic[1];
  v_p.m[1][1] = v_conic[2];
  Mat2<T> v_cov2d = inverse2_vjp(g.conic, v_p);
  if (s.antialiased && v_comp) compensation_vjp(g.compensation, g.conic, s.eps2d, *v_comp, v_cov2d);
  Vec3<T> v_t{T(0), T(0), T(0)};
  Mat3<T> v_covar_c;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) v_covar_c.m[i][j] = T(0);
  }
  const Intrinsics<T> in = intrinsics_of(k, s.width, s.height);
  persp_proj_vjp(g.t, g.covar_c, in, Vec2<T>{v_mean2d[0], v_mean2d[1]}, v_cov2d, v_t, v_covar_c);
  v_t.z += v_depth;
  Mat3<T> rot;
  Vec3<T> trans;
  split_viewmat(viewmat, rot, trans);
  const Vec3<T> v_m = matvec(transpose(rot), v_t);
  v_mean[0] += v_m.x;
  v_mean[1] += v_m.y;
  v_mean[2] += v_m.z;
  quat_scale_to_covar_vjp(quat, scale, covar_world_to_cam_vjp(rot, v_covar_c), v_quat, v_scale);
}

#ifdef SDS_WITH_CUDA
// CUDA launches (cuda/gaussian_projection.cu), contiguous buffers, one thread per (camera,
// Gaussian). The backward writes per-camera gradients [C, N, *] that the caller sums.
template <typename T>
cudaError_t project_gaussians_fwd_cuda(int64_t C, int64_t N, const T* means, const T* quats,
                                       const T* scales, const T* opacities, const T* viewmats,
                                       const T* ks, ProjectionSettings<T> settings, int32_t* radii,
                                       T* means2d, T* depths, T* conics, T* comps,
                                       cudaStream_t stream);
template <typename T>
cudaError_t project_gaussians_bwd_cuda(int64_t C, int64_t N, const T* means, const T* quats,
                                       const T* scales, const T* viewmats, const T* ks,
                                       ProjectionSettings<T> settings, const int32_t* radii,
                                       const T* v_means2d, const T* v_depths, const T* v_conics,
                                       const T* v_comps, T* v_means, T* v_quats, T* v_scales,
                                       cudaStream_t stream);
#endif

}  // namespace sds::ops::detail

#ifndef __CUDACC__
#include <ATen/core/Tensor.h>

namespace sds::ops::detail {

/// Forward buffers, prepared once by the op for either device: inputs contiguous (opacities may
/// be undefined), outputs allocated.
struct ProjectionForward {
  at::Tensor means, quats, scales, opacities, viewmats, ks;
  int width = 0, height = 0;
  double eps2d = 0.3, near_plane = 0.01, far_plane = 1e10;
  bool antialiased = false;
  at::Tensor radii, means2d, depths, conics, comps;
};

/// Backward buffers: the forward's inputs and radii, upstream gradients (zeros when an output
/// got none; v_comps undefined unless anti-aliased), and the outputs v_means, v_quats, v_scales
/// ([N, *] on the CPU; [C, N, *] per camera on CUDA, summed by the caller).
struct ProjectionBackward {
  ProjectionForward fwd;
  at::Tensor v_means2d, v_depths, v_conics, v_comps;
  at::Tensor v_means, v_quats, v_scales;
};

template <typename T>
ProjectionSettings<T> settings_of(const ProjectionForward& f) {
  return {f.width, f.height, static_cast<T>(f.eps2d), static_cast<T>(f.near_plane),
          static_cast<T>(f.far_plane), f.antialiased};
}

// CPU kernels (src/ops/gaussian_projection_cpu.cpp).
void project_gaussians_fwd_cpu(const ProjectionForward& f);
void project_gaussians_bwd_cpu(const ProjectionBackward& b);

}  // namespace sds::ops::detail
#endif
