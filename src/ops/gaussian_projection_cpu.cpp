// project_gaussians on the CPU: (camera, Gaussian) pairs in parallel for the forward; Gaussians
// in parallel for the backward, each summing its cameras in order (no atomics, deterministic).

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "ops/gaussian_projection_kernels.h"

namespace sds::ops::detail {

void project_gaussians_fwd_cpu(const ProjectionForward& f) {
  const int64_t C = f.viewmats.size(0);
  const int64_t N = f.means.size(0);
  AT_DISPATCH_FLOATING_TYPES(f.means.scalar_type(), "project_gaussians_fwd_cpu", [&] {
    using T = scalar_t;
    const ProjectionSettings<T> s = settings_of<T>(f);
    const T* means = f.means.data_ptr<T>();
    const T* quats = f.quats.data_ptr<T>();
    const T* scales = f.scales.data_ptr<T>();
    const T* opac = f.opacities.defined() ? f.opacities.data_ptr<T>() : nullptr;
    const T* view = f.viewmats.data_ptr<T>();
    const T* ks = f.ks.data_ptr<T>();
    int32_t* radii = f.radii.data_ptr<int32_t>();
    T* m2d = f.means2d.data_ptr<T>();
    T* depth = f.depths.data_ptr<T>();
    T* conic = f.conics.data_ptr<T>();
    T* comp = f.comps.data_ptr<T>();
    at::parallel_for(0, C * N, 256, [&](int64_t begin, int64_t end) {
      for (int64_t ci = begin; ci < end; ++ci) {
        const int64_t c = ci / N, i = ci % N;
        project_gaussian_fwd<T>(means + 3 * i, quats + 4 * i, scales + 3 * i,
                                opac ? opac + i : nullptr, view + 16 * c, ks + 9 * c, s,
                                radii + 2 * ci, m2d + 2 * ci, depth + ci, conic + 3 * ci,
                                comp + ci);
      }
    });
  });
}

void project_gaussians_bwd_cpu(const ProjectionBackward& b) {
  const ProjectionForward& f = b.fwd;
  const int64_t C = f.viewmats.size(0);
  const int64_t N = f.means.size(0);
  AT_DISPATCH_FLOATING_TYPES(f.means.scalar_type(), "project_gaussians_bwd_cpu", [&] {
    using T = scalar_t;
    const ProjectionSettings<T> s = settings_of<T>(f);
    const T* means = f.means.data_ptr<T>();
    const T* quats = f.quats.data_ptr<T>();
    const T* scales = f.scales.data_ptr<T>();
    const T* view = f.viewmats.data_ptr<T>();
    const T* ks = f.ks.data_ptr<T>();
    const int32_t* radii = f.radii.data_ptr<int32_t>();
    const T* v_m2d = b.v_means2d.data_ptr<T>();
    const T* v_depth = b.v_depths.data_ptr<T>();
    const T* v_conic = b.v_conics.data_ptr<T>();
    const T* v_comp = b.v_comps.defined() ? b.v_comps.data_ptr<T>() : nullptr;
    T* v_means = b.v_means.data_ptr<T>();
    T* v_quats = b.v_quats.data_ptr<T>();
    T* v_scales = b.v_scales.data_ptr<T>();
    at::parallel_for(0, N, 256, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        for (int64_t c = 0; c < C; ++c) {
          const int64_t ci = c * N + i;
          if (radii[2 * ci] <= 0 || radii[2 * ci + 1] <= 0) continue;
          project_gaussian_bwd<T>(means + 3 * i, quats + 4 * i, scales + 3 * i, view + 16 * c,
                                  ks + 9 * c, s, v_m2d + 2 * ci, v_depth[ci], v_conic + 3 * ci,
                                  v_comp ? v_comp + ci : nullptr, v_means + 3 * i,
                                  v_quats + 4 * i, v_scales + 3 * i);
        }
      }
    });
  });
}

}  // namespace sds::ops::detail
