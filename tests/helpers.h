#pragma once
// Shared test utilities: finite differences and tolerances.

#include <ATen/ATen.h>

#include <functional>

namespace sds::test {

/// Central finite-difference gradient of the scalar `f` at `x` (float64), step `h`.
at::Tensor finite_difference(const std::function<at::Tensor(const at::Tensor&)>& f,
                             const at::Tensor& x, double h = 1e-6);

/// Largest absolute difference between two tensors of the same shape.
double max_abs_diff(const at::Tensor& a, const at::Tensor& b);

/// True when a CUDA device is present and the library was built with CUDA.
bool cuda_available();

}  // namespace sds::test
