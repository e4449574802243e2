#pragma once
// hash_grid kernels: the per-(point, level) arithmetic shared by the CPU and CUDA kernels (the 8
// vertex indices of a point's cell and their interpolation coefficients), and the entry points.
// Plain C++ above the tensor-level declarations so that nvcc can read it.
//
// Every kernel is one of three contractions over the 8 corners c of a point's cell at each
// level, with a corner coefficient k_c that is either the trilinear weight w_c or, given a
// direction v [N, 3], its derivative along v, a_c = sum_d v_d dw_c/du_d:
//   gather:     out[l F + f]   = sum_c k_c theta[c, f]             (forward; Jacobian-vector)
//   scatter:    dtheta[c, f]  += k_c g[l F + f]                     (param gradient; its v form)
//   input_grad: du[d]         += sum_c k'_{c,d} <g_l, theta[c]>     (input gradient with k' =
//               dw_c/du_d; with v, the mixed second derivative sum_e v_e d2w_c/du_e du_d)

#include <cstdint>

#include "ops/device_math.h"

#ifdef SDS_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

#ifdef __CUDACC__
#define SDS_HASH_INLINE __forceinline__
#elif defined(__GNUC__)
#define SDS_HASH_INLINE inline __attribute__((always_inline))
#else
#define SDS_HASH_INLINE inline
#endif

