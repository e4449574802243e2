#pragma once
// spherical_harmonics kernels: entry points of the backends around the per-element arithmetic
// of gaussian_math.h (sh_to_color and its VJP).

#include <cstdint>

#include "ops/gaussian_math.h"

#ifdef SDS_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace sds::ops::detail {

#ifdef SDS_WITH_CUDA
// CUDA launches (cuda/spherical_harmonics.cu): one thread per element; K is the coefficient
// stride of coeffs ([M, K, 3]); v_dirs may be null.
template <typename T>
cudaError_t spherical_harmonics_fwd_cuda(int64_t M, int degree, int64_t K, const T* dirs,
                                         const T* coeffs, T* colors, cudaStream_t stream);
template <typename T>
cudaError_t spherical_harmonics_bwd_cuda(int64_t M, int degree, int64_t K, const T* dirs,
                                         const T* coeffs, const T* v_colors, T* v_coeffs,
                                         T* v_dirs, cudaStream_t stream);
#endif

}  // namespace sds::ops::detail

#ifndef __CUDACC__
#include <ATen/core/Tensor.h>

namespace sds::ops::detail {

// CPU kernels (src/ops/spherical_harmonics_cpu.cpp) on contiguous tensors; v_coeffs is
// zero-initialised [M, K, 3]; v_dirs may be undefined.
void spherical_harmonics_fwd_cpu(int64_t degree, const at::Tensor& dirs, const at::Tensor& coeffs,
                                 const at::Tensor& colors);
void spherical_harmonics_bwd_cpu(int64_t degree, const at::Tensor& dirs, const at::Tensor& coeffs,
                                 const at::Tensor& v_colors, const at::Tensor& v_coeffs,
                                 const at::Tensor& v_dirs);

}  // namespace sds::ops::detail
#endif
