// hash_grid on CUDA: one thread per (point, level) for gather and scatter (blockIdx.y is the
// level, as in tiny-cuda-nn), one thread per point for input_grad (it sums over the levels in
// registers). The per-cell arithmetic is shared with the CPU (src/ops/hash_grid_kernels.h).
// Raw pointers and sizes only; no torch headers.

#include <cuda_runtime.h>

#include "ops/hash_grid_kernels.h"

namespace sds::ops::detail {
namespace {

constexpr int kThreads = 128;

dim3 point_level_grid(int64_t N, int levels) {
  return dim3(static_cast<unsigned int>((N + kThreads - 1) / kThreads),
              static_cast<unsigned int>(levels));
}

template <typename T, int kF>
__global__ void gather_kernel(HashGridLevels L, int64_t N, const T* __restrict__ theta,
                              const T* __restrict__ u, const T* __restrict__ v,
                              T* __restrict__ out) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int level = static_cast<int>(blockIdx.y);
  if (p >= N) return;
  HashCell<T> cell;
  hash_cell(L, level, u + 3 * p, cell);
  T k[8];
  cell_weights(cell, v ? v + 3 * p : nullptr, k);
  hash_gather<T, kF>(theta, cell, k, out + p * (int64_t{L.n_levels} * kF) + level * kF);
}

template <typename T, int kF>
__global__ void scatter_kernel(HashGridLevels L, int64_t N, const T* __restrict__ u,
                               const T* __restrict__ v, const T* __restrict__ g,
                               T* __restrict__ dtheta) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int level = static_cast<int>(blockIdx.y);
  if (p >= N) return;
  HashCell<T> cell;
  hash_cell(L, level, u + 3 * p, cell);
  T k[8];
  cell_weights(cell, v ? v + 3 * p : nullptr, k);
  const T* gp = g + p * (int64_t{L.n_levels} * kF) + level * kF;
  T gv[kF];
  for (int f = 0; f < kF; ++f) gv[f] = gp[f];
  for (int c = 0; c < 8; ++c) {
    if (k[c] == T(0)) continue;  // an atomic that adds nothing
    T* d = dtheta + cell.row[c] * kF;
    for (int f = 0; f < kF; ++f) atomicAdd(d + f, k[c] * gv[f]);
  }
}

template <typename T, int kF>
__global__ void input_grad_kernel(HashGridLevels L, int64_t N, const T* __restrict__ theta,
                                  const T* __restrict__ u, const T* __restrict__ v,
                                  const T* __restrict__ g, T* __restrict__ du) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= N) return;
  hash_point_input_grad<T, kF>(L, p, theta, u, v, g, du);
}

// Launches KERNEL<T, kF> for the supported feature counts (F is 1, 2, 4 or 8, checked by the op).
#define SDS_HASH_GRID_LAUNCH(KERNEL, GRID, ...)                         \
  do {                                                                  \
    if (N == 0) return cudaSuccess;                                     \
    switch (L.n_features) {                                             \
      case 1:                                                           \
        KERNEL<T, 1><<<GRID, kThreads, 0, stream>>>(L, N, __VA_ARGS__); \
        break;                                                          \
      case 2:                                                           \
        KERNEL<T, 2><<<GRID, kThreads, 0, stream>>>(L, N, __VA_ARGS__); \
        break;                                                          \
      case 4:                                                           \
        KERNEL<T, 4><<<GRID, kThreads, 0, stream>>>(L, N, __VA_ARGS__); \
        break;                                                          \
      default:                                                          \
        KERNEL<T, 8><<<GRID, kThreads, 0, stream>>>(L, N, __VA_ARGS__); \
        break;                                                          \
    }                                                                   \
    return cudaGetLastError();                                          \
  } while (false)

template <typename T>
cudaError_t gather(const HashGridLevels& L, int64_t N, const T* theta, const T* u, const T* v,
                   T* out, cudaStream_t stream) {
  SDS_HASH_GRID_LAUNCH(gather_kernel, point_level_grid(N, L.n_levels), theta, u, v, out);
}

template <typename T>
cudaError_t scatter(const HashGridLevels& L, int64_t N, const T* u, const T* v, const T* g,
                    T* dtheta, cudaStream_t stream) {
  SDS_HASH_GRID_LAUNCH(scatter_kernel, point_level_grid(N, L.n_levels), u, v, g, dtheta);
}

template <typename T>
cudaError_t input_grad(const HashGridLevels& L, int64_t N, const T* theta, const T* u, const T* v,
                       const T* g, T* du, cudaStream_t stream) {
  SDS_HASH_GRID_LAUNCH(input_grad_kernel, point_level_grid(N, 1), theta, u, v, g, du);
}

#undef SDS_HASH_GRID_LAUNCH

}  // namespace

#define SDS_HASH_GRID_CUDA_DEF(T)                                                                \
  cudaError_t hash_grid_gather_cuda(const HashGridLevels& L, int64_t N, const T* theta,          \
                                    const T* u, const T* v, T* out, cudaStream_t stream) {       \
    return gather<T>(L, N, theta, u, v, out, stream);                                            \
  }                                                                                              \
  cudaError_t hash_grid_scatter_cuda(const HashGridLevels& L, int64_t N, const T* u, const T* v, \
                                     const T* g, T* dtheta, cudaStream_t stream) {               \
    return scatter<T>(L, N, u, v, g, dtheta, stream);                                            \
  }                                                                                              \
  cudaError_t hash_grid_input_grad_cuda(const HashGridLevels& L, int64_t N, const T* theta,      \
                                        const T* u, const T* v, const T* g, T* du,               \
                                        cudaStream_t stream) {                                   \
    return input_grad<T>(L, N, theta, u, v, g, du, stream);                                      \
  }
SDS_HASH_GRID_CUDA_DEF(float)
SDS_HASH_GRID_CUDA_DEF(double)
#undef SDS_HASH_GRID_CUDA_DEF

}  // namespace sds::ops::detail
