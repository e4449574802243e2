#pragma once
// diffusers' UNet2DConditionModel for the Stable Diffusion 1.x / 2.x family, with its parameter
// names: a checkpoint's keys are this module tree's names.

#include <optional>

#include "sds/core/json.h"
#include "sds/models/blocks.h"

namespace sds::models {

/// The configuration of a UNet2DConditionModel, as diffusers reads config.json (absent keys take
/// diffusers' defaults). Per-block values are expanded to one per down block.
struct UNet2DConditionOptions {
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  bool center_input_sample = false;
  bool flip_sin_to_cos = true;
  double freq_shift = 0;
  std::vector<std::string> down_block_types = {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                               "CrossAttnDownBlock2D", "DownBlock2D"};
  std::vector<std::string> up_block_types = {"UpBlock2D", "CrossAttnUpBlock2D",
                                             "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"};
  std::vector<int64_t> block_out_channels = {320, 640, 1280, 1280};
  std::vector<int64_t> layers_per_block = {2, 2, 2, 2};
  int64_t downsample_padding = 1;
  double mid_block_scale_factor = 1;
  std::string act_fn = "silu";
  int64_t norm_num_groups = 32;
  double norm_eps = 1e-5;
  std::vector<int64_t> cross_attention_dim = {1280, 1280, 1280, 1280};
  std::vector<int64_t> transformer_layers_per_block = {1, 1, 1, 1};
  /// Heads per down block. diffusers' config calls this `attention_head_dim` (its issue #2011):
  /// head_dim = channels / heads.
  std::vector<int64_t> attention_heads = {8, 8, 8, 8};
  bool use_linear_projection = false;
  /// Read and kept; the attention kernel accumulates in float32 either way (see `Attention`).
  bool upcast_attention = false;
  /// "" (none), "projection", "timestep", "identity" or "simple_projection".
  std::string class_embed_type;
  int64_t num_class_embeds = 0;  ///< > 0 with no type: an embedding table of class ids
  int64_t projection_class_embeddings_input_dim = 0;
  int64_t conv_in_kernel = 3;
  int64_t conv_out_kernel = 3;

  /// From a config.json object (after `read_model_config`). Unsupported block types and options
  /// (SDXL's added embeddings, dual cross-attention, ...) are an sds::Error that names them.
  static UNet2DConditionOptions from_config(const Json& config);
  /// The time embedding width (4 x the first block's channels).
  int64_t time_embed_dim() const { return block_out_channels.front() * 4; }
};

/// The sinusoidal timestep features of diffusers' `get_timestep_embedding`, in float32:
/// [sin, cos] of t * exp(-ln(10000) k / (dim / 2 - freq_shift)), halves swapped by
/// `flip_sin_to_cos`. t `[B]` (any numeric dtype) -> `[B, dim]`.
at::Tensor timestep_features(const at::Tensor& t, int64_t dim, bool flip_sin_to_cos,
                             double freq_shift);

/// linear_1 -> activation -> linear_2 (diffusers' TimestepEmbedding).
class TimestepEmbedding : public torch::nn::Module {
 public:
  TimestepEmbedding(int64_t in_channels, int64_t embed_dim, const std::string& act = "silu");
  at::Tensor forward(const at::Tensor& x) const;

  std::shared_ptr<Linear> linear_1, linear_2;

 private:
  Activation act_;
};

/// One self-attention + cross-attention + GEGLU feed-forward block (diffusers'
/// BasicTransformerBlock with layer norms): children norm1, attn1, norm2, attn2, norm3, ff.
class BasicTransformerBlock : public torch::nn::Module {
 public:
  BasicTransformerBlock(int64_t dim, int64_t heads, int64_t head_dim, int64_t cross_attention_dim);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context) const;

  std::shared_ptr<LayerNorm> norm1, norm2, norm3;
  std::shared_ptr<Attention> attn1, attn2;
  std::shared_ptr<Linear> ff_proj, ff_out;  ///< `ff.net.0.proj` (to 2 x 4 dim), `ff.net.2`
};

/// diffusers' Transformer2DModel on continuous input: GroupNorm (eps 1e-6), `proj_in` (1x1
/// convolution, or a linear layer with `use_linear_projection`), transformer blocks,
/// `proj_out`, plus the input.
class Transformer2DModel : public torch::nn::Module {
 public:
  Transformer2DModel(int64_t channels, int64_t heads, int64_t cross_attention_dim, int64_t layers,
                     int64_t groups, bool use_linear_projection);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context) const;

  std::shared_ptr<GroupNorm> norm;
  std::shared_ptr<torch::nn::Module> proj_in, proj_out;  ///< Conv2d or Linear
  std::vector<std::shared_ptr<BasicTransformerBlock>> blocks;

 private:
  bool linear_;
  int64_t inner_;
};

