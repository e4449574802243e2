#pragma once
// composite_rays kernels: the per-ray arithmetic that the CPU and CUDA kernels share, and their
// entry points. The part above the tensor-level declarations is plain C++ so nvcc can read it.

#include <cstdint>

#include "ops/device_math.h"

#ifdef SDS_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace sds::ops::detail {

/// Forward of one ray of S samples (row pointers, contiguous): writes w [S], rgb [3], alpha,
/// depth and the transmittance left after the last sample (what the backward starts from).
template <typename T>
SDS_HOST_DEVICE inline void composite_ray_fwd(int64_t S, const T* __restrict__ sigma,
                                              const T* __restrict__ rgb,
                                              const T* __restrict__ delta, const T* __restrict__ t,
                                              T* __restrict__ w, T* __restrict__ out_rgb,
                                              T* __restrict__ out_alpha, T* __restrict__ out_depth,
                                              T* __restrict__ out_trans) {
  T trans = T(1);
  T r = T(0), g = T(0), b = T(0), a = T(0), d = T(0);
  for (int64_t i = 0; i < S; ++i) {
    // T_{i+1} = T_i exp(-tau_i) as a running product: one exp per sample, and an infinite tau
    // (huge density) gives exactly 0 instead of the inf - inf of a cumulative sum.
    const T e = exp_neg(sigma[i] * delta[i]);
    const T wi = trans * (T(1) - e);
    w[i] = wi;
    r += wi * rgb[3 * i + 0];
    g += wi * rgb[3 * i + 1];
    b += wi * rgb[3 * i + 2];
    a += wi;
    d += wi * t[i];
    trans *= e;
  }
  out_rgb[0] = r;
  out_rgb[1] = g;
  out_rgb[2] = b;
  *out_alpha = a;
  *out_depth = d;
  *out_trans = trans;
}

/// Backward of one ray from the saved weights w [S] and final transmittance. Any upstream
/// gradient pointer may be null (that output got no gradient); d_rgb may be null (not needed).
/// With g_i = <v_rgb, c_i> + v_alpha + v_depth t_i + v_w_i:
///   dL/dtau_k = g_k T_{k+1} - sum_{i>k} g_i w_i,  dL/dsigma_k = delta_k dL/dtau_k,
///   dL/dc_k = w_k v_rgb.
template <typename T>
SDS_HOST_DEVICE inline void composite_ray_bwd(
    int64_t S, const T* __restrict__ rgb, const T* __restrict__ delta, const T* __restrict__ t,
    const T* __restrict__ w, T trans_final, const T* __restrict__ v_rgb,
    const T* __restrict__ v_alpha, const T* __restrict__ v_depth, const T* __restrict__ v_w,
    T* __restrict__ d_sigma, T* __restrict__ d_rgb) {
  const T vr = v_rgb ? v_rgb[0] : T(0);
  const T vg = v_rgb ? v_rgb[1] : T(0);
  const T vb = v_rgb ? v_rgb[2] : T(0);
  const T va = v_alpha ? *v_alpha : T(0);
  const T vd = v_depth ? *v_depth : T(0);
  // Reverse sweep: T_{k+1} = T_S + sum_{i>k} w_i is rebuilt from the tail, a sum of positive
  // terms that stays accurate where transmittance is tiny (unlike 1 - sum_{i<=k} w_i).
  T suffix = T(0);
  T trans_next = trans_final;
  for (int64_t k = S - 1; k >= 0; --k) {
    const T wk = w[k];
    T gk = vr * rgb[3 * k + 0] + vg * rgb[3 * k + 1] + vb * rgb[3 * k + 2] + va + vd * t[k];
    if (v_w) gk += v_w[k];
    d_sigma[k] = delta[k] * (gk * trans_next - suffix);
    if (d_rgb) {
      d_rgb[3 * k + 0] = wk * vr;
      d_rgb[3 * k + 1] = wk * vg;
      d_rgb[3 * k + 2] = wk * vb;
    }
    suffix += gk * wk;
    trans_next += wk;
  }
}

/// The samples of ray r: dense rays (offsets null) hold S each from r S; packed rays hold
/// offsets[r + 1] - offsets[r] from offsets[r].
SDS_HOST_DEVICE inline void ray_samples(int64_t r, int64_t S, const int64_t* offsets,
                                        int64_t& first, int64_t& count) {
  first = offsets ? offsets[r] : r * S;
  count = offsets ? offsets[r + 1] - first : S;
}

#ifdef SDS_WITH_CUDA
// CUDA launches (cuda/composite_rays.cu), contiguous buffers, one thread per ray. They return
// the launch status; the caller turns a failure into sds::Error. R may be 0. offsets is null
// for dense rays of S samples, else the packed rays' [R + 1] sample offsets (S unused).
cudaError_t composite_rays_fwd_cuda(int64_t R, int64_t S, const int64_t* offsets,
                                    const float* sigmas, const float* rgbs, const float* deltas,
                                    const float* ts, float* rgb, float* alpha, float* depth,
                                    float* weights, float* trans, cudaStream_t stream);
cudaError_t composite_rays_fwd_cuda(int64_t R, int64_t S, const int64_t* offsets,
                                    const double* sigmas, const double* rgbs, const double* deltas,
                                    const double* ts, double* rgb, double* alpha, double* depth,
                                    double* weights, double* trans, cudaStream_t stream);
cudaError_t composite_rays_bwd_cuda(int64_t R, int64_t S, const int64_t* offsets, const float* rgbs,
                                    const float* deltas, const float* ts, const float* weights,
                                    const float* trans, const float* v_rgb, const float* v_alpha,
                                    const float* v_depth, const float* v_weights, float* d_sigmas,
                                    float* d_rgbs, cudaStream_t stream);
cudaError_t composite_rays_bwd_cuda(int64_t R, int64_t S, const int64_t* offsets,
                                    const double* rgbs, const double* deltas, const double* ts,
                                    const double* weights, const double* trans, const double* v_rgb,
                                    const double* v_alpha, const double* v_depth,
                                    const double* v_weights, double* d_sigmas, double* d_rgbs,
                                    cudaStream_t stream);
#endif

}  // namespace sds::ops::detail

#ifndef __CUDACC__
#include <ATen/core/Tensor.h>

namespace sds::ops::detail {

/// Forward buffers, prepared once by the op for either device: inputs contiguous, outputs
/// allocated (rgb [R,3], alpha [R], depth [R], weights like sigmas, trans [R], the
/// transmittance left after the last sample, which the backward starts from). Dense rays:
/// sigmas [R, S], offsets undefined; packed rays: sigmas [N], offsets [R + 1] (int64).
struct CompositeForward {
  at::Tensor offsets;
  at::Tensor sigmas, rgbs, deltas, ts;
  at::Tensor rgb, alpha, depth, weights, trans;
};

/// Backward buffers: upstream gradients (undefined = zero), saved tensors, and the outputs
/// d_sigmas (like sigmas) and d_rgbs (like rgbs; undefined when not needed), all contiguous.
struct CompositeBackward {
  at::Tensor offsets;  // as CompositeForward's
  at::Tensor v_rgb, v_alpha, v_depth, v_weights;
  at::Tensor rgbs, deltas, ts, weights, trans;
  at::Tensor d_sigmas, d_rgbs;
};

// CPU kernels (src/ops/composite_rays_cpu.cpp); they fill the prepared outputs.
void composite_rays_fwd_cpu(const CompositeForward& f);
void composite_rays_bwd_cpu(const CompositeBackward& b);

}  // namespace sds::ops::detail
#endif