namespace sds::ops::detail {

constexpr int kHashGridMaxLevels = 32;

/// The level table, passed to kernels by value (a few hundred bytes of kernel parameters).
struct HashGridLevels {
  int n_levels = 0;
  int n_features = 0;
  int64_t offset[kHashGridMaxLevels];  // first entry of the level
  uint32_t size[kHashGridMaxLevels];   // entries of the level
  uint32_t resolution[kHashGridMaxLevels];
  uint32_t hashed[kHashGridMaxLevels];  // 1: coherent prime hash; 0: dense index
  double scale[kHashGridMaxLevels];
};

/// A point's cell at one level: its corners' entry rows (level offset included) and the
/// fractional position f_d in the cell, with the level's scale (dp/du).
template <typename T>
struct HashCell {
  int64_t row[8];
  T frac[3];
  T scale;
};

template <typename T>
SDS_HOST_DEVICE SDS_HASH_INLINE void hash_cell(const HashGridLevels& L, int level,
                                               const T* __restrict__ u, HashCell<T>& cell) {
  const T scale = static_cast<T>(L.scale[level]);
  uint32_t g[3];
  for (int d = 0; d < 3; ++d) {
    T p = u[d] * scale + T(0.5);
    // Far outside the grid every vertex wraps anyway; the clamp keeps the integer conversion
    // defined for any value (a NaN becomes the low end).
    p = p > T(-1048576) ? p : T(-1048576);
    p = p < T(1048576) ? p : T(1048576);
    int64_t i = static_cast<int64_t>(p);  // truncation; floor by hand (no libm on the CPU)
    if (T(i) > p) --i;
    cell.frac[d] = p - T(i);
    g[d] = static_cast<uint32_t>(i);  // negative vertices wrap, as tiny-cuda-nn's uint32 math
  }
  cell.scale = scale;
  const uint32_t size = L.size[level];
  const uint32_t res = L.resolution[level];
  const bool hashed = L.hashed[level] != 0;
  for (int c = 0; c < 8; ++c) {
    const uint32_t x = g[0] + (c & 1), y = g[1] + ((c >> 1) & 1), z = g[2] + ((c >> 2) & 1);
    const uint32_t index =
        hashed ? (x ^ (y * 2654435761u) ^ (z * 805459861u)) : (x + y * res + z * res * res);
    cell.row[c] = L.offset[level] + static_cast<int64_t>(index % size);
  }
}

/// Corner c's per-axis factors: a[d] = f_d or 1 - f_d (the weight's factors) and s[d] = +-1
/// (their derivatives in f_d), by bit d of c.
template <typename T>
SDS_HOST_DEVICE SDS_HASH_INLINE void corner_factors(const T* f, int c, T* a, T* s) {
  for (int d = 0; d < 3; ++d) {
    const bool hi = (c >> d) & 1;
    a[d] = hi ? f[d] : T(1) - f[d];
    s[d] = hi ? T(1) : T(-1);
  }
}

/// Corner coefficients of one cell: the trilinear weights (v null) or their derivative along v.
template <typename T>
SDS_HOST_DEVICE SDS_HASH_INLINE void cell_weights(const HashCell<T>& cell, const T* v, T* k) {
  for (int c = 0; c < 8; ++c) {
    T a[3], s[3];
    corner_factors(cell.frac, c, a, s);
    if (v == nullptr) {
      k[c] = a[0] * a[1] * a[2];
    } else {
      k[c] = cell.scale *
             (v[0] * s[0] * a[1] * a[2] + v[1] * a[0] * s[1] * a[2] + v[2] * a[0] * a[1] * s[2]);
    }
  }
}

/// Per-corner, per-axis coefficients of the input gradient: dw_c/du_d (v null) or the mixed
/// second derivative sum_e v_e d2w_c/(du_e du_d) (the pure second derivatives are zero).
template <typename T>
SDS_HOST_DEVICE SDS_HASH_INLINE void cell_input_weights(const HashCell<T>& cell, const T* v,
                                                        T (*k)[3]) {
  const T s1 = cell.scale, s2 = cell.scale * cell.scale;
  for (int c = 0; c < 8; ++c) {
    T a[3], s[3];
    corner_factors(cell.frac, c, a, s);
    if (v == nullptr) {
      k[c][0] = s1 * s[0] * a[1] * a[2];
      k[c][1] = s1 * a[0] * s[1] * a[2];
      k[c][2] = s1 * a[0] * a[1] * s[2];
    } else {
      k[c][0] = s2 * s[0] * (v[1] * s[1] * a[2] + v[2] * s[2] * a[1]);
      k[c][1] = s2 * s[1] * (v[0] * s[0] * a[2] + v[2] * s[2] * a[0]);
      k[c][2] = s2 * s[2] * (v[0] * s[0] * a[1] + v[1] * s[1] * a[0]);
    }
  }
}

/// gather of one (point, level): out[f] = sum_c k_c theta[row_c, f], F = kF.
template <typename T, int kF>
SDS_HOST_DEVICE SDS_HASH_INLINE void hash_gather(const T* __restrict__ theta,
                                                 const HashCell<T>& cell, const T* k,
                                                 T* __restrict__ out) {
  T acc[kF];
  for (int f = 0; f < kF; ++f) acc[f] = T(0);
  for (int c = 0; c < 8; ++c) {
    const T* t = theta + cell.row[c] * kF;
    for (int f = 0; f < kF; ++f) acc[f] += k[c] * t[f];
  }
  for (int f = 0; f < kF; ++f) out[f] = acc[f];
}

/// input_grad of one (point, level): du[d] += sum_c k_{c,d} <g, theta[row_c]>.
template <typename T, int kF>
SDS_HOST_DEVICE SDS_HASH_INLINE void hash_input_grad(const T* __restrict__ theta,
                                                     const HashCell<T>& cell, const T (*k)[3],
                                                     const T* __restrict__ g, T* du) {
  for (int c = 0; c < 8; ++c) {
    const T* t = theta + cell.row[c] * kF;
    T dot = T(0);
    for (int f = 0; f < kF; ++f) dot += g[f] * t[f];
    for (int d = 0; d < 3; ++d) du[d] += k[c][d] * dot;
  }
}

/// input_grad of point p over every level: du[3 p ..] = sum_l of hash_input_grad (v may be null).
template <typename T, int kF>
SDS_HOST_DEVICE SDS_HASH_INLINE void hash_point_input_grad(const HashGridLevels& L, int64_t p,
                                                           const T* __restrict__ theta,
                                                           const T* __restrict__ u, const T* v,
                                                           const T* __restrict__ g,
                                                           T* __restrict__ du) {
  const int64_t width = int64_t{L.n_levels} * kF;
  T acc[3] = {T(0), T(0), T(0)};
  for (int l = 0; l < L.n_levels; ++l) {
    HashCell<T> cell;
    hash_cell(L, l, u + 3 * p, cell);
    T k[8][3];
    cell_input_weights(cell, v ? v + 3 * p : nullptr, k);
    hash_input_grad<T, kF>(theta, cell, k, g + p * width + l * kF, acc);
  }
  for (int d = 0; d < 3; ++d) du[3 * p + d] = acc[d];
}

#ifdef SDS_WITH_CUDA
// CUDA launches (cuda/hash_grid.cu) on contiguous buffers; v may be null (see the top). They
// return the launch status. scatter adds into dtheta atomically (the caller zeroes it);
// input_grad writes du.
#define SDS_HASH_GRID_CUDA_DECL(T)                                                               \
  cudaError_t hash_grid_gather_cuda(const HashGridLevels& L, int64_t N, const T* theta,          \
                                    const T* u, const T* v, T* out, cudaStream_t stream);        \
  cudaError_t hash_grid_scatter_cuda(const HashGridLevels& L, int64_t N, const T* u, const T* v, \
                                     const T* g, T* dtheta, cudaStream_t stream);                \
  cudaError_t hash_grid_input_grad_cuda(const HashGridLevels& L, int64_t N, const T* theta,      \
                                        const T* u, const T* v, const T* g, T* du,               \
                                        cudaStream_t stream);
SDS_HASH_GRID_CUDA_DECL(float)
SDS_HASH_GRID_CUDA_DECL(double)
#undef SDS_HASH_GRID_CUDA_DECL
#endif

}  // namespace sds::ops::detail

#ifndef __CUDACC__
#include <ATen/core/Tensor.h>

namespace sds::ops::detail {

// CPU kernels (src/ops/hash_grid_cpu.cpp) on contiguous tensors; v undefined or [N, 3].
/// out [N, L F] = gather(theta [E, F], u [N, 3], v).
void hash_grid_gather_cpu(const HashGridLevels& L, const at::Tensor& theta, const at::Tensor& u,
                          const at::Tensor& v, const at::Tensor& out);
/// dtheta [E, F] (any contents on entry) = scatter(u, v, g [N, L F]). Levels in parallel, each
/// level's points in order: deterministic for any thread count.
void hash_grid_scatter_cpu(const HashGridLevels& L, const at::Tensor& u, const at::Tensor& v,
                           const at::Tensor& g, const at::Tensor& dtheta);
/// du [N, 3] = input_grad(theta, u, v, g).
void hash_grid_input_grad_cpu(const HashGridLevels& L, const at::Tensor& theta, const at::Tensor& u,
                              const at::Tensor& v, const at::Tensor& g, const at::Tensor& du);

}  // namespace sds::ops::detail
#endif
