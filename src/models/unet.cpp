#include "sds/models/unet.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/constant_pad_nd.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <cmath>

#include "sds/core/checks.h"
#include "sds/core/error.h"
#include "sds/models/diffusers_folder.h"

namespace sds::models {

namespace {

const std::vector<std::string> kDownBlocks = {"CrossAttnDownBlock2D", "DownBlock2D"};
const std::vector<std::string> kUpBlocks = {"CrossAttnUpBlock2D", "UpBlock2D"};

bool all_false(const Json& value) {
  if (value.is_null()) return true;
  if (value.is_boolean()) return !value.get<bool>();
  return value.is_array() &&
         std::all_of(value.begin(), value.end(), [](const Json& v) { return v == false; });
}

}  // namespace

UNet2DConditionOptions UNet2DConditionOptions::from_config(const Json& config) {
  ConfigReader r(config, "unet config");
  UNet2DConditionOptions o;
  (void)r.raw("sample_size");  // a default image size, not a constraint
  (void)r.raw("addition_embed_type_num_heads");  // used only with addition embeddings
  o.in_channels = r.get("in_channels", o.in_channels);
  o.out_channels = r.get("out_channels", o.out_channels);
  o.center_input_sample = r.get("center_input_sample", o.center_input_sample);
  o.flip_sin_to_cos = r.get("flip_sin_to_cos", o.flip_sin_to_cos);
  o.freq_shift = r.get("freq_shift", o.freq_shift);
  o.down_block_types = r.get("down_block_types", o.down_block_types);
  o.up_block_types = r.get("up_block_types", o.up_block_types);
  o.block_out_channels = r.get("block_out_channels", o.block_out_channels);
  const size_t n = o.block_out_channels.size();
  SDS_CHECK(n > 0 && o.down_block_types.size() == n && o.up_block_types.size() == n,
            "unet config: block_out_channels ({}), down_block_types ({}) and up_block_types ({}) "
            "must have the same non-zero length",
            n, o.down_block_types.size(), o.up_block_types.size());
  for (const auto& type : o.down_block_types) {
    SDS_CHECK(std::find(kDownBlocks.begin(), kDownBlocks.end(), type) != kDownBlocks.end(),
              "unet config: down block type \"{}\" is not supported (supported: "
              "CrossAttnDownBlock2D, DownBlock2D)",
              type);
  }
  for (const auto& type : o.up_block_types) {
    SDS_CHECK(std::find(kUpBlocks.begin(), kUpBlocks.end(), type) != kUpBlocks.end(),
              "unet config: up block type \"{}\" is not supported (supported: CrossAttnUpBlock2D, "
              "UpBlock2D)",
              type);
  }
  const Json& mid = r.raw("mid_block_type");
  SDS_CHECK(mid.is_null() || mid == "UNetMidBlock2DCrossAttn",
            "unet config: mid_block_type {} is not supported (supported: UNetMidBlock2DCrossAttn)",
            mid.dump());
  SDS_CHECK(all_false(r.raw("only_cross_attention")),
            "unet config: only_cross_attention = {} is not supported",
            r.raw("only_cross_attention").dump());
  o.layers_per_block = per_block(r, "layers_per_block", {2}, n);
  o.downsample_padding = r.get("downsample_padding", o.downsample_padding);
  o.mid_block_scale_factor = r.get("mid_block_scale_factor", o.mid_block_scale_factor);
  expect_config_value(r, "dropout", 0.0);
  o.act_fn = r.get("act_fn", o.act_fn);
  (void)Activation(o.act_fn);
  const Json& groups = r.raw("norm_num_groups");
  SDS_CHECK(!groups.is_null() || !config.contains("norm_num_groups"),
            "unet config: norm_num_groups = null (no output norm) is not supported");
  if (groups.is_number_integer()) o.norm_num_groups = groups.get<int64_t>();
  o.norm_eps = r.get("norm_eps", o.norm_eps);
  o.cross_attention_dim = per_block(r, "cross_attention_dim", {1280}, n);
  const Json& layers = r.raw("transformer_layers_per_block");
  SDS_CHECK(!(layers.is_array() && !layers.empty() && layers[0].is_array()),
            "unet config: nested transformer_layers_per_block (SDXL-style) is not supported");
  o.transformer_layers_per_block = per_block(r, "transformer_layers_per_block", {1}, n);
  expect_config_value(r, "reverse_transformer_layers_per_block", nullptr);
  expect_config_value(r, "encoder_hid_dim", nullptr);
  expect_config_value(r, "encoder_hid_dim_type", nullptr);
  SDS_CHECK(r.raw("num_attention_heads").is_null(),
            "unet config: num_attention_heads must be null; diffusers reads the head count from "
            "attention_head_dim (its issue #2011)");
  o.attention_heads = per_block(r, "attention_head_dim", {8}, n);
  expect_config_value(r, "dual_cross_attention", false);
  o.use_linear_projection = r.get("use_linear_projection", o.use_linear_projection);
  const Json& class_type = r.raw("class_embed_type");
  if (!class_type.is_null()) {
    SDS_CHECK(class_type.is_string(), "unet config: class_embed_type must be a string or null");
    o.class_embed_type = class_type.get<std::string>();
    SDS_CHECK(o.class_embed_type == "projection" || o.class_embed_type == "timestep" ||
                  o.class_embed_type == "identity" || o.class_embed_type == "simple_projection",
              "unet config: class_embed_type \"{}\" is not supported (supported: projection, "
              "timestep, identity, simple_projection)",
              o.class_embed_type);
  }
  expect_config_value(r, "addition_embed_type", nullptr);
  expect_config_value(r, "addition_time_embed_dim", nullptr);
  const Json& num_classes = r.raw("num_class_embeds");
  if (!num_classes.is_null()) o.num_class_embeds = num_classes.get<int64_t>();
  o.upcast_attention = r.get("upcast_attention", o.upcast_attention);
  expect_config_value(r, "resnet_time_scale_shift", "default");
  expect_config_value(r, "resnet_skip_time_act", false);
  expect_config_value(r, "resnet_out_scale_factor", 1.0);
  expect_config_value(r, "time_embedding_type", "positional");
  expect_config_value(r, "time_embedding_dim", nullptr);
  expect_config_value(r, "time_embedding_act_fn", nullptr);
  expect_config_value(r, "timestep_post_act", nullptr);
  expect_config_value(r, "time_cond_proj_dim", nullptr);
  o.conv_in_kernel = r.get("conv_in_kernel", o.conv_in_kernel);
  o.conv_out_kernel = r.get("conv_out_kernel", o.conv_out_kernel);
  const Json& projection_dim = r.raw("projection_class_embeddings_input_dim");
  if (!projection_dim.is_null()) {
    o.projection_class_embeddings_input_dim = projection_dim.get<int64_t>();
  }
  expect_config_value(r, "attention_type", "default");
  expect_config_value(r, "class_embeddings_concat", false);
  expect_config_value(r, "mid_block_only_cross_attention", false);
  expect_config_value(r, "cross_attention_norm", nullptr);
  r.finish();

  SDS_CHECK(o.conv_in_kernel % 2 == 1 && o.conv_out_kernel % 2 == 1,
            "unet config: conv_in_kernel ({}) and conv_out_kernel ({}) must be odd",
            o.conv_in_kernel, o.conv_out_kernel);
  for (size_t i = 0; i < n; ++i) {
    const int64_t c = o.block_out_channels[i];
    SDS_CHECK(c > 0 && c % o.norm_num_groups == 0,
              "unet config: block_out_channels[{}] = {} is not a multiple of norm_num_groups {}", i,
              c, o.norm_num_groups);
    SDS_CHECK(o.attention_heads[i] > 0 && c % o.attention_heads[i] == 0,
              "unet config: block {} has {} channels, which {} heads (attention_head_dim) do not "
              "divide",
              i, c, o.attention_heads[i]);
    SDS_CHECK(o.layers_per_block[i] > 0 && o.transformer_layers_per_block[i] > 0 &&
                  o.cross_attention_dim[i] > 0,
              "unet config: block {} needs positive layers_per_block, transformer_layers_per_block "
              "and cross_attention_dim",
              i);
  }
  if (o.class_embed_type == "projection" || o.class_embed_type == "simple_projection") {
    SDS_CHECK(o.projection_class_embeddings_input_dim > 0,
              "unet config: class_embed_type \"{}\" needs projection_class_embeddings_input_dim",
              o.class_embed_type);
  }
  return o;
}

at::Tensor timestep_features(const at::Tensor& t, int64_t dim, bool flip_sin_to_cos,
                             double freq_shift) {
  SDS_CHECK(t.dim() == 1, "timestep_features: timesteps must be [B], got {}", shape_string(t.sizes()));
  const int64_t half = dim / 2;
  // diffusers' order of float32 operations: multiply, divide, exp.
  at::Tensor exponent = at::arange(0, half, t.options().dtype(at::kFloat)) * (-std::log(10000.0));
  exponent = exponent / (static_cast<double>(half) - freq_shift);
  const at::Tensor angles = t.to(at::kFloat).unsqueeze(1) * exponent.exp().unsqueeze(0);
  at::Tensor emb = flip_sin_to_cos ? at::cat({angles.cos(), angles.sin()}, -1)
                                   : at::cat({angles.sin(), angles.cos()}, -1);
  if (dim % 2 == 1) emb = at::constant_pad_nd(emb, {0, 1}, 0.0);
  return emb;
}

TimestepEmbedding::TimestepEmbedding(int64_t in_channels, int64_t embed_dim, const std::string& act)
    : act_(act) {
  linear_1 = register_module("linear_1", std::make_shared<Linear>(in_channels, embed_dim));
  linear_2 = register_module("linear_2", std::make_shared<Linear>(embed_dim, embed_dim));
}

at::Tensor TimestepEmbedding::forward(const at::Tensor& x) const {
  return linear_2->forward(act_(linear_1->forward(x)));
}

BasicTransformerBlock::BasicTransformerBlock(int64_t dim, int64_t heads, int64_t head_dim,
                                             int64_t cross_attention_dim) {
  AttentionOptions self{.query_dim = dim, .heads = heads, .head_dim = head_dim};
  AttentionOptions cross = self;
  cross.cross_attention_dim = cross_attention_dim;
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(dim, 1e-5));
  attn1 = register_module("attn1", std::make_shared<Attention>(self));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(dim, 1e-5));
  attn2 = register_module("attn2", std::make_shared<Attention>(cross));
  norm3 = register_module("norm3", std::make_shared<LayerNorm>(dim, 1e-5));
  // ff.net = [GEGLU (proj), Dropout, Linear]: only 0 and 2 hold weights.
  auto ff = register_module("ff", std::make_shared<torch::nn::Module>());
  auto net = ff->register_module("net", std::make_shared<torch::nn::Module>());
  auto geglu = net->register_module("0", std::make_shared<torch::nn::Module>());
  ff_proj = geglu->register_module("proj", std::make_shared<Linear>(dim, 8 * dim));
  ff_out = net->register_module("2", std::make_shared<Linear>(4 * dim, dim));
}

