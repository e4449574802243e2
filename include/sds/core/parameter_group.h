#pragma once
// Trainable tensors that share one learning rate.

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace sds {

/// A set of parameters trained with one learning rate.
struct ParameterGroup {
  std::string name;
  std::vector<at::Tensor> parameters;
  double lr = 1e-2;
};

}  // namespace sds
