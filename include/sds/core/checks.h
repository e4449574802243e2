#pragma once
// Tensor checks for the API boundary. Each throws sds::Error naming the argument, what was
// expected and what came.

#include <ATen/ATen.h>

#include <initializer_list>
#include <string_view>

namespace sds {

/// "[2, 3, 64, 64]"
std::string shape_string(at::IntArrayRef sizes);

/// Throws unless `t` is defined.
void check_defined(const at::Tensor& t, std::string_view name);

/// Throws unless `t` has `dims.size()` dimensions and each size matches (-1 matches any size).
/// `layout` names the dimensions for the message, e.g. "[B, 3, H, W]".
void check_shape(const at::Tensor& t, std::string_view name, std::initializer_list<int64_t> dims,
                 std::string_view layout);

/// Throws unless `t` has the given dtype.
void check_dtype(const at::Tensor& t, std::string_view name, at::ScalarType dtype);

/// Throws unless `t` is a floating-point tensor (float32 or float64).
void check_floating(const at::Tensor& t, std::string_view name);

/// Throws unless `t` lives on `device`.
void check_device(const at::Tensor& t, std::string_view name, const at::Device& device);

/// Throws when a CUDA tensor reaches a build without CUDA, or a device type the library has no
/// kernels for.
void check_device_supported(const at::Tensor& t, std::string_view name);

/// Whether value checks (finiteness, ranges, ...) of `t` run: always for a CPU tensor, where
/// they cost no sync; for a device tensor only with debug checks on, since reading a value
/// back waits for the device's queue.
bool value_checks_enabled(const at::Tensor& t);
/// Turns the value checks of device tensors on or off for the whole process (default: off,
/// or on when the environment sets SDS_DEBUG_CHECKS=1).
void set_debug_checks(bool on);
/// Whether the value checks of device tensors are on.
bool debug_checks();

/// Throws when `t` holds NaN or Inf; `what` says where it was found. A value check: skipped
/// for a device tensor unless debug checks are on.
void check_finite(const at::Tensor& t, std::string_view what);

/// True when the library was built with its CUDA kernels.
bool built_with_cuda();

}  // namespace sds
