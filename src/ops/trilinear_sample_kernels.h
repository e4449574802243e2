#pragma once
// trilinear_sample kernels: the per-point arithmetic that the CPU and CUDA kernels share (the 8
// corners and weights of a point, the gather of the forward), and their entry points. The
// backward's scatter lives with each backend (per-chunk buffers on the CPU, atomics on CUDA). The
// part above the tensor-level declarations is plain C++ so nvcc can read it.

#include <cstdint>

#include "ops/device_math.h"

#ifdef SDS_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

// The per-point functions are small and called once per point in the hot loops: inline them.
#ifdef __CUDACC__
#define SDS_TRILINEAR_INLINE __forceinline__
#elif defined(__GNUC__)
#define SDS_TRILINEAR_INLINE inline __attribute__((always_inline))
#else
#define SDS_TRILINEAR_INLINE inline
#endif

namespace sds::ops::detail {

/// x clamped to [lo, hi], written so that it compiles to min/max instructions (no libm call) and
/// a NaN x gives lo.
template <typename T>
SDS_HOST_DEVICE SDS_TRILINEAR_INLINE T clamp_coord(T x, T lo, T hi) {
  x = x > lo ? x : lo;
  return x < hi ? x : hi;
}

/// The 8 voxels around one point, k = 4 dz + 2 dy + dx (dx, dy, dz in {0, 1}: the same order as
/// ATen's grid sampler, so the sums round alike). Bit k of `inside` says whether corner k lies in
/// the grid; only those are read or written (zero padding, as ATen). A corner's offset (its voxel
/// index times C, the start of its channels) is meaningful only where its bit is set; the weight
/// of a corner outside is 0.
template <typename T>
struct TrilinearCorners {
  int64_t offset[8];
  T weight[8];
  unsigned inside;  // 0xff: all 8 corners in the grid, the common case, taken without branches
};

/// One axis of a point: the grid index i0 of the lower neighbour, the weights of i0 and i0 + 1
/// (zero for an index outside [0, size)) and whether each index is inside.
template <typename T>
SDS_HOST_DEVICE SDS_TRILINEAR_INLINE void trilinear_axis(T coord, int64_t size, int64_t& i0, T& w0,
                                                         T& w1, bool& in0, bool& in1) {
  // align_corners: -1 and 1 are the centres of voxels 0 and size - 1 (ATen's formula).
  T x = ((coord + T(1)) / T(2)) * T(size - 1);
  // Below -1 or above size both neighbours are outside whatever x is, so clamping there changes
  // nothing and keeps the integer conversion defined for any finite coordinate.
  x = clamp_coord(x, T(-2), T(size + 1));
  int64_t i = static_cast<int64_t>(x);  // truncation; floor by hand (no libm call on the CPU)
  if (T(i) > x) --i;
  const T f = T(i);
  i0 = i;
  in0 = i >= 0 && i < size;
  in1 = i + 1 >= 0 && i + 1 < size;
  w0 = in0 ? (f + T(1)) - x : T(0);
  w1 = in1 ? x - f : T(0);
}

/// The corners of point p = (x, y, z) in a [D, H, W, C] grid.
template <typename T>
SDS_HOST_DEVICE SDS_TRILINEAR_INLINE void trilinear_corners(const T* __restrict__ p, int64_t D,
                                                            int64_t H, int64_t W, int64_t C,
                                                            TrilinearCorners<T>& k) {
  int64_t ix, iy, iz;
  T wx[2], wy[2], wz[2];
  bool inx[2], iny[2], inz[2];
  trilinear_axis(p[0], W, ix, wx[0], wx[1], inx[0], inx[1]);
  trilinear_axis(p[1], H, iy, wy[0], wy[1], iny[0], iny[1]);
  trilinear_axis(p[2], D, iz, wz[0], wz[1], inz[0], inz[1]);
  // Corner offsets from one base: consecutive x are C apart, y W C, z H W C.
  const int64_t sy = W * C, sz = H * W * C;
  const int64_t base = ((iz * H + iy) * W + ix) * C;
  for (int dz = 0; dz < 2; ++dz) {
    for (int dy = 0; dy < 2; ++dy) {
      for (int dx = 0; dx < 2; ++dx) {
        const int c = 4 * dz + 2 * dy + dx;
        k.weight[c] = (wx[dx] * wy[dy]) * wz[dz];
        k.offset[c] = base + dz * sz + dy * sy + dx * C;
      }
    }
  }
  // Bit 4 dz + 2 dy + dx = inx[dx] && iny[dy] && inz[dz].
  const unsigned mx = static_cast<unsigned>(inx[0]) | (static_cast<unsigned>(inx[1]) << 1);
  const unsigned mxy =
      (mx * static_cast<unsigned>(iny[0])) | ((mx * static_cast<unsigned>(iny[1])) << 2);
  k.inside = (mxy * static_cast<unsigned>(inz[0])) | ((mxy * static_cast<unsigned>(inz[1])) << 4);
}

/// Forward of one point: out[c] = sum_k w_k grid[offset_k + c] over the corners inside. kC > 0
/// fixes the channel count at compile time (accumulators in registers); kC == 0 reads it from C.
template <typename T, int kC>
SDS_HOST_DEVICE SDS_TRILINEAR_INLINE void trilinear_gather(const T* __restrict__ grid,
                                                           const TrilinearCorners<T>& k, int64_t C,
                                                           T* __restrict__ out) {
  if constexpr (kC > 0) {
    T acc[kC];
    for (int c = 0; c < kC; ++c) acc[c] = T(0);
    if (k.inside == 0xffu) {
      for (int j = 0; j < 8; ++j) {
        const T w = k.weight[j];
        const T* v = grid + k.offset[j];
        for (int c = 0; c < kC; ++c) acc[c] += w * v[c];
      }
    } else {
      for (int j = 0; j < 8; ++j) {
        if (!((k.inside >> j) & 1u)) continue;
        const T w = k.weight[j];
        const T* v = grid + k.offset[j];
        for (int c = 0; c < kC; ++c) acc[c] += w * v[c];
      }
    }
    for (int c = 0; c < kC; ++c) out[c] = acc[c];
  } else {
    for (int64_t c = 0; c < C; ++c) out[c] = T(0);
    for (int j = 0; j < 8; ++j) {
      if (!((k.inside >> j) & 1u)) continue;
      const T w = k.weight[j];
      const T* v = grid + k.offset[j];
      for (int64_t c = 0; c < C; ++c) out[c] += w * v[c];
    }
  }
}

#ifdef SDS_WITH_CUDA
// CUDA launches (cuda/trilinear_sample.cu), contiguous buffers, one thread per point. They
// return the launch status; the caller turns a failure into sds::Error. N may be 0. The backward
// adds into grad_grid atomically (the caller zeroes it).
cudaError_t trilinear_sample_fwd_cuda(int64_t N, int64_t D, int64_t H, int64_t W, int64_t C,
                                      const float* grid, const float* points, float* out,
                                      cudaStream_t stream);
cudaError_t trilinear_sample_fwd_cuda(int64_t N, int64_t D, int64_t H, int64_t W, int64_t C,
                                      const double* grid, const double* points, double* out,
                                      cudaStream_t stream);
cudaError_t trilinear_sample_bwd_cuda(int64_t N, int64_t D, int64_t H, int64_t W, int64_t C,
                                      const float* points, const float* grad_out, float* grad_grid,
                                      cudaStream_t stream);
cudaError_t trilinear_sample_bwd_cuda(int64_t N, int64_t D, int64_t H, int64_t W, int64_t C,
                                      const double* points, const double* grad_out,
                                      double* grad_grid, cudaStream_t stream);
#endif

}  // namespace sds::ops::detail

#ifndef __CUDACC__
#include <ATen/core/Tensor.h>

namespace sds::ops::detail {

// CPU kernels (src/ops/trilinear_sample_cpu.cpp), on contiguous tensors prepared by the op.
/// out [N, C] = samples of grid [D, H, W, C] at points [N, 3].
void trilinear_sample_fwd_cpu(const at::Tensor& grid, const at::Tensor& points,
                              const at::Tensor& out);
/// Fills grad_grid [D, H, W, C] (any contents on entry) with the scatter of grad_out [N, C].
/// Deterministic for a fixed thread count.
void trilinear_sample_bwd_cpu(const at::Tensor& points, const at::Tensor& grad_out,
                              const at::Tensor& grad_grid);

}  // namespace sds::ops::detail
#endif
