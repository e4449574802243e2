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

/// True when a CUDA device is usable. Otherwise prints why to stderr and, under CTest (which
/// sets SDS_TEST_SKIP_EXIT_CODE for every test, see tests/CMakeLists.txt), ends the process with
/// that code, which the [cuda] tests' SKIP_RETURN_CODE reports as skipped, not passed. Run by
/// hand, it returns false and the test returns early (the other test cases still run).
/// Use SDS_REQUIRE_CUDA() at the top of a [cuda] test case rather than calling this directly.
bool require_cuda_or_skip();

}  // namespace sds::test

/// First line of every test case tagged [cuda]: skips it (see require_cuda_or_skip) when no CUDA
/// device is usable. Needs Catch (tests/testing.h) in the including file.
#define SDS_REQUIRE_CUDA()                                              \
  do {                                                                  \
    if (!::sds::test::require_cuda_or_skip()) {                         \
      WARN("no CUDA device (or a build without CUDA): test skipped");   \
      return;                                                           \
    }                                                                   \
  } while (false)