at::Tensor BasicTransformerBlock::forward(const at::Tensor& x, const at::Tensor& context) const {
  at::Tensor h = x + attn1->forward(norm1->forward(x));
  h = h + attn2->forward(norm2->forward(h), context);
  // GEGLU: the first half is the value, the second the gate (exact GELU).
  const auto halves = ff_proj->forward(norm3->forward(h)).chunk(2, -1);
  return h + ff_out->forward(halves[0] * at::gelu(halves[1]));
}

Transformer2DModel::Transformer2DModel(int64_t channels, int64_t heads, int64_t cross_attention_dim,
                                       int64_t layers, int64_t groups, bool use_linear_projection)
    : linear_(use_linear_projection), inner_(channels) {
  norm = register_module("norm", std::make_shared<GroupNorm>(groups, channels, 1e-6));
  if (linear_) {
    proj_in = register_module("proj_in", std::make_shared<Linear>(channels, channels));
  } else {
    proj_in = register_module("proj_in", std::make_shared<Conv2d>(channels, channels, 1));
  }
  auto list = register_module("transformer_blocks", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < layers; ++i) {
    blocks.push_back(list->append(
        std::make_shared<BasicTransformerBlock>(channels, heads, channels / heads,
                                                cross_attention_dim)));
  }
  if (linear_) {
    proj_out = register_module("proj_out", std::make_shared<Linear>(channels, channels));
  } else {
    proj_out = register_module("proj_out", std::make_shared<Conv2d>(channels, channels, 1));
  }
}

