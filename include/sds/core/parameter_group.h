#pragma once
// Trainable tensors that share one learning rate.

#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace sds {

/// A set of parameters trained with one learning rate.
struct ParameterGroup {
  ParameterGroup() = default;
  ParameterGroup(std::string name, std::vector<at::Tensor> parameters, double lr,
                 std::function<double(int64_t)> lr_at = {})
      : name(std::move(name)), parameters(std::move(parameters)), lr(lr), lr_at(std::move(lr_at)) {}

  std::string name;
  std::vector<at::Tensor> parameters;
  double lr = 1e-2;
  /// The learning rate at a 0-based step (e.g. 3DGS's log-linear position decay); empty: `lr`
  /// throughout.
  std::function<double(int64_t step)> lr_at;
};

}  // namespace sds
