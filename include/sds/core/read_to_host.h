#pragma once
// The one read-back of a logged training step.

#include <ATen/ATen.h>

#include <vector>

namespace sds {

/// Every value of `values` flattened to float64 and read back to the host in one copy (gathered
/// on the device of the first one that is not on the CPU): the one sync of a logged step.
at::Tensor read_to_host(const std::vector<at::Tensor>& values);

}  // namespace sds
