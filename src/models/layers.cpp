#include "sds/models/layers.h"

#include <ATen/ops/conv2d.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/group_norm.h>
#include <ATen/ops/layer_norm.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/silu.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "sds/core/error.h"
#include "sds/core/rng.h"

namespace sds::models {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : in_features_(in_features), out_features_(out_features) {
  SDS_CHECK(in_features > 0 && out_features > 0, "Linear: sizes must be positive, got {} -> {}",
            in_features, out_features);
  weight = register_parameter("weight", at::zeros({out_features, in_features}));
  if (bias) this->bias = register_parameter("bias", at::zeros({out_features}));
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  at::Tensor y = at::linear(x, weight, bias);
  for (const LoraAdapter& adapter : adapters_) {
    if (!adapter.enabled || adapter.multiplier == 0.0) continue;
    // peft: the adapter runs in its own dtype and its sum is cast back to the layer's.
    const at::Tensor delta = adapter.B->forward(adapter.A->forward(x.to(adapter.A->weight.scalar_type())));
    y = y + (delta * (adapter.scaling * adapter.multiplier)).to(y.scalar_type());
  }
  return y;
}

LoraAdapter& Linear::add_lora(const std::string& name, int64_t rank, double alpha,
                              at::Generator generator) {
  SDS_CHECK(!name.empty() && name.find('.') == std::string::npos,
            "Linear::add_lora: expected an adapter name without dots, got \"{}\"", name);
  SDS_CHECK(!has_lora(name), "Linear::add_lora: the layer already has an adapter \"{}\"", name);
  SDS_CHECK(rank > 0 && rank <= std::min(in_features_, out_features_),
            "Linear::add_lora: rank must be in [1, {}] for a {} -> {} layer, got {}",
            std::min(in_features_, out_features_), in_features_, out_features_, rank);
  SDS_CHECK(std::isfinite(alpha) && alpha > 0, "Linear::add_lora: alpha must be positive, got {}",
            alpha);
  const auto options = weight.options().dtype(at::kFloat);
  auto a = std::make_shared<Linear>(in_features_, rank, false);
  auto b = std::make_shared<Linear>(rank, out_features_, false);
  {
    torch::NoGradGuard no_grad;
    a->weight.set_data(a->weight.data().to(options.device()));
    reset_linear(*a, generator);  // Kaiming-uniform with a = sqrt(5): bound 1 / sqrt(in)
    b->weight.set_data(at::zeros({out_features_, rank}, options));
  }
  if (!lora_A_) {
    lora_A_ = register_module("lora_A", std::make_shared<torch::nn::Module>("ModuleDict"));
    lora_B_ = register_module("lora_B", std::make_shared<torch::nn::Module>("ModuleDict"));
  }
  LoraAdapter adapter;
  adapter.name = name;
  adapter.A = lora_A_->register_module(name, std::move(a));
  adapter.B = lora_B_->register_module(name, std::move(b));
  adapter.scaling = alpha / static_cast<double>(rank);
  adapters_.push_back(std::move(adapter));
  return adapters_.back();
}

LoraAdapter& Linear::lora(const std::string& name) {
  for (auto& adapter : adapters_) {
    if (adapter.name == name) return adapter;
  }
  fail("Linear::lora: the layer has no adapter \"{}\"", name);
}

bool Linear::has_lora(const std::string& name) const {
  return std::any_of(adapters_.begin(), adapters_.end(),
                     [&](const LoraAdapter& a) { return a.name == name; });
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride,
               int64_t padding, bool bias)
    : stride_(stride), padding_(padding) {
  SDS_CHECK(in_channels > 0 && out_channels > 0 && kernel_size > 0 && stride > 0 && padding >= 0,
            "Conv2d: bad sizes (in {}, out {}, kernel {}, stride {}, padding {})", in_channels,
            out_channels, kernel_size, stride, padding);
  weight = register_parameter("weight",
                              at::zeros({out_channels, in_channels, kernel_size, kernel_size}));
  if (bias) this->bias = register_parameter("bias", at::zeros({out_channels}));
}

at::Tensor Conv2d::forward(const at::Tensor& x) const {
  return at::conv2d(x, weight, bias, stride_, padding_);
}

GroupNorm::GroupNorm(int64_t num_groups, int64_t num_channels, double eps)
    : groups_(num_groups), eps_(eps) {
  SDS_CHECK(num_groups > 0 && num_channels % num_groups == 0,
            "GroupNorm: {} channels do not split into {} groups", num_channels, num_groups);
  weight = register_parameter("weight", at::ones({num_channels}));
  bias = register_parameter("bias", at::zeros({num_channels}));
}

at::Tensor GroupNorm::forward(const at::Tensor& x) const {
  return at::group_norm(x, groups_, weight, bias, eps_);
}

LayerNorm::LayerNorm(int64_t dim, double eps) : dim_(dim), eps_(eps) {
  weight = register_parameter("weight", at::ones({dim}));
  bias = register_parameter("bias", at::zeros({dim}));
}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  return at::layer_norm(x, {dim_}, weight, bias, eps_);
}

Embedding::Embedding(int64_t num_embeddings, int64_t dim) {
  weight = register_parameter("weight", at::zeros({num_embeddings, dim}));
}

at::Tensor Embedding::forward(const at::Tensor& ids) const { return at::embedding(weight, ids); }

Activation::Activation(const std::string& name) : name_(name == "swish" ? "silu" : name) {
  static const std::pair<const char*, Kind> kKinds[] = {{"silu", Kind::SiLU},
                                                        {"gelu", Kind::GELU},
                                                        {"gelu_tanh", Kind::GELUTanh},
                                                        {"quick_gelu", Kind::QuickGELU},
                                                        {"relu", Kind::ReLU}};
  const auto it = std::find_if(std::begin(kKinds), std::end(kKinds),
                               [&](const auto& k) { return name_ == k.first; });
  SDS_CHECK(it != std::end(kKinds),
            "unsupported activation \"{}\" (supported: silu, swish, gelu, gelu_tanh, quick_gelu, "
            "relu)",
            name);
  kind_ = it->second;
}

at::Tensor Activation::operator()(const at::Tensor& x) const {
  switch (kind_) {
    case Kind::SiLU: return at::silu(x);
    case Kind::GELU: return at::gelu(x);
    case Kind::GELUTanh: return at::gelu(x, "tanh");
    case Kind::QuickGELU: return x * at::sigmoid(1.702 * x);
    case Kind::ReLU: return at::relu(x);
  }
  return x;  // unreachable: every kind is handled
}

void reset_linear(Linear& layer, at::Generator& generator) {
  torch::NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(static_cast<double>(layer.in_features()));
  const auto host = layer.weight.options().device(at::kCPU).dtype(at::kFloat);
  layer.weight.copy_(at::empty(layer.weight.sizes(), host).uniform_(-bound, bound, generator));
  if (layer.bias.defined()) {
    layer.bias.copy_(at::empty(layer.bias.sizes(), host).uniform_(-bound, bound, generator));
  }
}

void randomize_parameters(torch::nn::Module& module, uint64_t seed, double std) {
  at::Generator gen = make_generator(seed, at::kCPU);
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) {
    at::Tensor& p = item.value();
    if (!p.is_floating_point()) continue;
    const std::string& key = item.key();
    const bool norm_scale = key.size() >= 6 && key.compare(key.size() - 6, 6, "weight") == 0 &&
                            p.dim() == 1;
    at::Tensor values = at::empty(p.sizes(), at::kFloat).normal_(0.0, std, gen);
    if (norm_scale) values += 1.0;
    p.copy_(values);
  }
}

}  // namespace sds::models
