#pragma once
// Devices: parsing a device name, checking it can run the library, and moving small host-built
// tensors (camera matrices, indices, weights) to it without waiting for the device's queue.

#include <ATen/ATen.h>

#include <string>

namespace sds {

/// The device named "cpu", "cuda" or "cuda:N", with its index (see with_index). sds::Error for another name, for a CUDA device
/// in a build without CUDA kernels, and for a CUDA device this machine does not have.
at::Device parse_device(const std::string& name);

/// `device` with its index: "cuda" is the current CUDA device ("cuda:0" in a fresh process), so
/// that it compares equal to the device of the tensors made there.
at::Device with_index(const at::Device& device);

/// Throws sds::Error unless the library can run on `device` (see parse_device); `what` names
/// the setting in the message.
void check_device_usable(const at::Device& device, const std::string& what = "device");

/// `t` (a host tensor) on `device`. The copy is queued without a host sync: a pageable host
/// buffer is staged before the call returns, so `t` may be freed at once.
at::Tensor to_device(const at::Tensor& t, const at::Device& device);

}  // namespace sds