at::Tensor Transformer2DModel::forward(const at::Tensor& x, const at::Tensor& context) const {
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  at::Tensor hidden = norm->forward(x);
  auto tokens = [&](const at::Tensor& t) { return t.permute({0, 2, 3, 1}).reshape({b, h * w, -1}); };
  auto image = [&](const at::Tensor& t) {
    return t.reshape({b, h, w, -1}).permute({0, 3, 1, 2}).contiguous();
  };
  if (linear_) {
    hidden = static_cast<const Linear&>(*proj_in).forward(tokens(hidden));
  } else {
    hidden = tokens(static_cast<const Conv2d&>(*proj_in).forward(hidden));
  }
  for (const auto& block : blocks) hidden = block->forward(hidden, context);
  if (linear_) {
    hidden = image(static_cast<const Linear&>(*proj_out).forward(hidden));
  } else {
    hidden = static_cast<const Conv2d&>(*proj_out).forward(image(hidden));
  }
  return hidden + x;
}

UNetDownBlock::UNetDownBlock(const UNet2DConditionOptions& o, size_t i, int64_t in_channels) {
  const int64_t out = o.block_out_channels[i];
  const bool cross = o.down_block_types[i] == "CrossAttnDownBlock2D";
  auto resnet_list = register_module("resnets", std::make_shared<ModuleList>());
  std::shared_ptr<ModuleList> attention_list;
  if (cross) attention_list = register_module("attentions", std::make_shared<ModuleList>());
  for (int64_t j = 0; j < o.layers_per_block[i]; ++j) {
    resnets.push_back(resnet_list->append(std::make_shared<ResnetBlock2D>(
        j == 0 ? in_channels : out, out, o.time_embed_dim(), o.norm_num_groups, o.norm_eps, 1.0,
        o.act_fn)));
    if (cross) {
      attentions.push_back(attention_list->append(std::make_shared<Transformer2DModel>(
          out, o.attention_heads[i], o.cross_attention_dim[i], o.transformer_layers_per_block[i],
          o.norm_num_groups, o.use_linear_projection)));
    }
  }
  if (i + 1 < o.block_out_channels.size()) {
    auto list = register_module("downsamplers", std::make_shared<ModuleList>());
    downsampler = list->append(std::make_shared<Downsample2D>(out, o.downsample_padding));
  }
}

