#include "sds/core/device.h"

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include "sds/core/checks.h"
#include "sds/core/read_to_host.h"
#include "sds/core/error.h"

namespace sds {

at::Device parse_device(const std::string& name) {
  at::Device device = at::kCPU;
  try {
    device = at::Device(name);
  } catch (const c10::Error&) {
    fail("device: expected \"cpu\", \"cuda\" or \"cuda:N\", got \"{}\"", name);
  }
  SDS_CHECK(device.is_cpu() || device.is_cuda(),
            "device: expected \"cpu\", \"cuda\" or \"cuda:N\", got \"{}\"", name);
  check_device_usable(device);
  return with_index(device);
}

at::Device with_index(const at::Device& device) {
  if (!device.is_cuda() || device.has_index()) return device;
  check_device_usable(device);
  return at::Device(at::kCUDA, at::detail::getCUDAHooks().current_device());
}

void check_device_usable(const at::Device& device, const std::string& what) {
  if (device.is_cpu()) return;
  SDS_CHECK(device.is_cuda(), "{}: expected a CPU or CUDA device, got {}", what, device.str());
  SDS_CHECK(built_with_cuda(),
            "{}: \"{}\" asked for, but this build of sds has no CUDA kernels; rebuild with nvcc "
            "on PATH and -DSDS_CUDA=ON",
            what, device.str());
  const int64_t count = at::hasCUDA() ? at::getNumGPUs() : 0;
  SDS_CHECK(count > 0, "{}: \"{}\" asked for, but no CUDA device is visible", what,
            device.str());
  SDS_CHECK(!device.has_index() || device.index() < count,
            "{}: \"{}\" asked for, but this machine has {} CUDA device(s)", what, device.str(),
            count);
}

at::Tensor to_device(const at::Tensor& t, const at::Device& device) {
  if (t.device() == device) return t;
  return t.to(device, /*non_blocking=*/t.is_cpu());
}

at::Tensor read_to_host(const std::vector<at::Tensor>& values) {
  if (values.empty()) return at::empty({0}, at::kDouble);
  at::Device device = at::kCPU;
  for (const auto& v : values) {
    if (!v.is_cpu()) device = v.device();
  }
  std::vector<at::Tensor> flat;
  for (const auto& v : values) flat.push_back(to_device(v.detach().reshape({-1}).to(at::kDouble), device));
  return at::cat(flat).cpu();
}

}  // namespace sds
