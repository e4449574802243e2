// project_gaussians on CUDA: one thread per (camera, Gaussian) pair running the arithmetic shared
// with the CPU kernel (src/ops/gaussian_projection_kernels.h). The backward writes per-camera
// gradients, so no atomics are needed; the caller sums over cameras.

#include <cuda_runtime.h>

#include "ops/gaussian_projection_kernels.h"

namespace sds::ops::detail {
namespace {

constexpr int kThreads = 256;

unsigned int blocks_for(int64_t n) { return static_cast<unsigned int>((n + kThreads - 1) / kThreads); }

template <typename T>
__global__ void project_fwd_kernel(int64_t C, int64_t N, const T* __restrict__ means,
                                   const T* __restrict__ quats, const T* __restrict__ scales,
                                   const T* __restrict__ opacities, const T* __restrict__ viewmats,
                                   const T* __restrict__ ks, ProjectionSettings<T> s,
                                   int32_t* __restrict__ radii, T* __restrict__ means2d,
                                   T* __restrict__ depths, T* __restrict__ conics,
                                   T* __restrict__ comps) {
  const int64_t ci = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (ci >= C * N) return;
  const int64_t c = ci / N, i = ci % N;
  project_gaussian_fwd<T>(means + 3 * i, quats + 4 * i, scales + 3 * i,
                          opacities ? opacities + i : nullptr, viewmats + 16 * c, ks + 9 * c, s,
                          radii + 2 * ci, means2d + 2 * ci, depths + ci, conics + 3 * ci,
                          comps + ci);
}

template <typename T>
__global__ void project_bwd_kernel(int64_t C, int64_t N, const T* __restrict__ means,
                                   const T* __restrict__ quats, const T* __restrict__ scales,
                                   const T* __restrict__ viewmats, const T* __restrict__ ks,
                                   ProjectionSettings<T> s, const int32_t* __restrict__ radii,
                                   const T* __restrict__ v_means2d, const T* __restrict__ v_depths,
                                   const T* __restrict__ v_conics, const T* __restrict__ v_comps,
                                   T* __restrict__ v_means, T* __restrict__ v_quats,
                                   T* __restrict__ v_scales) {
  const int64_t ci = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (ci >= C * N) return;
  if (radii[2 * ci] <= 0 || radii[2 * ci + 1] <= 0) return;
  const int64_t c = ci / N, i = ci % N;
  project_gaussian_bwd<T>(means + 3 * i, quats + 4 * i, scales + 3 * i, viewmats + 16 * c,
                          ks + 9 * c, s, v_means2d + 2 * ci, v_depths[ci], v_conics + 3 * ci,
                          v_comps ? v_comps + ci : nullptr, v_means + 3 * ci, v_quats + 4 * ci,
                          v_scales + 3 * ci);
}

}  // namespace

template <typename T>
cudaError_t project_gaussians_fwd_cuda(int64_t C, int64_t N, const T* means, const T* quats,
                                       const T* scales, const T* opacities, const T* viewmats,
                                       const T* ks, ProjectionSettings<T> settings, int32_t* radii,
                                       T* means2d, T* depths, T* conics, T* comps,
                                       cudaStream_t stream) {
  if (C * N == 0) return cudaSuccess;
  project_fwd_kernel<T><<<blocks_for(C * N), kThreads, 0, stream>>>(
      C, N, means, quats, scales, opacities, viewmats, ks, settings, radii, means2d, depths,
      conics, comps);
  return cudaGetLastError();
}

template <typename T>
cudaError_t project_gaussians_bwd_cuda(int64_t C, int64_t N, const T* means, const T* quats,
                                       const T* scales, const T* viewmats, const T* ks,
                                       ProjectionSettings<T> settings, const int32_t* radii,
                                       const T* v_means2d, const T* v_depths, const T* v_conics,
                                       const T* v_comps, T* v_means, T* v_quats, T* v_scales,
                                       cudaStream_t stream) {
  if (C * N == 0) return cudaSuccess;
  project_bwd_kernel<T><<<blocks_for(C * N), kThreads, 0, stream>>>(
      C, N, means, quats, scales, viewmats, ks, settings, radii, v_means2d, v_depths, v_conics,
      v_comps, v_means, v_quats, v_scales);
  return cudaGetLastError();
}

#define SDS_INSTANTIATE(T)                                                                      \
  template cudaError_t project_gaussians_fwd_cuda<T>(                                           \
      int64_t, int64_t, const T*, const T*, const T*, const T*, const T*, const T*,             \
      ProjectionSettings<T>, int32_t*, T*, T*, T*, T*, cudaStream_t);                           \
  template cudaError_t project_gaussians_bwd_cuda<T>(                                           \
      int64_t, int64_t, const T*, const T*, const T*, const T*, const T*, ProjectionSettings<T>, \
      const int32_t*, const T*, const T*, const T*, const T*, T*, T*, T*, cudaStream_t);
SDS_INSTANTIATE(float)
SDS_INSTANTIATE(double)
#undef SDS_INSTANTIATE

}  // namespace sds::ops::detail
