// spherical_harmonics on CUDA: one thread per element running the arithmetic shared with the
// CPU kernel (src/ops/gaussian_math.h).

#include <cuda_runtime.h>

#include "ops/spherical_harmonics_kernels.h"

namespace sds::ops::detail {
namespace {

constexpr int kThreads = 256;

unsigned int blocks_for(int64_t n) { return static_cast<unsigned int>((n + kThreads - 1) / kThreads); }

template <typename T>
__global__ void sh_fwd_kernel(int64_t M, int degree, int64_t K, const T* __restrict__ dirs,
                              const T* __restrict__ coeffs, T* __restrict__ colors) {
  const int64_t m = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (m >= M) return;
  sh_to_color<T>(degree, dirs + 3 * m, coeffs + 3 * K * m, colors + 3 * m);
}

template <typename T>
__global__ void sh_bwd_kernel(int64_t M, int degree, int64_t K, const T* __restrict__ dirs,
                              const T* __restrict__ coeffs, const T* __restrict__ v_colors,
                              T* __restrict__ v_coeffs, T* __restrict__ v_dirs) {
  const int64_t m = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (m >= M) return;
  sh_to_color_vjp<T>(degree, dirs + 3 * m, coeffs + 3 * K * m, v_colors + 3 * m,
                     v_coeffs + 3 * K * m, v_dirs ? v_dirs + 3 * m : nullptr);
}

}  // namespace

template <typename T>
cudaError_t spherical_harmonics_fwd_cuda(int64_t M, int degree, int64_t K, const T* dirs,
                                         const T* coeffs, T* colors, cudaStream_t stream) {
  if (M == 0) return cudaSuccess;
  sh_fwd_kernel<T><<<blocks_for(M), kThreads, 0, stream>>>(M, degree, K, dirs, coeffs, colors);
  return cudaGetLastError();
}

template <typename T>
cudaError_t spherical_harmonics_bwd_cuda(int64_t M, int degree, int64_t K, const T* dirs,
                                         const T* coeffs, const T* v_colors, T* v_coeffs,
                                         T* v_dirs, cudaStream_t stream) {
  if (M == 0) return cudaSuccess;
  sh_bwd_kernel<T><<<blocks_for(M), kThreads, 0, stream>>>(M, degree, K, dirs, coeffs, v_colors,
                                                           v_coeffs, v_dirs);
  return cudaGetLastError();
}

template cudaError_t spherical_harmonics_fwd_cuda<float>(int64_t, int, int64_t, const float*,
                                                         const float*, float*, cudaStream_t);
template cudaError_t spherical_harmonics_fwd_cuda<double>(int64_t, int, int64_t, const double*,
                                                          const double*, double*, cudaStream_t);
template cudaError_t spherical_harmonics_bwd_cuda<float>(int64_t, int, int64_t, const float*,
                                                         const float*, const float*, float*,
                                                         float*, cudaStream_t);
template cudaError_t spherical_harmonics_bwd_cuda<double>(int64_t, int, int64_t, const double*,
                                                          const double*, const double*, double*,
                                                          double*, cudaStream_t);

}  // namespace sds::ops::detail