at::Tensor UNetDownBlock::forward(at::Tensor x, const at::Tensor& temb, const at::Tensor& context,
                                  std::vector<at::Tensor>& skips) const {
  for (size_t j = 0; j < resnets.size(); ++j) {
    x = resnets[j]->forward(x, temb);
    if (!attentions.empty()) x = attentions[j]->forward(x, context);
    skips.push_back(x);
  }
  if (downsampler) {
    x = downsampler->forward(x);
    skips.push_back(x);
  }
  return x;
}

UNetUpBlock::UNetUpBlock(const UNet2DConditionOptions& o, size_t i, int64_t prev_output_channels) {
  // Up block i mirrors down block r; its skips come from down block r - 1 (r = 0: the input conv).
  const size_t r = o.block_out_channels.size() - 1 - i;
  const int64_t out = o.block_out_channels[r];
  const int64_t in = o.block_out_channels[r > 0 ? r - 1 : 0];
  const int64_t layers = o.layers_per_block[r] + 1;
  const bool cross = o.up_block_types[i] == "CrossAttnUpBlock2D";
  auto resnet_list = register_module("resnets", std::make_shared<ModuleList>());
  std::shared_ptr<ModuleList> attention_list;
  if (cross) attention_list = register_module("attentions", std::make_shared<ModuleList>());
  for (int64_t j = 0; j < layers; ++j) {
    const int64_t skip = j == layers - 1 ? in : out;
    const int64_t resnet_in = j == 0 ? prev_output_channels : out;
    resnets.push_back(resnet_list->append(std::make_shared<ResnetBlock2D>(
        resnet_in + skip, out, o.time_embed_dim(), o.norm_num_groups, o.norm_eps, 1.0, o.act_fn)));
    if (cross) {
      attentions.push_back(attention_list->append(std::make_shared<Transformer2DModel>(
          out, o.attention_heads[r], o.cross_attention_dim[r], o.transformer_layers_per_block[r],
          o.norm_num_groups, o.use_linear_projection)));
    }
  }
  if (r > 0) {
    auto list = register_module("upsamplers", std::make_shared<ModuleList>());
    upsampler = list->append(std::make_shared<Upsample2D>(out));
  }
}

