#pragma once
// Small helpers of the ops' glue layer (tensors -> raw pointers -> launches), shared by every op.

#include <ATen/core/Tensor.h>

#include "sds/core/error.h"

#ifdef SDS_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace sds::ops::detail {

/// `t.contiguous()`, or `t` itself when undefined (an output that got no gradient).
inline at::Tensor contiguous_or_undefined(const at::Tensor& t) {
  return t.defined() ? t.contiguous() : t;
}

/// The data pointer, or null for an undefined tensor (kernels read null as "zero").
template <typename T>
const T* ptr_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

/// The writable data pointer, or null for an undefined tensor (an output not needed).
template <typename T>
T* out_ptr_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

/// `t` when defined, zeros of `like`'s shape otherwise.
inline at::Tensor defined_or_zeros(const at::Tensor& t, const at::Tensor& like) {
  return t.defined() ? t.contiguous() : at::zeros_like(like);
}

#ifdef SDS_WITH_CUDA
/// Turns a failed launch into an sds::Error (a kernel built for another GPU fails here, before
/// any count it should have written is read back).
inline void check_launch(cudaError_t err, const char* what) {
  SDS_CHECK(err == cudaSuccess, "{}: CUDA kernel launch failed: {}", what, cudaGetErrorString(err));
}
#endif

}  // namespace sds::ops::detail
