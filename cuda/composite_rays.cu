// composite_rays on CUDA: one thread per ray running the per-ray arithmetic shared with the CPU
// kernel (src/ops/composite_rays_kernels.h). Raw pointers and sizes only; no torch headers.

#include <cuda_runtime.h>

#include "ops/composite_rays_kernels.h"

namespace sds::ops::detail {
namespace {

constexpr int kThreads = 128;

unsigned int blocks_for(int64_t R) {
  return static_cast<unsigned int>((R + kThreads - 1) / kThreads);
}

template <typename T>
__global__ void composite_rays_fwd_kernel(int64_t R, int64_t S, const int64_t* __restrict__ offsets,
                                          const T* __restrict__ sigmas, const T* __restrict__ rgbs,
                                          const T* __restrict__ deltas, const T* __restrict__ ts,
                                          T* __restrict__ rgb, T* __restrict__ alpha,
                                          T* __restrict__ depth, T* __restrict__ weights,
                                          T* __restrict__ trans) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= R) return;
  int64_t o, n;
  ray_samples(r, S, offsets, o, n);
  composite_ray_fwd<T>(n, sigmas + o, rgbs + 3 * o, deltas + o, ts + o, weights + o, rgb + 3 * r,
                       alpha + r, depth + r, trans + r);
}

template <typename T>
__global__ void composite_rays_bwd_kernel(int64_t R, int64_t S, const int64_t* __restrict__ offsets,
                                          const T* __restrict__ rgbs, const T* __restrict__ deltas,
                                          const T* __restrict__ ts, const T* __restrict__ weights,
                                          const T* __restrict__ trans, const T* __restrict__ v_rgb,
                                          const T* __restrict__ v_alpha,
                                          const T* __restrict__ v_depth,
                                          const T* __restrict__ v_weights, T* __restrict__ d_sigmas,
                                          T* __restrict__ d_rgbs) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= R) return;
  int64_t o, n;
  ray_samples(r, S, offsets, o, n);
  composite_ray_bwd<T>(n, rgbs + 3 * o, deltas + o, ts + o, weights + o, trans[r],
                       v_rgb ? v_rgb + 3 * r : nullptr, v_alpha ? v_alpha + r : nullptr,
                       v_depth ? v_depth + r : nullptr, v_weights ? v_weights + o : nullptr,
                       d_sigmas + o, d_rgbs ? d_rgbs + 3 * o : nullptr);
}

template <typename T>
cudaError_t launch_fwd(int64_t R, int64_t S, const int64_t* offsets, const T* sigmas, const T* rgbs,
                       const T* deltas, const T* ts, T* rgb, T* alpha, T* depth, T* weights,
                       T* trans, cudaStream_t stream) {
  if (R == 0) return cudaSuccess;
  composite_rays_fwd_kernel<T><<<blocks_for(R), kThreads, 0, stream>>>(
      R, S, offsets, sigmas, rgbs, deltas, ts, rgb, alpha, depth, weights, trans);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_bwd(int64_t R, int64_t S, const int64_t* offsets, const T* rgbs, const T* deltas,
                       const T* ts, const T* weights, const T* trans, const T* v_rgb,
                       const T* v_alpha, const T* v_depth, const T* v_weights, T* d_sigmas,
                       T* d_rgbs, cudaStream_t stream) {
  if (R == 0) return cudaSuccess;
  composite_rays_bwd_kernel<T><<<blocks_for(R), kThreads, 0, stream>>>(
      R, S, offsets, rgbs, deltas, ts, weights, trans, v_rgb, v_alpha, v_depth, v_weights, d_sigmas,
      d_rgbs);
  return cudaGetLastError();
}

}  // namespace

cudaError_t composite_rays_fwd_cuda(int64_t R, int64_t S, const int64_t* offsets,
                                    const float* sigmas, const float* rgbs, const float* deltas,
                                    const float* ts, float* rgb, float* alpha, float* depth,
                                    float* weights, float* trans, cudaStream_t stream) {
  return launch_fwd(R, S, offsets, sigmas, rgbs, deltas, ts, rgb, alpha, depth, weights, trans,
                    stream);
}

cudaError_t composite_rays_fwd_cuda(int64_t R, int64_t S, const int64_t* offsets,
                                    const double* sigmas, const double* rgbs, const double* deltas,
                                    const double* ts, double* rgb, double* alpha, double* depth,
                                    double* weights, double* trans, cudaStream_t stream) {
  return launch_fwd(R, S, offsets, sigmas, rgbs, deltas, ts, rgb, alpha, depth, weights, trans,
                    stream);
}

cudaError_t composite_rays_bwd_cuda(int64_t R, int64_t S, const int64_t* offsets, const float* rgbs,
                                    const float* deltas, const float* ts, const float* weights,
                                    const float* trans, const float* v_rgb, const float* v_alpha,
                                    const float* v_depth, const float* v_weights, float* d_sigmas,
                                    float* d_rgbs, cudaStream_t stream) {
  return launch_bwd(R, S, offsets, rgbs, deltas, ts, weights, trans, v_rgb, v_alpha, v_depth,
                    v_weights, d_sigmas, d_rgbs, stream);
}

cudaError_t composite_rays_bwd_cuda(int64_t R, int64_t S, const int64_t* offsets,
                                    const double* rgbs, const double* deltas, const double* ts,
                                    const double* weights, const double* trans, const double* v_rgb,
                                    const double* v_alpha, const double* v_depth,
                                    const double* v_weights, double* d_sigmas, double* d_rgbs,
                                    cudaStream_t stream) {
  return launch_bwd(R, S, offsets, rgbs, deltas, ts, weights, trans, v_rgb, v_alpha, v_depth,
                    v_weights, d_sigmas, d_rgbs, stream);
}

}  // namespace sds::ops::detail