at::Tensor UNetUpBlock::forward(at::Tensor x, const at::Tensor& temb, const at::Tensor& context,
                                std::vector<at::Tensor>& skips,
                                const std::optional<std::vector<int64_t>>& upsample_size) const {
  for (size_t j = 0; j < resnets.size(); ++j) {
    // The newest skip first, concatenated after h.
    x = at::cat({x, skips.back()}, 1);
    skips.pop_back();
    x = resnets[j]->forward(x, temb);
    if (!attentions.empty()) x = attentions[j]->forward(x, context);
  }
  if (upsampler) x = upsampler->forward(x, upsample_size);
  return x;
}

UNetMidBlock::UNetMidBlock(const UNet2DConditionOptions& o) {
  const int64_t c = o.block_out_channels.back();
  auto resnet_list = register_module("resnets", std::make_shared<ModuleList>());
  auto attention_list = register_module("attentions", std::make_shared<ModuleList>());
  auto resnet = [&] {
    return std::make_shared<ResnetBlock2D>(c, c, o.time_embed_dim(), o.norm_num_groups, o.norm_eps,
                                           o.mid_block_scale_factor, o.act_fn);
  };
  resnets.push_back(resnet_list->append(resnet()));
  attentions.push_back(attention_list->append(std::make_shared<Transformer2DModel>(
      c, o.attention_heads.back(), o.cross_attention_dim.back(),
      o.transformer_layers_per_block.back(), o.norm_num_groups, o.use_linear_projection)));
  resnets.push_back(resnet_list->append(resnet()));
}

at::Tensor UNetMidBlock::forward(at::Tensor x, const at::Tensor& temb,
                                 const at::Tensor& context) const {
  x = resnets[0]->forward(x, temb);
  for (size_t j = 0; j < attentions.size(); ++j) {
    x = attentions[j]->forward(x, context);
    x = resnets[j + 1]->forward(x, temb);
  }
  return x;
}

UNet2DConditionModel::UNet2DConditionModel(const UNet2DConditionOptions& options)
    : options_(options), act_(options.act_fn) {
  const auto& o = options_;
  const size_t n = o.block_out_channels.size();
  conv_in = register_module(
      "conv_in", std::make_shared<Conv2d>(o.in_channels, o.block_out_channels[0], o.conv_in_kernel,
                                          1, (o.conv_in_kernel - 1) / 2));
  time_embedding = register_module(
      "time_embedding",
      std::make_shared<TimestepEmbedding>(o.block_out_channels[0], o.time_embed_dim(), o.act_fn));
  const int64_t ted = o.time_embed_dim();
  if (o.class_embed_type == "projection") {
    class_embedding_module_ = register_module(
        "class_embedding",
        std::make_shared<TimestepEmbedding>(o.projection_class_embeddings_input_dim, ted));
  } else if (o.class_embed_type == "timestep") {
    class_embedding_module_ = register_module(
        "class_embedding", std::make_shared<TimestepEmbedding>(o.block_out_channels[0], ted));
  } else if (o.class_embed_type == "simple_projection") {
    class_embedding_module_ = register_module(
        "class_embedding", std::make_shared<Linear>(o.projection_class_embeddings_input_dim, ted));
  } else if (o.class_embed_type.empty() && o.num_class_embeds > 0) {
    class_embedding_module_ =
        register_module("class_embedding", std::make_shared<Embedding>(o.num_class_embeds, ted));
  }
  auto down_list = register_module("down_blocks", std::make_shared<ModuleList>());
  int64_t channels = o.block_out_channels[0];
  for (size_t i = 0; i < n; ++i) {
    down_blocks.push_back(down_list->append(std::make_shared<UNetDownBlock>(o, i, channels)));
    channels = o.block_out_channels[i];
  }
  mid_block = register_module("mid_block", std::make_shared<UNetMidBlock>(o));
  auto up_list = register_module("up_blocks", std::make_shared<ModuleList>());
  channels = o.block_out_channels.back();
  for (size_t i = 0; i < n; ++i) {
    up_blocks.push_back(up_list->append(std::make_shared<UNetUpBlock>(o, i, channels)));
    channels = o.block_out_channels[n - 1 - i];
  }
  conv_norm_out = register_module(
      "conv_norm_out",
      std::make_shared<GroupNorm>(o.norm_num_groups, o.block_out_channels[0], o.norm_eps));
  conv_out = register_module(
      "conv_out", std::make_shared<Conv2d>(o.block_out_channels[0], o.out_channels,
                                           o.conv_out_kernel, 1, (o.conv_out_kernel - 1) / 2));
}

