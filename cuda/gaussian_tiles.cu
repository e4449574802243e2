// intersect_tiles on CUDA: count the tiles of each pair, emit (key, pair) at scanned offsets,
// and (after the caller's stable key sort) find where each tile's run starts.

#include <cuda_runtime.h>

#include "ops/gaussian_tiles_kernels.h"

namespace sds::ops::detail {
namespace {

constexpr int kThreads = 256;

unsigned int blocks_for(int64_t n) { return static_cast<unsigned int>((n + kThreads - 1) / kThreads); }

template <typename T>
__global__ void count_kernel(int64_t CN, const T* __restrict__ means2d,
                             const int32_t* __restrict__ radii, int tile, int32_t tiles_x,
                             int32_t tiles_y, int64_t* __restrict__ counts) {
  const int64_t ci = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (ci >= CN) return;
  counts[ci] = tile_rect<T>(means2d + 2 * ci, radii + 2 * ci, tile, tiles_x, tiles_y).count();
}

template <typename T>
__global__ void emit_kernel(int64_t C, int64_t N, const T* __restrict__ means2d,
                            const int32_t* __restrict__ radii, const T* __restrict__ depths,
                            const int64_t* __restrict__ ends, int tile, int32_t tiles_x,
                            int32_t tiles_y, int tile_bits, int64_t* __restrict__ keys,
                            int32_t* __restrict__ ids) {
  const int64_t ci = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (ci >= C * N) return;
  const TileRect r = tile_rect<T>(means2d + 2 * ci, radii + 2 * ci, tile, tiles_x, tiles_y);
  int64_t out = ends[ci] - r.count();
  const int64_t image_part = (ci / N) << (32 + tile_bits);
  const int64_t depth_part = depth_key(depths[ci]);
  for (int32_t y = r.y0; y < r.y1; ++y) {
    for (int32_t x = r.x0; x < r.x1; ++x) {
      keys[out] = image_part | (static_cast<int64_t>(y * tiles_x + x) << 32) | depth_part;
      ids[out] = static_cast<int32_t>(ci);
      ++out;
    }
  }
}

__device__ inline int64_t bucket_of(int64_t key, int tile_bits, int64_t n_tiles) {
  const int64_t high = key >> 32;
  return (high >> tile_bits) * n_tiles + (high & ((int64_t(1) << tile_bits) - 1));
}

// Entry k starts every bucket in (bucket of k - 1, bucket of k]; the last entry also ends the
// buckets after it.
__global__ void offsets_kernel(int64_t M, int64_t total, int64_t n_tiles, int tile_bits,
                               const int64_t* __restrict__ keys, int32_t* __restrict__ offsets) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= M) return;
  const int64_t b = bucket_of(keys[k], tile_bits, n_tiles);
  const int64_t prev = k == 0 ? -1 : bucket_of(keys[k - 1], tile_bits, n_tiles);
  for (int64_t f = prev + 1; f <= b; ++f) offsets[f] = static_cast<int32_t>(k);
  if (k == M - 1) {
    for (int64_t f = b + 1; f < total; ++f) offsets[f] = static_cast<int32_t>(M);
  }
}

}  // namespace

template <typename T>
cudaError_t count_tiles_cuda(int64_t CN, const T* means2d, const int32_t* radii, int tile,
                             int32_t tiles_x, int32_t tiles_y, int64_t* counts,
                             cudaStream_t stream) {
  if (CN == 0) return cudaSuccess;
  count_kernel<T><<<blocks_for(CN), kThreads, 0, stream>>>(CN, means2d, radii, tile, tiles_x,
                                                           tiles_y, counts);
  return cudaGetLastError();
}

template <typename T>
cudaError_t emit_tiles_cuda(int64_t C, int64_t N, const T* means2d, const int32_t* radii,
                            const T* depths, const int64_t* ends, int tile, int32_t tiles_x,
                            int32_t tiles_y, int tile_bits, int64_t* keys, int32_t* ids,
                            cudaStream_t stream) {
  if (C * N == 0) return cudaSuccess;
  emit_kernel<T><<<blocks_for(C * N), kThreads, 0, stream>>>(
      C, N, means2d, radii, depths, ends, tile, tiles_x, tiles_y, tile_bits, keys, ids);
  return cudaGetLastError();
}

cudaError_t tile_offsets_cuda(int64_t M, int64_t C, int64_t n_tiles, int tile_bits,
                              const int64_t* sorted_keys, int32_t* offsets, cudaStream_t stream) {
  const int64_t total = C * n_tiles;
  if (total == 0) return cudaSuccess;
  if (M == 0) return cudaMemsetAsync(offsets, 0, total * sizeof(int32_t), stream);
  offsets_kernel<<<blocks_for(M), kThreads, 0, stream>>>(M, total, n_tiles, tile_bits,
                                                         sorted_keys, offsets);
  return cudaGetLastError();
}

template cudaError_t count_tiles_cuda<float>(int64_t, const float*, const int32_t*, int, int32_t,
                                             int32_t, int64_t*, cudaStream_t);
template cudaError_t count_tiles_cuda<double>(int64_t, const double*, const int32_t*, int,
                                              int32_t, int32_t, int64_t*, cudaStream_t);
template cudaError_t emit_tiles_cuda<float>(int64_t, int64_t, const float*, const int32_t*,
                                            const float*, const int64_t*, int, int32_t, int32_t,
                                            int, int64_t*, int32_t*, cudaStream_t);
template cudaError_t emit_tiles_cuda<double>(int64_t, int64_t, const double*, const int32_t*,
                                             const double*, const int64_t*, int, int32_t,
                                             int32_t, int, int64_t*, int32_t*, cudaStream_t);

}  // namespace sds::ops::detail
