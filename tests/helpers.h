#pragma once
// Shared test utilities: finite differences and tolerances.

#include <ATen/ATen.h>

#include <filesystem>
#include <functional>
#include <string>

namespace sds::test {

/// Central finite-difference gradient of the scalar `f` at `x` (float64), step `h`.
at::Tensor finite_difference(const std::function<at::Tensor(const at::Tensor&)>& f,
                             const at::Tensor& x, double h = 1e-6);

/// Largest absolute difference between two tensors of the same shape.
double max_abs_diff(const at::Tensor& a, const at::Tensor& b);

/// An empty folder under the system temporary folder, named after `name`. (Deletes with nftw:
/// the std::filesystem::remove_all that torch's libraries interpose crashes.)
std::filesystem::path fresh_temp_dir(const std::string& name);

/// True when a CUDA device is present and the library was built with CUDA.
bool cuda_available();

}  // namespace sds::test