void UNet2DConditionModel::add_class_embedding(int64_t input_dim, at::Generator generator) {
  SDS_CHECK(!class_embedding_module_, "UNet2DConditionModel::add_class_embedding: the model "
            "already has a class embedding ({})",
            options_.class_embed_type.empty() ? "num_class_embeds" : options_.class_embed_type);
  SDS_CHECK(input_dim > 0, "add_class_embedding: input_dim must be positive, got {}", input_dim);
  auto embedding = std::make_shared<TimestepEmbedding>(input_dim, options_.time_embed_dim());
  reset_linear(*embedding->linear_1, generator);
  reset_linear(*embedding->linear_2, generator);
  embedding->to(conv_in->weight.device(), conv_in->weight.scalar_type());
  options_.class_embed_type = "projection";
  options_.projection_class_embeddings_input_dim = input_dim;
  class_embedding_module_ = register_module("class_embedding", std::move(embedding));
}

at::Tensor UNet2DConditionModel::class_embedding(const at::Tensor& labels,
                                                 at::ScalarType dtype) const {
  const std::string& type = options_.class_embed_type;
  const int64_t ted = options_.time_embed_dim();
  at::Tensor emb;
  if (type == "projection" || type == "simple_projection") {
    const int64_t dim = options_.projection_class_embeddings_input_dim;
    SDS_CHECK(labels.dim() == 2 && labels.size(1) == dim,
              "UNet2DConditionModel: class_labels must be [B, {}], got {}", dim, shape_string(labels.sizes()));
    const at::Tensor x = labels.to(conv_in->weight.scalar_type());
    emb = type == "projection"
              ? static_cast<const TimestepEmbedding&>(*class_embedding_module_).forward(x)
              : static_cast<const Linear&>(*class_embedding_module_).forward(x);
  } else if (type == "timestep") {
    SDS_CHECK(labels.dim() == 1, "UNet2DConditionModel: class_labels must be [B], got {}",
              shape_string(labels.sizes()));
    const at::Tensor features = timestep_features(labels, options_.block_out_channels[0],
                                                  options_.flip_sin_to_cos, options_.freq_shift);
    emb = static_cast<const TimestepEmbedding&>(*class_embedding_module_)
              .forward(features.to(dtype));
  } else if (type == "identity") {
    SDS_CHECK(labels.dim() == 2 && labels.size(1) == ted,
              "UNet2DConditionModel: class_labels must be [B, {}], got {}", ted, shape_string(labels.sizes()));
    emb = labels;
  } else {
    SDS_CHECK(labels.dim() == 1 && !labels.is_floating_point(),
              "UNet2DConditionModel: class_labels must be integer ids [B], got {} {}",
              c10::toString(labels.scalar_type()), shape_string(labels.sizes()));
    emb = static_cast<const Embedding&>(*class_embedding_module_).forward(labels.to(at::kLong));
  }
  return emb.to(dtype);
}

