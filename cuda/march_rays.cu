// march_rays on CUDA: one thread per ray running the traversal shared with the CPU
// (src/ops/march_rays_kernels.h), once to count and once to write. Raw pointers and sizes only;
// no torch headers.

#include <cuda_runtime.h>

#include "ops/march_rays_kernels.h"

namespace sds::ops::detail {
namespace {

constexpr int kThreads = 128;

unsigned int blocks_for(int64_t R) {
  return static_cast<unsigned int>((R + kThreads - 1) / kThreads);
}

template <typename T>
__global__ void count_kernel(MarchGrid<T> g, int64_t R, const T* __restrict__ o,
                             const T* __restrict__ d, const T* __restrict__ near,
                             const T* __restrict__ far, const T* __restrict__ jitter,
                             int64_t* __restrict__ counts) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= R) return;
  counts[r] = march_ray<T>(g, o + 3 * r, d + 3 * r, near[r], far[r], jitter ? jitter[r] : T(0),
                           nullptr, nullptr);
}

template <typename T>
__global__ void write_kernel(MarchGrid<T> g, int64_t R, const T* __restrict__ o,
                             const T* __restrict__ d, const T* __restrict__ near,
                             const T* __restrict__ far, const T* __restrict__ jitter,
                             const int64_t* __restrict__ offsets, int64_t* __restrict__ ray_indices,
                             T* __restrict__ t_starts, T* __restrict__ t_ends) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= R) return;
  const int64_t first = offsets[r];
  march_ray<T>(g, o + 3 * r, d + 3 * r, near[r], far[r], jitter ? jitter[r] : T(0),
               t_starts + first, t_ends + first);
  for (int64_t i = first; i < offsets[r + 1]; ++i) ray_indices[i] = r;
}

template <typename T>
cudaError_t count(const MarchGrid<T>& g, int64_t R, const T* o, const T* d, const T* near,
                  const T* far, const T* jitter, int64_t* counts, cudaStream_t stream) {
  if (R == 0) return cudaSuccess;
  count_kernel<T><<<blocks_for(R), kThreads, 0, stream>>>(g, R, o, d, near, far, jitter, counts);
  return cudaGetLastError();
}

template <typename T>
cudaError_t write(const MarchGrid<T>& g, int64_t R, const T* o, const T* d, const T* near,
                  const T* far, const T* jitter, const int64_t* offsets, int64_t* ray_indices,
                  T* t_starts, T* t_ends, cudaStream_t stream) {
  if (R == 0) return cudaSuccess;
  write_kernel<T><<<blocks_for(R), kThreads, 0, stream>>>(g, R, o, d, near, far, jitter, offsets,
                                                          ray_indices, t_starts, t_ends);
  return cudaGetLastError();
}

}  // namespace

#define SDS_MARCH_RAYS_CUDA_DEF(T)                                                               \
  cudaError_t march_rays_count_cuda(const MarchGrid<T>& g, int64_t R, const T* origins,          \
                                    const T* dirs, const T* near, const T* far, const T* jitter, \
                                    int64_t* counts, cudaStream_t stream) {                      \
    return count<T>(g, R, origins, dirs, near, far, jitter, counts, stream);                     \
  }                                                                                              \
  cudaError_t march_rays_write_cuda(const MarchGrid<T>& g, int64_t R, const T* origins,          \
                                    const T* dirs, const T* near, const T* far, const T* jitter, \
                                    const int64_t* offsets, int64_t* ray_indices, T* t_starts,   \
                                    T* t_ends, cudaStream_t stream) {                            \
    return write<T>(g, R, origins, dirs, near, far, jitter, offsets, ray_indices, t_starts,      \
                    t_ends, stream);                                                             \
  }
SDS_MARCH_RAYS_CUDA_DEF(float)
SDS_MARCH_RAYS_CUDA_DEF(double)
#undef SDS_MARCH_RAYS_CUDA_DEF

}  // namespace sds::ops::detail
