#pragma once
// transformers' CLIPTextModel (the Stable Diffusion text encoder), with its parameter names.

#include "sds/core/json.h"
#include "sds/models/layers.h"

namespace sds::models {

/// The configuration of a CLIPTextModel (transformers' CLIPTextConfig; absent keys take its
/// defaults).
struct CLIPTextOptions {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  int64_t max_position_embeddings = 77;
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;

  /// From a config.json object; a config of another model type is an sds::Error.
  static CLIPTextOptions from_config(const Json& config);
};

/// One pre-norm encoder layer: h += out_proj(attention(layer_norm1 h)); h += fc2(act(fc1(
/// layer_norm2 h))), with causal self-attention.
class CLIPEncoderLayer : public torch::nn::Module {
 public:
  explicit CLIPEncoderLayer(const CLIPTextOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

  std::shared_ptr<LayerNorm> layer_norm1, layer_norm2;
  std::shared_ptr<Linear> q_proj, k_proj, v_proj, out_proj, fc1, fc2;

 private:
  int64_t heads_;
  Activation act_;
};

/// The CLIP text transformer: token + position embeddings, causal encoder layers, final layer
/// norm.
class CLIPTextModel : public torch::nn::Module {
 public:
  explicit CLIPTextModel(const CLIPTextOptions& options);

  /// ids `[B, L]` (int64, L <= max_position_embeddings) -> hidden states `[B, L, hidden_size]`
  /// after the final layer norm. `skip_layers` = k > 0 stops k layers early and then applies the
  /// final layer norm (diffusers' `clip_skip`).
  at::Tensor forward(const at::Tensor& ids, int64_t skip_layers = 0) const;
  const CLIPTextOptions& options() const { return options_; }

  std::shared_ptr<Embedding> token_embedding, position_embedding;
  std::vector<std::shared_ptr<CLIPEncoderLayer>> layers;
  std::shared_ptr<LayerNorm> final_layer_norm;

 private:
  CLIPTextOptions options_;
};

/// Loads `folder` (a transformers `text_encoder/` folder) into a CLIPTextModel on the CPU in
/// float32. Keys with the `text_model.` prefix (files saved by transformers 4) are accepted, and
/// the old `position_ids` buffer is ignored.
std::shared_ptr<CLIPTextModel> load_clip_text_model(const std::filesystem::path& folder,
                                                    const std::string& variant = "");

}  // namespace sds::models
