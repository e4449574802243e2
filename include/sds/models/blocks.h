#pragma once
// The building blocks that diffusers' UNet and VAE share, with diffusers' child names.

#include <optional>

#include "sds/models/layers.h"

namespace sds::models {

/// diffusers' ResnetBlock2D ("default" time-embedding norm):
/// out = (shortcut(x) + conv2(act(norm2(conv1(act(norm1(x))) + time_emb_proj(act(temb)))))) / s.
class ResnetBlock2D : public torch::nn::Module {
 public:
  /// `temb_channels` 0 = no time input (the VAE's blocks).
  ResnetBlock2D(int64_t in_channels, int64_t out_channels, int64_t temb_channels, int64_t groups,
                double eps, double output_scale_factor = 1.0, const std::string& act = "silu");
  /// x `[B, in, H, W]`, temb `[B, temb_channels]` (undefined when the block has no time input).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb = {}) const;

  std::shared_ptr<GroupNorm> norm1, norm2;
  std::shared_ptr<Conv2d> conv1, conv2, conv_shortcut;
  std::shared_ptr<Linear> time_emb_proj;

 private:
  Activation act_;
  double output_scale_factor_;
};

/// diffusers' Downsample2D with a convolution: 3x3, stride 2. With padding 0 (the VAE) the input
/// is first padded by one pixel on the right and bottom.
class Downsample2D : public torch::nn::Module {
 public:
  Downsample2D(int64_t channels, int64_t padding);
  at::Tensor forward(const at::Tensor& x) const;

  std::shared_ptr<Conv2d> conv;

 private:
  int64_t padding_;
};

/// diffusers' Upsample2D with a convolution: nearest-neighbour x2 (or to `output_size`), then
/// a 3x3 convolution.
class Upsample2D : public torch::nn::Module {
 public:
  explicit Upsample2D(int64_t channels);
  at::Tensor forward(const at::Tensor& x,
                     const std::optional<std::vector<int64_t>>& output_size = std::nullopt) const;

  std::shared_ptr<Conv2d> conv;
};

/// What `Attention` is built with (diffusers' Attention arguments).
struct AttentionOptions {
  int64_t query_dim = 0;
  int64_t cross_attention_dim = 0;  ///< width of the context; 0 = self-attention
  int64_t heads = 1;
  int64_t head_dim = 64;
  bool qkv_bias = false;
  int64_t norm_groups = 0;  ///< > 0: a GroupNorm `group_norm` on the input (the VAE)
  double norm_eps = 1e-5;
  bool residual_connection = false;
  double rescale_output_factor = 1.0;
};

/// Multi-head attention through at::scaled_dot_product_attention with scale 1/sqrt(head_dim),
/// as diffusers' default processor (which, like this one, accumulates in float32 inside the fused
/// kernels and so does not need `upcast_attention`). Children `to_q`, `to_k`, `to_v`,
/// `to_out.0` and optionally `group_norm`.
class Attention : public torch::nn::Module {
 public:
  explicit Attention(const AttentionOptions& options);
  /// hidden `[B, L, query_dim]` or `[B, C, H, W]` (attention over the H W positions);
  /// context `[B, S, cross_attention_dim]`, undefined for self-attention.
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& context = {}) const;

  std::shared_ptr<Linear> to_q, to_k, to_v, to_out_0;
  std::shared_ptr<GroupNorm> group_norm;
  std::shared_ptr<ModuleList> to_out;

 private:
  AttentionOptions options_;
};

/// Every Linear layer in `module` whose name ends in one of `targets` (e.g. "to_q", "to_out.0"),
/// by full name.
std::vector<std::pair<std::string, std::shared_ptr<Linear>>> find_linear_layers(
    torch::nn::Module& module, const std::vector<std::string>& targets);

}  // namespace sds::models
