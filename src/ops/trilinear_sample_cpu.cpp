// trilinear_sample on the CPU: points in parallel for the forward; for the backward, the points
// split into a fixed number of contiguous chunks, each scattering into its own gradient buffer
// (no atomics), then the buffers summed in chunk order (deterministic for a fixed thread count).
// Also the reference for the CUDA kernel.

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "ops/trilinear_sample_kernels.h"

namespace sds::ops::detail {
namespace {

// Points per forward task (each point is a few tens of nanoseconds).
constexpr int64_t kPointGrain = 2048;
// Grid elements per reduction task: small enough that the destination block stays in cache while
// every chunk's buffer is added to it.
constexpr int64_t kReduceGrain = 16384;
// The fewest points worth a gradient buffer of their own.
constexpr int64_t kMinChunkPoints = 4096;
// Cap on the extra gradient buffers of the backward: a huge grid gets fewer chunks (less
// parallelism) rather than one copy of itself per thread.
constexpr int64_t kMaxScratchBytes = int64_t{1} << 30;

// The number of point chunks (= gradient buffers) of the backward. Depends only on the sizes and
// the thread count, so a fixed thread count always splits the points the same way.
int64_t backward_chunks(int64_t N, int64_t voxels, int64_t elems, std::size_t elem_size) {
  const int64_t threads = std::max(1, at::get_num_threads());
  // A chunk pays for zeroing and summing its buffer (~2 V C memory operations) besides its
  // points' 8 C updates each: give it at least V / 4 points.
  const int64_t per_chunk = std::max(kMinChunkPoints, voxels / 4);
  int64_t chunks = std::clamp<int64_t>(N / per_chunk, 1, threads);
  const int64_t buffer_bytes = std::max<int64_t>(1, elems * static_cast<int64_t>(elem_size));
  chunks = std::min(chunks, 1 + kMaxScratchBytes / buffer_bytes);
  return chunks;
}

// kC channels of T as one GCC vector register (a 16- or 32-byte pack), or, for other sizes, a
// plain loop. GCC vectorises the forward's gather by itself but not this read-modify-write.
template <typename T, int kC>
constexpr bool kPacked = kC * sizeof(T) == 16 || kC * sizeof(T) == 32;

template <typename T, int kC>
SDS_TRILINEAR_INLINE void add_scaled(T* __restrict__ d, T w, const T* __restrict__ g) {
  if constexpr (kPacked<T, kC>) {
    typedef T Pack __attribute__((vector_size(kC * sizeof(T))));
    Pack dv, gv;
    std::memcpy(&dv, d, sizeof(Pack));
    std::memcpy(&gv, g, sizeof(Pack));
    dv += w * gv;
    std::memcpy(d, &dv, sizeof(Pack));
  } else {
    for (int c = 0; c < kC; ++c) d[c] += w * g[c];
  }
}

/// Backward of one point into a gradient buffer it owns (no atomics): grad[offset_k + c] +=
/// w_k g[c] over the corners inside. kC as for trilinear_gather (0: C at run time).
template <typename T, int kC>
SDS_TRILINEAR_INLINE void trilinear_scatter(T* __restrict__ grad, const TrilinearCorners<T>& k,
                                            int64_t C, const T* __restrict__ g) {
  if constexpr (kC > 0) {
    T gv[kC];  // a copy the stores into grad cannot alias
    for (int c = 0; c < kC; ++c) gv[c] = g[c];
    if (k.inside == 0xffu) {
      for (int j = 0; j < 8; ++j) add_scaled<T, kC>(grad + k.offset[j], k.weight[j], gv);
    } else {
      for (int j = 0; j < 8; ++j) {
        if ((k.inside >> j) & 1u) add_scaled<T, kC>(grad + k.offset[j], k.weight[j], gv);
      }
    }
  } else {
    for (int j = 0; j < 8; ++j) {
      if (!((k.inside >> j) & 1u)) continue;
      const T w = k.weight[j];
      T* d = grad + k.offset[j];
      for (int64_t c = 0; c < C; ++c) d[c] += w * g[c];
    }
  }
}

template <typename T, int kC>
void fwd_impl(const T* grid, const T* points, T* out, int64_t N, int64_t D, int64_t H, int64_t W,
              int64_t C) {
  at::parallel_for(0, N, kPointGrain, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      TrilinearCorners<T> k;
      trilinear_corners<T>(points + 3 * p, D, H, W, C, k);
      trilinear_gather<T, kC>(grid, k, C, out + p * C);
    }
  });
}

