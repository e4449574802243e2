#pragma once
// The primitive layers of the model ports, as torch::nn modules whose parameter names are
// PyTorch's (`weight`, `bias`), so that a module tree's names are the checkpoint's keys.
// Parameters start as zeros (norm scales as ones): a model is meant to be loaded, and
// `randomize_parameters` fills one for tests and benchmarks.

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace sds::models {

/// One low-rank adapter of a Linear layer: y += scaling * multiplier * B(A(x)) while enabled.
struct LoraAdapter {
  std::string name;
  std::shared_ptr<class Linear> A, B;  ///< `[rank, in]` and `[out, rank]`, float32
  double scaling = 0.0;                ///< alpha / rank
  /// Diffusers' `scale` for the next calls; 0 turns the adapter off.
  double multiplier = 1.0;
  /// Whether the adapter takes part in the next calls; owners of several adapters on one model
  /// (VSD's particle model and BSD's personalised prior share a UNet) switch them per call.
  bool enabled = true;
};

/// y = x W^T + b, plus named low-rank adapters (peft's LoRA): y += s B(A(x)) for each enabled one.
class Linear : public torch::nn::Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  at::Tensor forward(const at::Tensor& x) const;

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

  /// Adds the rank-`rank` adapter `name` with scaling alpha / rank, registered as
  /// `lora_A.<name>` (Kaiming-uniform from `generator`) and `lora_B.<name>` (zeros): peft's
  /// default initialisation and module names, so an untrained adapter changes nothing. It is
  /// created on this layer's device in float32. A name used twice is an sds::Error.
  LoraAdapter& add_lora(const std::string& name, int64_t rank, double alpha,
                        at::Generator generator);
  /// The adapter `name`; an unknown name is an sds::Error.
  LoraAdapter& lora(const std::string& name);
  bool has_lora(const std::string& name) const;
  const std::deque<LoraAdapter>& adapters() const { return adapters_; }
  std::deque<LoraAdapter>& adapters() { return adapters_; }

  at::Tensor weight;  ///< `[out, in]`
  at::Tensor bias;    ///< `[out]`, undefined without bias

 private:
  int64_t in_features_, out_features_;
  std::deque<LoraAdapter> adapters_;  // references to an adapter stay valid
  std::shared_ptr<torch::nn::Module> lora_A_, lora_B_;  // containers named as peft's ModuleDicts
};

/// A 2D convolution with square kernels, equal strides and zero padding.
class Conv2d : public torch::nn::Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1,
         int64_t padding = 0, bool bias = true);
  at::Tensor forward(const at::Tensor& x) const;

  at::Tensor weight;  ///< `[out, in, k, k]`
  at::Tensor bias;    ///< `[out]`

 private:
  int64_t stride_, padding_;
};

/// Group normalisation over channels (dim 1) with a per-channel affine map.
class GroupNorm : public torch::nn::Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps);
  at::Tensor forward(const at::Tensor& x) const;

  at::Tensor weight, bias;

 private:
  int64_t groups_;
  double eps_;
};

/// Layer normalisation over the last dimension.
class LayerNorm : public torch::nn::Module {
 public:
  LayerNorm(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;

  at::Tensor weight, bias;

 private:
  int64_t dim_;
  double eps_;
};

/// A lookup table: ids `[...]` (int64) to rows `[..., dim]`.
class Embedding : public torch::nn::Module {
 public:
  Embedding(int64_t num_embeddings, int64_t dim);
  at::Tensor forward(const at::Tensor& ids) const;

  at::Tensor weight;  ///< `[num_embeddings, dim]`
};

/// A container whose children are named 0, 1, 2, ... (PyTorch's ModuleList key names); the
/// owner keeps the typed pointers.
class ModuleList : public torch::nn::Module {
 public:
  template <class M>
  std::shared_ptr<M> append(std::shared_ptr<M> module) {
    return register_module(std::to_string(size_++), std::move(module));
  }
  int64_t size() const { return size_; }

 private:
  int64_t size_ = 0;
};

/// An activation by its diffusers/transformers name: "silu" ("swish"), "gelu" (exact erf),
/// "gelu_tanh", "quick_gelu" (x sigmoid(1.702 x)), "relu"; any other name is an sds::Error.
class Activation {
 public:
  explicit Activation(const std::string& name);
  at::Tensor operator()(const at::Tensor& x) const;
  const std::string& name() const { return name_; }

 private:
  enum class Kind { SiLU, GELU, GELUTanh, QuickGELU, ReLU };
  std::string name_;
  Kind kind_;
};

/// torch.nn.Linear's default initialisation from `generator`: weight and bias
/// U(-1/sqrt(in), 1/sqrt(in)).
void reset_linear(Linear& layer, at::Generator& generator);

/// Fills every floating parameter of `module` with N(0, std^2) (norm scales with 1 + N(0, std^2))
/// from a generator seeded with `seed`, in a fixed order: a stand-in for trained weights in
/// tests and benchmarks.
void randomize_parameters(torch::nn::Module& module, uint64_t seed, double std = 0.02);

}  // namespace sds::models
