// trilinear_sample on CUDA: one thread per point running the per-point arithmetic shared with
// the CPU kernel (src/ops/trilinear_sample_kernels.h); the backward adds into the grid gradient
// atomically. Raw pointers and sizes only; no torch headers.

#include <cuda_runtime.h>

#include "ops/trilinear_sample_kernels.h"

namespace sds::ops::detail {
namespace {

constexpr int kThreads = 256;

unsigned int blocks_for(int64_t N) {
  return static_cast<unsigned int>((N + kThreads - 1) / kThreads);
}

template <typename T, int kC>
__global__ void trilinear_sample_fwd_kernel(int64_t N, int64_t D, int64_t H, int64_t W, int64_t C,
                                            const T* __restrict__ grid,
                                            const T* __restrict__ points, T* __restrict__ out) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= N) return;
  TrilinearCorners<T> k;
  trilinear_corners<T>(points + 3 * p, D, H, W, C, k);
  trilinear_gather<T, kC>(grid, k, C, out + p * C);
}

template <typename T, int kC>
__global__ void trilinear_sample_bwd_kernel(int64_t N, int64_t D, int64_t H, int64_t W, int64_t C,
                                            const T* __restrict__ points,
                                            const T* __restrict__ grad_out,
                                            T* __restrict__ grad_grid) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= N) return;
  TrilinearCorners<T> k;
  trilinear_corners<T>(points + 3 * p, D, H, W, C, k);
  const int64_t nc = kC > 0 ? kC : C;
  const T* g = grad_out + p * nc;
  for (int j = 0; j < 8; ++j) {
    const T w = k.weight[j];
    // Outside corners are skipped, and so are zero weights: an atomic that adds nothing.
    if (!((k.inside >> j) & 1u) || w == T(0)) continue;
    T* d = grad_grid + k.offset[j];
    for (int64_t c = 0; c < nc; ++c) atomicAdd(d + c, w * g[c]);
  }
}

// Runs Launch<T, kC> with kC = C for the small channel counts, else kC = 0 (any C).
template <typename T, template <typename, int> class Launch, class... Args>
cudaError_t dispatch_channels(int64_t N, int64_t C, Args... args) {
  if (N == 0 || C == 0) return cudaSuccess;
  switch (C) {
    case 1:
      Launch<T, 1>::run(N, C, args...);
      break;
    case 2:
      Launch<T, 2>::run(N, C, args...);
      break;
    case 3:
      Launch<T, 3>::run(N, C, args...);
      break;
    case 4:
      Launch<T, 4>::run(N, C, args...);
      break;
    default:
      Launch<T, 0>::run(N, C, args...);
      break;
  }
  return cudaGetLastError();
}

template <typename T, int kC>
struct LaunchFwd {
  static void run(int64_t N, int64_t C, int64_t D, int64_t H, int64_t W, const T* grid,
                  const T* points, T* out, cudaStream_t stream) {
    trilinear_sample_fwd_kernel<T, kC>
        <<<blocks_for(N), kThreads, 0, stream>>>(N, D, H, W, C, grid, points, out);
  }
};

template <typename T, int kC>
struct LaunchBwd {
  static void run(int64_t N, int64_t C, int64_t D, int64_t H, int64_t W, const T* points,
                  const T* grad_out, T* grad_grid, cudaStream_t stream) {
    trilinear_sample_bwd_kernel<T, kC>
        <<<blocks_for(N), kThreads, 0, stream>>>(N, D, H, W, C, points, grad_out, grad_grid);
  }
};

}  // namespace

cudaError_t trilinear_sample_fwd_cuda(int64_t N, int64_t D, int64_t H, int64_t W, int64_t C,
                                      const float* grid, const float* points, float* out,
                                      cudaStream_t stream) {
  return dispatch_channels<float, LaunchFwd>(N, C, D, H, W, grid, points, out, stream);
}

cudaError_t trilinear_sample_fwd_cuda(int64_t N, int64_t D, int64_t H, int64_t W, int64_t C,
                                      const double* grid, const double* points, double* out,
                                      cudaStream_t stream) {
  return dispatch_channels<double, LaunchFwd>(N, C, D, H, W, grid, points, out, stream);
}

cudaError_t trilinear_sample_bwd_cuda(int64_t N, int64_t D, int64_t H, int64_t W, int64_t C,
                                      const float* points, const float* grad_out, float* grad_grid,
                                      cudaStream_t stream) {
  return dispatch_channels<float, LaunchBwd>(N, C, D, H, W, points, grad_out, grad_grid, stream);
}

cudaError_t trilinear_sample_bwd_cuda(int64_t N, int64_t D, int64_t H, int64_t W, int64_t C,
                                      const double* points, const double* grad_out,
                                      double* grad_grid, cudaStream_t stream) {
  return dispatch_channels<double, LaunchBwd>(N, C, D, H, W, points, grad_out, grad_grid, stream);
}

}  // namespace sds::ops::detail