template <typename T, int kC>
void bwd_impl(const T* points, const T* grad_out, T* grad, const at::Tensor& grad_grid, int64_t N,
              int64_t D, int64_t H, int64_t W, int64_t C) {
  const int64_t voxels = D * H * W;
  const int64_t G = voxels * C;
  const int64_t chunks = backward_chunks(N, voxels, G, sizeof(T));
  // Chunk 0 scatters straight into the result; chunks 1.. into scratch buffers.
  at::Tensor scratch;
  if (chunks > 1) scratch = at::empty({chunks - 1, G}, grad_grid.options());
  T* const extra = chunks > 1 ? scratch.data_ptr<T>() : nullptr;
  auto buffer = [&](int64_t c) { return c == 0 ? grad : extra + (c - 1) * G; };

  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      T* buf = buffer(c);
      std::fill(buf, buf + G, T(0));  // zeroed by the thread that fills it
      const int64_t p_end = N * (c + 1) / chunks;
      for (int64_t p = N * c / chunks; p < p_end; ++p) {
        TrilinearCorners<T> k;
        trilinear_corners<T>(points + 3 * p, D, H, W, C, k);
        trilinear_scatter<T, kC>(buf, k, C, grad_out + p * C);
      }
    }
  });
  if (chunks == 1) return;
  // Every element sums the buffers in chunk order, whichever thread does it.
  at::parallel_for(0, G, kReduceGrain, [&](int64_t begin, int64_t end) {
    T* __restrict__ dst = grad + begin;
    const int64_t n = end - begin;
    for (int64_t c = 1; c < chunks; ++c) {
      const T* __restrict__ src = buffer(c) + begin;
      for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
    }
  });
}

// Calls f.template operator()<kC>() with kC = C for C in 1..8, else kC = 0 (any C).
template <class F>
void dispatch_channels(int64_t C, F&& f) {
  switch (C) {
    case 1:
      f.template operator()<1>();
      break;
    case 2:
      f.template operator()<2>();
      break;
    case 3:
      f.template operator()<3>();
      break;
    case 4:
      f.template operator()<4>();
      break;
    case 5:
      f.template operator()<5>();
      break;
    case 6:
      f.template operator()<6>();
      break;
    case 7:
      f.template operator()<7>();
      break;
    case 8:
      f.template operator()<8>();
      break;
    default:
      f.template operator()<0>();
      break;
  }
}

}  // namespace

void trilinear_sample_fwd_cpu(const at::Tensor& grid, const at::Tensor& points,
                              const at::Tensor& out) {
  const int64_t N = points.size(0);
  const int64_t D = grid.size(0), H = grid.size(1), W = grid.size(2), C = grid.size(3);
  if (N == 0 || C == 0) return;
  AT_DISPATCH_FLOATING_TYPES(grid.scalar_type(), "trilinear_sample_fwd_cpu", [&] {
    const scalar_t* g = grid.data_ptr<scalar_t>();
    const scalar_t* p = points.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    dispatch_channels(C, [&]<int kC>() { fwd_impl<scalar_t, kC>(g, p, o, N, D, H, W, C); });
  });
}

void trilinear_sample_bwd_cpu(const at::Tensor& points, const at::Tensor& grad_out,
                              const at::Tensor& grad_grid) {
  const int64_t N = points.size(0);
  const int64_t D = grad_grid.size(0), H = grad_grid.size(1), W = grad_grid.size(2),
                C = grad_grid.size(3);
  if (N == 0 || C == 0) {
    grad_grid.zero_();
    return;
  }
  AT_DISPATCH_FLOATING_TYPES(grad_grid.scalar_type(), "trilinear_sample_bwd_cpu", [&] {
    const scalar_t* p = points.data_ptr<scalar_t>();
    const scalar_t* go = grad_out.data_ptr<scalar_t>();
    scalar_t* gg = grad_grid.data_ptr<scalar_t>();
    dispatch_channels(
        C, [&]<int kC>() { bwd_impl<scalar_t, kC>(p, go, gg, grad_grid, N, D, H, W, C); });
  });
}

}  // namespace sds::ops::detail
