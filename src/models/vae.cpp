#include "sds/models/vae.h"

#include <ATen/ops/clamp.h>

#include "sds/core/checks.h"
#include "sds/core/error.h"
#include "sds/core/rng.h"
#include "sds/models/diffusers_folder.h"

namespace sds::models {

namespace {
constexpr double kVaeEps = 1e-6;
}

AutoencoderKLOptions AutoencoderKLOptions::from_config(const Json& config) {
  ConfigReader r(config, "vae config");
  AutoencoderKLOptions o;
  (void)r.raw("sample_size");  // only the tile size of tiled decoding
  o.in_channels = r.get("in_channels", o.in_channels);
  o.out_channels = r.get("out_channels", o.out_channels);
  o.block_out_channels = r.get("block_out_channels", o.block_out_channels);
  const size_t n = o.block_out_channels.size();
  const auto down = r.get("down_block_types", std::vector<std::string>{"DownEncoderBlock2D"});
  const auto up = r.get("up_block_types", std::vector<std::string>{"UpDecoderBlock2D"});
  SDS_CHECK(n > 0 && down.size() == n && up.size() == n,
            "vae config: block_out_channels ({}), down_block_types ({}) and up_block_types ({}) "
            "must have the same non-zero length",
            n, down.size(), up.size());
  for (const auto& type : down) {
    SDS_CHECK(type == "DownEncoderBlock2D",
              "vae config: down block type \"{}\" is not supported (supported: DownEncoderBlock2D)",
              type);
  }
  for (const auto& type : up) {
    SDS_CHECK(type == "UpDecoderBlock2D",
              "vae config: up block type \"{}\" is not supported (supported: UpDecoderBlock2D)",
              type);
  }
  o.layers_per_block = r.get("layers_per_block", o.layers_per_block);
  o.act_fn = r.get("act_fn", o.act_fn);
  (void)Activation(o.act_fn);
  o.latent_channels = r.get("latent_channels", o.latent_channels);
  o.norm_num_groups = r.get("norm_num_groups", o.norm_num_groups);
  o.scaling_factor = r.get("scaling_factor", o.scaling_factor);
  const Json& shift = r.raw("shift_factor");
  if (!shift.is_null()) o.shift_factor = shift.get<double>();
  expect_config_value(r, "latents_mean", nullptr);
  expect_config_value(r, "latents_std", nullptr);
  o.force_upcast = r.get("force_upcast", o.force_upcast);
  o.use_quant_conv = r.get("use_quant_conv", o.use_quant_conv);
  o.use_post_quant_conv = r.get("use_post_quant_conv", o.use_post_quant_conv);
  o.mid_block_add_attention = r.get("mid_block_add_attention", o.mid_block_add_attention);
  r.finish();
  SDS_CHECK(o.layers_per_block > 0 && o.latent_channels > 0 && o.scaling_factor > 0,
            "vae config: layers_per_block ({}), latent_channels ({}) and scaling_factor ({}) must "
            "be positive",
            o.layers_per_block, o.latent_channels, o.scaling_factor);
  for (size_t i = 0; i < n; ++i) {
    SDS_CHECK(o.block_out_channels[i] > 0 && o.block_out_channels[i] % o.norm_num_groups == 0,
              "vae config: block_out_channels[{}] = {} is not a multiple of norm_num_groups {}", i,
              o.block_out_channels[i], o.norm_num_groups);
  }
  return o;
}

at::Tensor DiagonalGaussian::sample(at::Generator& generator) const {
  return mean + (0.5 * logvar).exp() * draw_normal(mean.sizes(), generator, mean);
}

VaeMidBlock::VaeMidBlock(int64_t channels, int64_t groups, const std::string& act, bool attn) {
  auto resnet_list = register_module("resnets", std::make_shared<ModuleList>());
  auto resnet = [&] {
    return std::make_shared<ResnetBlock2D>(channels, channels, 0, groups, kVaeEps, 1.0, act);
  };
  resnets.push_back(resnet_list->append(resnet()));
  if (attn) {
    auto attention_list = register_module("attentions", std::make_shared<ModuleList>());
    attention = attention_list->append(std::make_shared<Attention>(
        AttentionOptions{.query_dim = channels,
                         .heads = 1,
                         .head_dim = channels,
                         .qkv_bias = true,
                         .norm_groups = groups,
                         .norm_eps = kVaeEps,
                         .residual_connection = true}));
  }
  resnets.push_back(resnet_list->append(resnet()));
}

at::Tensor VaeMidBlock::forward(at::Tensor x) const {
  x = resnets[0]->forward(x);
  if (attention) x = attention->forward(x);
  return resnets[1]->forward(x);
}

VaeEncoder::VaeEncoder(const AutoencoderKLOptions& o) : act_(o.act_fn) {
  const auto& channels = o.block_out_channels;
  conv_in = register_module("conv_in", std::make_shared<Conv2d>(o.in_channels, channels[0], 3, 1, 1));
  auto blocks = register_module("down_blocks", std::make_shared<ModuleList>());
  int64_t in = channels[0];
  for (size_t i = 0; i < channels.size(); ++i) {
    auto block = blocks->append(std::make_shared<torch::nn::Module>());
    auto resnets = block->register_module("resnets", std::make_shared<ModuleList>());
    down_resnets.emplace_back();
    for (int64_t j = 0; j < o.layers_per_block; ++j) {
      down_resnets.back().push_back(resnets->append(std::make_shared<ResnetBlock2D>(
          j == 0 ? in : channels[i], channels[i], 0, o.norm_num_groups, kVaeEps, 1.0, o.act_fn)));
    }
    std::shared_ptr<Downsample2D> down;
    if (i + 1 < channels.size()) {
      auto list = block->register_module("downsamplers", std::make_shared<ModuleList>());
      down = list->append(std::make_shared<Downsample2D>(channels[i], 0));
    }
    downsamplers.push_back(down);
    in = channels[i];
  }
  mid_block = register_module("mid_block",
                              std::make_shared<VaeMidBlock>(channels.back(), o.norm_num_groups,
                                                            o.act_fn, o.mid_block_add_attention));
  conv_norm_out = register_module(
      "conv_norm_out", std::make_shared<GroupNorm>(o.norm_num_groups, channels.back(), kVaeEps));
  conv_out = register_module(
      "conv_out", std::make_shared<Conv2d>(channels.back(), 2 * o.latent_channels, 3, 1, 1));
}

at::Tensor VaeEncoder::forward(const at::Tensor& input) const {
  at::Tensor x = conv_in->forward(input);
  for (size_t i = 0; i < down_resnets.size(); ++i) {
    for (const auto& resnet : down_resnets[i]) x = resnet->forward(x);
    if (downsamplers[i]) x = downsamplers[i]->forward(x);
  }
  x = mid_block->forward(x);
  return conv_out->forward(act_(conv_norm_out->forward(x)));
}

VaeDecoder::VaeDecoder(const AutoencoderKLOptions& o) : act_(o.act_fn) {
  std::vector<int64_t> channels(o.block_out_channels.rbegin(), o.block_out_channels.rend());
  conv_in = register_module("conv_in",
                            std::make_shared<Conv2d>(o.latent_channels, channels[0], 3, 1, 1));
  mid_block = register_module("mid_block",
                              std::make_shared<VaeMidBlock>(channels[0], o.norm_num_groups,
                                                            o.act_fn, o.mid_block_add_attention));
  auto blocks = register_module("up_blocks", std::make_shared<ModuleList>());
  int64_t in = channels[0];
  for (size_t i = 0; i < channels.size(); ++i) {
    auto block = blocks->append(std::make_shared<torch::nn::Module>());
    auto resnets = block->register_module("resnets", std::make_shared<ModuleList>());
    up_resnets.emplace_back();
    for (int64_t j = 0; j < o.layers_per_block + 1; ++j) {
      up_resnets.back().push_back(resnets->append(std::make_shared<ResnetBlock2D>(
          j == 0 ? in : channels[i], channels[i], 0, o.norm_num_groups, kVaeEps, 1.0, o.act_fn)));
    }
    std::shared_ptr<Upsample2D> up;
    if (i + 1 < channels.size()) {
      auto list = block->register_module("upsamplers", std::make_shared<ModuleList>());
      up = list->append(std::make_shared<Upsample2D>(channels[i]));
    }
    upsamplers.push_back(up);
    in = channels[i];
  }
  conv_norm_out = register_module(
      "conv_norm_out", std::make_shared<GroupNorm>(o.norm_num_groups, channels.back(), kVaeEps));
  conv_out =
      register_module("conv_out", std::make_shared<Conv2d>(channels.back(), o.out_channels, 3, 1, 1));
}

at::Tensor VaeDecoder::forward(const at::Tensor& z) const {
  at::Tensor x = mid_block->forward(conv_in->forward(z));
  for (size_t i = 0; i < up_resnets.size(); ++i) {
    for (const auto& resnet : up_resnets[i]) x = resnet->forward(x);
    if (upsamplers[i]) x = upsamplers[i]->forward(x);
  }
  return conv_out->forward(act_(conv_norm_out->forward(x)));
}

AutoencoderKL::AutoencoderKL(const AutoencoderKLOptions& options) : options_(options) {
  encoder = register_module("encoder", std::make_shared<VaeEncoder>(options));
  decoder = register_module("decoder", std::make_shared<VaeDecoder>(options));
  const int64_t c = options.latent_channels;
  if (options.use_quant_conv) {
    quant_conv = register_module("quant_conv", std::make_shared<Conv2d>(2 * c, 2 * c, 1));
  }
  if (options.use_post_quant_conv) {
    post_quant_conv = register_module("post_quant_conv", std::make_shared<Conv2d>(c, c, 1));
  }
}

int64_t AutoencoderKL::downscale_factor() const {
  return int64_t{1} << (static_cast<int64_t>(options_.block_out_channels.size()) - 1);
}

DiagonalGaussian AutoencoderKL::encode(const at::Tensor& x) const {
  SDS_CHECK(x.defined() && x.dim() == 4 && x.size(1) == options_.in_channels,
            "AutoencoderKL::encode: images must be [B, {}, H, W], got {}", options_.in_channels,
            x.defined() ? shape_string(x.sizes()) : "undefined");
  at::Tensor moments = encoder->forward(x);
  if (quant_conv) moments = quant_conv->forward(moments);
  const auto halves = moments.chunk(2, 1);
  return {halves[0], at::clamp(halves[1], -30.0, 20.0)};
}

at::Tensor AutoencoderKL::decode(const at::Tensor& z) const {
  SDS_CHECK(z.defined() && z.dim() == 4 && z.size(1) == options_.latent_channels,
            "AutoencoderKL::decode: latents must be [B, {}, h, w], got {}",
            options_.latent_channels, z.defined() ? shape_string(z.sizes()) : "undefined");
  return decoder->forward(post_quant_conv ? post_quant_conv->forward(z) : z);
}

std::shared_ptr<AutoencoderKL> load_vae(const std::filesystem::path& folder,
                                        const std::string& variant) {
  const auto options = AutoencoderKLOptions::from_config(read_model_config(folder / "config.json"));
  auto vae = std::make_shared<AutoencoderKL>(options);
  WeightMap weights = read_weights(folder, "diffusion_pytorch_model", variant);
  // Checkpoints saved before diffusers' attention refactor name the mid-block attention
  // query/key/value/proj_attn, as 1x1 convolutions in the oldest files.
  const std::pair<const char*, const char*> renames[] = {
      {"query", "to_q"}, {"key", "to_k"}, {"value", "to_v"}, {"proj_attn", "to_out.0"}};
  for (const char* part : {"encoder", "decoder"}) {
    const std::string prefix = std::string(part) + ".mid_block.attentions.0.";
    for (const auto& [old_name, new_name] : renames) {
      for (const char* leaf : {"weight", "bias"}) {
        const std::string from = prefix + old_name + "." + leaf;
        if (!weights.contains(from)) continue;
        const std::string to = prefix + new_name + "." + leaf;
        weights.rename(from, to);
        at::Tensor& w = weights.tensors.at(to);
        if (w.dim() > 2) w = w.flatten(1);
      }
    }
  }
  load_weights(*vae, weights, "vae (" + folder.string() + ")");
  return vae;
}

}  // namespace sds::models
