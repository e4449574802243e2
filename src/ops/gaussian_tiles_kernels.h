#pragma once
// intersect_tiles kernels: the tile rectangle and the sort key of one (camera, Gaussian) pair,
// shared by the CPU and CUDA kernels, and the backends' entry points.

#include <cstdint>
#include <cstring>

#include "ops/gaussian_math.h"

#ifdef SDS_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace sds::ops::detail {

/// The half-open tile ranges [x0, x1) x [y0, y1) touched by a screen box.
struct TileRect {
  int32_t x0, x1, y0, y1;
  SDS_HOST_DEVICE int64_t count() const {
    return static_cast<int64_t>(x1 - x0) * static_cast<int64_t>(y1 - y0);
  }
};

template <typename T>
SDS_HOST_DEVICE inline int32_t clamp_tile(T v, int32_t n) {
  return v < T(0) ? 0 : (v > T(n) ? n : static_cast<int32_t>(v));
}

template <typename T>
SDS_HOST_DEVICE inline TileRect tile_rect(const T* mean2d, const int32_t* radius, int tile,
                                          int32_t tiles_x, int32_t tiles_y) {
  TileRect r{0, 0, 0, 0};
  if (radius[0] <= 0 || radius[1] <= 0) return r;
  const T inv = T(1) / T(tile);
  r.x0 = clamp_tile(floor_of((mean2d[0] - T(radius[0])) * inv), tiles_x);
  r.x1 = clamp_tile(ceil_of((mean2d[0] + T(radius[0])) * inv), tiles_x);
  r.y0 = clamp_tile(floor_of((mean2d[1] - T(radius[1])) * inv), tiles_y);
  r.y1 = clamp_tile(ceil_of((mean2d[1] + T(radius[1])) * inv), tiles_y);
  if (r.x1 <= r.x0 || r.y1 <= r.y0) r.x0 = r.x1 = r.y0 = r.y1 = 0;
  return r;
}

/// The low 32 bits of a sort key: the float32 bits of a positive depth, which sort like it.
template <typename T>
SDS_HOST_DEVICE inline int64_t depth_key(T depth) {
  const float d = static_cast<float>(depth);
  uint32_t bits;
  memcpy(&bits, &d, sizeof(bits));
  return static_cast<int64_t>(bits);
}

/// Number of bits that hold the values 0 .. n - 1 (at least 1).
inline int bits_for(int64_t n) {
  int b = 1;
  while ((int64_t(1) << b) < n) ++b;
  return b;
}

#ifdef SDS_WITH_CUDA
// CUDA launches (cuda/gaussian_tiles.cu), one thread per pair or per intersection.
template <typename T>
cudaError_t count_tiles_cuda(int64_t CN, const T* means2d, const int32_t* radii, int tile,
                             int32_t tiles_x, int32_t tiles_y, int64_t* counts,
                             cudaStream_t stream);
template <typename T>
cudaError_t emit_tiles_cuda(int64_t C, int64_t N, const T* means2d, const int32_t* radii,
                            const T* depths, const int64_t* ends, int tile, int32_t tiles_x,
                            int32_t tiles_y, int tile_bits, int64_t* keys, int32_t* ids,
                            cudaStream_t stream);
cudaError_t tile_offsets_cuda(int64_t M, int64_t C, int64_t n_tiles, int tile_bits,
                              const int64_t* sorted_keys, int32_t* offsets, cudaStream_t stream);
#endif

}  // namespace sds::ops::detail

#ifndef __CUDACC__
#include "sds/ops/gaussian_tiles.h"

namespace sds::ops::detail {

// The CPU kernel (src/ops/gaussian_tiles_cpu.cpp): counting sort into tiles, then a sort by
// depth within each tile. Fills every field of `out` except the sizes, which the caller sets.
void intersect_tiles_cpu(const at::Tensor& means2d, const at::Tensor& radii,
                         const at::Tensor& depths, TileIntersections& out);

}  // namespace sds::ops::detail
#endif