/// A down block (CrossAttnDownBlock2D, or DownBlock2D without attentions): resnets [+
/// attentions] and an optional downsampler. `forward` appends each stage's output to `skips`.
class UNetDownBlock : public torch::nn::Module {
 public:
  UNetDownBlock(const UNet2DConditionOptions& options, size_t index, int64_t in_channels);
  at::Tensor forward(at::Tensor x, const at::Tensor& temb, const at::Tensor& context,
                     std::vector<at::Tensor>& skips) const;

  std::vector<std::shared_ptr<ResnetBlock2D>> resnets;
  std::vector<std::shared_ptr<Transformer2DModel>> attentions;
  std::shared_ptr<Downsample2D> downsampler;
};

/// An up block (CrossAttnUpBlock2D or UpBlock2D): each resnet takes [h, the newest skip].
class UNetUpBlock : public torch::nn::Module {
 public:
  UNetUpBlock(const UNet2DConditionOptions& options, size_t index, int64_t prev_output_channels);
  at::Tensor forward(at::Tensor x, const at::Tensor& temb, const at::Tensor& context,
                     std::vector<at::Tensor>& skips,
                     const std::optional<std::vector<int64_t>>& upsample_size) const;
  int64_t num_resnets() const { return static_cast<int64_t>(resnets.size()); }

  std::vector<std::shared_ptr<ResnetBlock2D>> resnets;
  std::vector<std::shared_ptr<Transformer2DModel>> attentions;
  std::shared_ptr<Upsample2D> upsampler;
};

/// UNetMidBlock2DCrossAttn: resnet, then (attention, resnet) per layer.
class UNetMidBlock : public torch::nn::Module {
 public:
  explicit UNetMidBlock(const UNet2DConditionOptions& options);
  at::Tensor forward(at::Tensor x, const at::Tensor& temb, const at::Tensor& context) const;

  std::vector<std::shared_ptr<ResnetBlock2D>> resnets;
  std::vector<std::shared_ptr<Transformer2DModel>> attentions;
};

/// The conditional UNet: eps (or v) = unet(x_t, t, text embeddings[, class labels]).
class UNet2DConditionModel : public torch::nn::Module {
 public:
  explicit UNet2DConditionModel(const UNet2DConditionOptions& options);

  /// sample `[B, in_channels, h, w]`; timesteps `[B]` or a 0-dim tensor (any numeric dtype, on
  /// any device); encoder_hidden_states `[B, S, cross_attention_dim]`; class_labels required
  /// exactly when the model has a class embedding (`[B, input_dim]` for "projection", `[B]` for
  /// "timestep" and ids). `added_embedding` `[B, time_embed_dim]`, when defined, is added to the
  /// time embedding as a class embedding's output would be (a condition computed outside, such
  /// as VSD's camera embedding). Returns `[B, out_channels, h, w]`.
  at::Tensor forward(const at::Tensor& sample, const at::Tensor& timesteps,
                     const at::Tensor& encoder_hidden_states, const at::Tensor& class_labels = {},
                     const at::Tensor& added_embedding = {}) const;

  /// Adds a "projection" class embedding (TimestepEmbedding from `input_dim` to the time
  /// embedding width, default nn.Linear-style init from `generator`) whose output is added to
  /// the time embedding: the hook for ProlificDreamer's camera condition. An existing class
  /// embedding is an sds::Error.
  void add_class_embedding(int64_t input_dim, at::Generator generator);
  bool has_class_embedding() const { return class_embedding_module_ != nullptr; }

  const UNet2DConditionOptions& options() const { return options_; }

  std::shared_ptr<Conv2d> conv_in, conv_out;
  std::shared_ptr<TimestepEmbedding> time_embedding;
  std::vector<std::shared_ptr<UNetDownBlock>> down_blocks;
  std::shared_ptr<UNetMidBlock> mid_block;
  std::vector<std::shared_ptr<UNetUpBlock>> up_blocks;
  std::shared_ptr<GroupNorm> conv_norm_out;

 private:
  at::Tensor class_embedding(const at::Tensor& labels, at::ScalarType dtype) const;

  UNet2DConditionOptions options_;
  Activation act_;
  std::shared_ptr<torch::nn::Module> class_embedding_module_;
};

/// Loads `folder` (a diffusers `unet/` folder: config.json and safetensors weights, `variant`
/// "" or "fp16") into a UNet on the CPU in float32.
std::shared_ptr<UNet2DConditionModel> load_unet(const std::filesystem::path& folder,
                                                const std::string& variant = "");

}  // namespace sds::models
