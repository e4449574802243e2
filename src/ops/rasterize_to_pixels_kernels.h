#pragma once
// rasterize_to_pixels kernels: the per-(pixel, Gaussian) arithmetic of compositing and its VJP,
// shared by the CPU and CUDA kernels, and the backends' entry points.

#include <cstdint>

#include "ops/gaussian_math.h"

#ifdef SDS_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace sds::ops::detail {

/// One Gaussian as a tile sees it: screen mean, conic (a, b, c), opacity.
template <typename T>
struct Splat {
  T mx, my, a, b, c, o;
};

/// Splat g of the flat per-Gaussian arrays (means2d [2 g], conics [3 g], opacities [g]); g is
/// int64 because 3 g can pass the int32 range.
template <typename T>
SDS_HOST_DEVICE inline Splat<T> gather_splat(const T* means2d, const T* conics,
                                             const T* opacities, int64_t g) {
  return {means2d[2 * g], means2d[2 * g + 1], conics[3 * g], conics[3 * g + 1], conics[3 * g + 2],
          opacities[g]};
}

/// The opacity of a splat at pixel centre (px, py), and what its VJP needs. `ok` is false when
/// the pixel skips it (behind the conic's numerical range, or alpha below 1/255).
template <typename T>
struct SplatHit {
  bool ok;
  T alpha, g, dx, dy;
};

template <typename T>
SDS_HOST_DEVICE inline SplatHit<T> splat_hit(const Splat<T>& s, T px, T py) {
  SplatHit<T> h;
  h.dx = s.mx - px;
  h.dy = s.my - py;
  const T sigma = conic_power(s.a, s.b, s.c, h.dx, h.dy);
  h.ok = false;
  if (sigma < T(0)) return h;
  h.g = exp_of(-sigma);
  h.alpha = min_of(T(kAlphaMax), s.o * h.g);
  h.ok = h.alpha >= T(kAlphaMin);
  return h;
}

/// Gradients of one splat's screen parameters.
template <typename T>
struct SplatGrad {
  T mx, my, a, b, c, o;
};

/// dL/d(splat) from dL/dalpha of one hit; zero where alpha was clamped at 0.99 (gsplat's rule).
template <typename T>
SDS_HOST_DEVICE inline SplatGrad<T> splat_vjp(const Splat<T>& s, const SplatHit<T>& h, T v_alpha) {
  SplatGrad<T> r{T(0), T(0), T(0), T(0), T(0), T(0)};
  if (s.o * h.g > T(kAlphaMax)) return r;
  const T v_sigma = -s.o * h.g * v_alpha;
  r.a = T(0.5) * v_sigma * h.dx * h.dx;
  r.b = v_sigma * h.dx * h.dy;
  r.c = T(0.5) * v_sigma * h.dy * h.dy;
  r.mx = v_sigma * (s.a * h.dx + s.b * h.dy);
  r.my = v_sigma * (s.b * h.dx + s.c * h.dy);
  r.o = h.g * v_alpha;
  return r;
}

#ifdef SDS_WITH_CUDA
// CUDA launches (cuda/rasterize_to_pixels.cu): one block per tile, one thread per pixel. The
// backward adds into zero-initialised per-pair gradients [C * N, *] with warp-reduced atomics.
template <typename T>
cudaError_t rasterize_to_pixels_fwd_cuda(int64_t C, int64_t N, int D, int width, int height,
                                         int tile, int tiles_x, int tiles_y, int64_t M,
                                         const T* means2d, const T* conics, const T* colors,
                                         const T* opacities, const T* backgrounds,
                                         const int32_t* offsets, const int32_t* flatten_ids,
                                         T* out_colors, T* out_alphas, T* trans,
                                         int32_t* last_ids, cudaStream_t stream);
template <typename T>
cudaError_t rasterize_to_pixels_bwd_cuda(int64_t C, int64_t N, int D, int width, int height,
                                         int tile, int tiles_x, int tiles_y, int64_t M,
                                         const T* means2d, const T* conics, const T* colors,
                                         const T* opacities, const T* backgrounds,
                                         const int32_t* offsets, const int32_t* flatten_ids,
                                         const T* trans, const int32_t* last_ids,
                                         const T* v_colors, const T* v_alphas, T* v_means2d,
                                         T* v_conics, T* v_colors_in, T* v_opacities,
                                         cudaStream_t stream);
#endif

}  // namespace sds::ops::detail

#ifndef __CUDACC__
#include <ATen/core/Tensor.h>

namespace sds::ops::detail {

/// Buffers of one rasterize_to_pixels call, contiguous; backgrounds may be undefined.
struct RasterBuffers {
  at::Tensor means2d, conics, colors, opacities, backgrounds, offsets, flatten_ids;
  int width = 0, height = 0, tile = 16, tiles_x = 0, tiles_y = 0;
  // Outputs [C,H,W,D] and [C,H,W,1]; the final transmittance [C,H,W] and the index of the last
  // blended intersection [C,H,W] int32 (-1: none), where the backward starts.
  at::Tensor out_colors, out_alphas, trans, last_ids;
};

/// Backward outputs, zero-initialised: [C, N, 2], [C, N, 3], [C, N, D], [C, N].
struct RasterGrads {
  at::Tensor v_colors_out, v_alphas_out;  // upstream (zeros when an output got none)
  at::Tensor v_means2d, v_conics, v_colors, v_opacities;
};

// CPU kernels (src/ops/rasterize_to_pixels_cpu.cpp): tiles in parallel.
void rasterize_to_pixels_fwd_cpu(const RasterBuffers& b);
void rasterize_to_pixels_bwd_cpu(const RasterBuffers& b, const RasterGrads& g);

}  // namespace sds::ops::detail
#endif
