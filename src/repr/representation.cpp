#include "sds/repr/representation.h"

#include <ATen/core/grad_mode.h>

#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds {

at::Device Representation::device() {
  for (auto& [name, tensor] : named_tensors()) {
    if (tensor.defined()) return tensor.device();
  }
  return at::kCPU;
}

void Representation::to(const at::Device& target) {
  SDS_CHECK(device() == target, "this representation cannot move to {} (it lives on {})",
            target.str(), device().str());
}

void Representation::fix_geometry(const Occupancy&) {
  fail("this representation cannot fix its geometry (fixed_geometry)");
}

void Representation::restore_tensors(const std::map<std::string, at::Tensor>& stored,
                                     OptimizerState&) {
  at::NoGradGuard no_grad;
  for (auto& [name, tensor] : named_tensors()) {
    auto it = stored.find(name);
    SDS_CHECK(it != stored.end(), "checkpoint has no tensor \"representation.{}\"", name);
    SDS_CHECK(it->second.sizes() == tensor.sizes(),
              "tensor \"representation.{}\" has shape {} in the checkpoint, expected {}", name,
              shape_string(it->second.sizes()), shape_string(tensor.sizes()));
    tensor.copy_(it->second);
  }
}

void Representation::export_file(const std::filesystem::path& path, const std::string& format) {
  fail("{}: this representation exports no \"{}\" files", path.string(), format);
}

}  // namespace sds
