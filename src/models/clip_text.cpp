#include "sds/models/clip_text.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/scaled_dot_product_attention.h>

#include "sds/core/checks.h"
#include "sds/core/error.h"
#include "sds/models/diffusers_folder.h"

namespace sds::models {

CLIPTextOptions CLIPTextOptions::from_config(const Json& config) {
  ConfigReader r(config, "text_encoder config");
  CLIPTextOptions o;
  const std::string type = r.get<std::string>("model_type", "clip_text_model");
  SDS_CHECK(type == "clip_text_model",
            "text_encoder config: model_type \"{}\" is not supported (supported: clip_text_model)",
            type);
  const auto architectures = r.get("architectures", std::vector<std::string>{"CLIPTextModel"});
  for (const auto& a : architectures) {
    SDS_CHECK(a == "CLIPTextModel",
              "text_encoder config: architecture \"{}\" is not supported (supported: "
              "CLIPTextModel; CLIPTextModelWithProjection is SDXL's second encoder)",
              a);
  }
  o.vocab_size = r.get("vocab_size", o.vocab_size);
  o.hidden_size = r.get("hidden_size", o.hidden_size);
  o.intermediate_size = r.get("intermediate_size", o.intermediate_size);
  o.num_hidden_layers = r.get("num_hidden_layers", o.num_hidden_layers);
  o.num_attention_heads = r.get("num_attention_heads", o.num_attention_heads);
  o.max_position_embeddings = r.get("max_position_embeddings", o.max_position_embeddings);
  o.hidden_act = r.get("hidden_act", o.hidden_act);
  (void)Activation(o.hidden_act);
  o.layer_norm_eps = r.get("layer_norm_eps", o.layer_norm_eps);
  // Training-time and tokenizer-side settings that do not change the forward pass.
  for (const char* key : {"attention_dropout", "dropout", "initializer_factor", "initializer_range",
                          "projection_dim", "bos_token_id", "eos_token_id", "pad_token_id",
                          "torch_dtype", "dtype", "transformers_version", "output_attentions",
                          "output_hidden_states", "use_cache", "tie_word_embeddings",
                          "is_decoder", "return_dict"}) {
    (void)r.raw(key);
  }
  // No finish(): transformers configs carry generic keys of its own (label maps, generation
  // settings) that do not shape the text model.
  SDS_CHECK(o.hidden_size > 0 && o.num_attention_heads > 0 &&
                o.hidden_size % o.num_attention_heads == 0,
            "text_encoder config: hidden_size {} is not a multiple of num_attention_heads {}",
            o.hidden_size, o.num_attention_heads);
  SDS_CHECK(o.num_hidden_layers > 0 && o.vocab_size > 0 && o.max_position_embeddings > 0 &&
                o.intermediate_size > 0,
            "text_encoder config: layer count, vocabulary, positions and MLP width must be "
            "positive");
  return o;
}

CLIPEncoderLayer::CLIPEncoderLayer(const CLIPTextOptions& o)
    : heads_(o.num_attention_heads), act_(o.hidden_act) {
  const int64_t d = o.hidden_size;
  layer_norm1 = register_module("layer_norm1", std::make_shared<LayerNorm>(d, o.layer_norm_eps));
  auto attn = register_module("self_attn", std::make_shared<torch::nn::Module>());
  k_proj = attn->register_module("k_proj", std::make_shared<Linear>(d, d));
  v_proj = attn->register_module("v_proj", std::make_shared<Linear>(d, d));
  q_proj = attn->register_module("q_proj", std::make_shared<Linear>(d, d));
  out_proj = attn->register_module("out_proj", std::make_shared<Linear>(d, d));
  layer_norm2 = register_module("layer_norm2", std::make_shared<LayerNorm>(d, o.layer_norm_eps));
  auto mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
  fc1 = mlp->register_module("fc1", std::make_shared<Linear>(d, o.intermediate_size));
  fc2 = mlp->register_module("fc2", std::make_shared<Linear>(o.intermediate_size, d));
}

at::Tensor CLIPEncoderLayer::forward(const at::Tensor& x) const {
  const int64_t b = x.size(0), l = x.size(1), d = x.size(2);
  const at::Tensor h = layer_norm1->forward(x);
  auto split = [&](const at::Tensor& t) { return t.view({b, l, heads_, d / heads_}).transpose(1, 2); };
  at::Tensor attended = at::scaled_dot_product_attention(
      split(q_proj->forward(h)), split(k_proj->forward(h)), split(v_proj->forward(h)), {}, 0.0,
      /*is_causal=*/true);
  const at::Tensor y = x + out_proj->forward(attended.transpose(1, 2).reshape({b, l, d}));
  return y + fc2->forward(act_(fc1->forward(layer_norm2->forward(y))));
}

CLIPTextModel::CLIPTextModel(const CLIPTextOptions& options) : options_(options) {
  auto embeddings = register_module("embeddings", std::make_shared<torch::nn::Module>());
  token_embedding = embeddings->register_module(
      "token_embedding", std::make_shared<Embedding>(options.vocab_size, options.hidden_size));
  position_embedding = embeddings->register_module(
      "position_embedding",
      std::make_shared<Embedding>(options.max_position_embeddings, options.hidden_size));
  auto encoder = register_module("encoder", std::make_shared<torch::nn::Module>());
  auto list = encoder->register_module("layers", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < options.num_hidden_layers; ++i) {
    layers.push_back(list->append(std::make_shared<CLIPEncoderLayer>(options)));
  }
  final_layer_norm = register_module(
      "final_layer_norm", std::make_shared<LayerNorm>(options.hidden_size, options.layer_norm_eps));
}

at::Tensor CLIPTextModel::forward(const at::Tensor& ids, int64_t skip_layers) const {
  SDS_CHECK(ids.defined() && ids.dim() == 2 && !ids.is_floating_point() &&
                ids.size(1) <= options_.max_position_embeddings && ids.size(1) > 0,
            "CLIPTextModel: ids must be integer [B, L] with 0 < L <= {}, got {} {}",
            options_.max_position_embeddings,
            ids.defined() ? c10::toString(ids.scalar_type()) : "undefined",
            ids.defined() ? shape_string(ids.sizes()) : "undefined");
  SDS_CHECK(skip_layers >= 0 && skip_layers < options_.num_hidden_layers,
            "CLIPTextModel: skip_layers must be in [0, {}), got {}", options_.num_hidden_layers,
            skip_layers);
  const at::Tensor positions =
      at::arange(ids.size(1), ids.options().dtype(at::kLong)).unsqueeze(0);
  at::Tensor x = token_embedding->forward(ids.to(at::kLong)) + position_embedding->forward(positions);
  const size_t used = layers.size() - static_cast<size_t>(skip_layers);
  for (size_t i = 0; i < used; ++i) x = layers[i]->forward(x);
  return final_layer_norm->forward(x);
}

std::shared_ptr<CLIPTextModel> load_clip_text_model(const std::filesystem::path& folder,
                                                    const std::string& variant) {
  const auto options = CLIPTextOptions::from_config(read_model_config(folder / "config.json"));
  auto model = std::make_shared<CLIPTextModel>(options);
  WeightMap weights = read_weights(folder, "model", variant);
  const std::string prefix = "text_model.";
  std::vector<std::string> prefixed;
  for (const auto& [key, tensor] : weights.tensors) {
    if (key.rfind(prefix, 0) == 0) prefixed.push_back(key);
  }
  for (const std::string& key : prefixed) weights.rename(key, key.substr(prefix.size()));
  weights.erase("embeddings.position_ids");
  load_weights(*model, weights, "text_encoder (" + folder.string() + ")");
  return model;
}

}  // namespace sds::models