at::Tensor UNet2DConditionModel::forward(const at::Tensor& sample, const at::Tensor& timesteps,
                                         const at::Tensor& encoder_hidden_states,
                                         const at::Tensor& class_labels,
                                         const at::Tensor& added_embedding) const {
  const auto& o = options_;
  SDS_CHECK(sample.defined() && sample.dim() == 4 && sample.size(1) == o.in_channels,
            "UNet2DConditionModel: sample must be [B, {}, h, w], got {}", o.in_channels,
            sample.defined() ? shape_string(sample.sizes()) : "undefined");
  const int64_t b = sample.size(0);
  SDS_CHECK(encoder_hidden_states.defined() && encoder_hidden_states.dim() == 3 &&
                encoder_hidden_states.size(0) == b &&
                std::all_of(o.cross_attention_dim.begin(), o.cross_attention_dim.end(),
                            [&](int64_t d) { return d == encoder_hidden_states.size(2); }),
            "UNet2DConditionModel: encoder_hidden_states must be [{}, S, {}], got {}", b,
            o.cross_attention_dim.front(),
            encoder_hidden_states.defined() ? shape_string(encoder_hidden_states.sizes()) : "undefined");
  SDS_CHECK(timesteps.defined() && (timesteps.dim() == 0 ||
                                    (timesteps.dim() == 1 && timesteps.size(0) == b)),
            "UNet2DConditionModel: timesteps must be a scalar or [{}], got {}", b,
            timesteps.defined() ? shape_string(timesteps.sizes()) : "undefined");
  SDS_CHECK(class_labels.defined() == has_class_embedding(),
            "UNet2DConditionModel: {}", has_class_embedding()
                ? "the model has a class embedding, so class_labels are required"
                : "class_labels were given but the model has no class embedding");
  const at::Tensor t = timesteps.to(sample.device()).reshape({-1}).expand({b});

  at::Tensor x = o.center_input_sample ? 2.0 * sample - 1.0 : sample;
  const at::Tensor features =
      timestep_features(t, o.block_out_channels[0], o.flip_sin_to_cos, o.freq_shift);
  at::Tensor emb = time_embedding->forward(features.to(sample.scalar_type()));
  if (class_labels.defined()) {
    emb = emb + class_embedding(class_labels.to(sample.device()), sample.scalar_type());
  }
  if (added_embedding.defined()) {
    SDS_CHECK(added_embedding.dim() == 2 && added_embedding.size(0) == b &&
                  added_embedding.size(1) == o.time_embed_dim(),
              "UNet2DConditionModel: added_embedding must be [{}, {}], got {}", b,
              o.time_embed_dim(), shape_string(added_embedding.sizes()));
    emb = emb + added_embedding.to(emb.scalar_type());
  }

  // Sizes that do not halve evenly through every downsampler are upsampled to the skip's size.
  const int64_t factor = int64_t{1} << (static_cast<int64_t>(up_blocks.size()) - 1);
  const bool explicit_sizes = sample.size(2) % factor != 0 || sample.size(3) % factor != 0;

  x = conv_in->forward(x);
  std::vector<at::Tensor> skips = {x};
  for (const auto& block : down_blocks) x = block->forward(x, emb, encoder_hidden_states, skips);
  x = mid_block->forward(x, emb, encoder_hidden_states);
  for (size_t i = 0; i < up_blocks.size(); ++i) {
    const auto& block = up_blocks[i];
    std::optional<std::vector<int64_t>> size;
    if (explicit_sizes && block->upsampler) {
      const at::Tensor& next = skips[skips.size() - block->num_resnets() - 1];
      size = std::vector<int64_t>{next.size(2), next.size(3)};
    }
    x = block->forward(x, emb, encoder_hidden_states, skips, size);
  }
  return conv_out->forward(act_(conv_norm_out->forward(x)));
}

std::shared_ptr<UNet2DConditionModel> load_unet(const std::filesystem::path& folder,
                                                const std::string& variant) {
  const auto options = UNet2DConditionOptions::from_config(read_model_config(folder / "config.json"));
  auto unet = std::make_shared<UNet2DConditionModel>(options);
  const WeightMap weights = read_weights(folder, "diffusion_pytorch_model", variant);
  load_weights(*unet, weights, "unet (" + folder.string() + ")");
  return unet;
}

}  // namespace sds::models
