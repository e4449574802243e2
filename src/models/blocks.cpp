#include "sds/models/blocks.h"

#include <ATen/ops/constant_pad_nd.h>
#include <ATen/ops/scaled_dot_product_attention.h>
#include <ATen/ops/upsample_nearest2d.h>

#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds::models {

ResnetBlock2D::ResnetBlock2D(int64_t in_channels, int64_t out_channels, int64_t temb_channels,
                             int64_t groups, double eps, double output_scale_factor,
                             const std::string& act)
    : act_(act), output_scale_factor_(output_scale_factor) {
  norm1 = register_module("norm1", std::make_shared<GroupNorm>(groups, in_channels, eps));
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_channels, out_channels, 3, 1, 1));
  if (temb_channels > 0) {
    time_emb_proj =
        register_module("time_emb_proj", std::make_shared<Linear>(temb_channels, out_channels));
  }
  norm2 = register_module("norm2", std::make_shared<GroupNorm>(groups, out_channels, eps));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(out_channels, out_channels, 3, 1, 1));
  if (in_channels != out_channels) {
    conv_shortcut =
        register_module("conv_shortcut", std::make_shared<Conv2d>(in_channels, out_channels, 1));
  }
}

at::Tensor ResnetBlock2D::forward(const at::Tensor& x, const at::Tensor& temb) const {
  at::Tensor h = conv1->forward(act_(norm1->forward(x)));
  if (time_emb_proj) {
    SDS_CHECK(temb.defined(), "ResnetBlock2D: the block takes a time embedding and none came");
    h = h + time_emb_proj->forward(act_(temb)).unsqueeze(-1).unsqueeze(-1);
  }
  h = conv2->forward(act_(norm2->forward(h)));
  const at::Tensor shortcut = conv_shortcut ? conv_shortcut->forward(x) : x;
  at::Tensor out = shortcut + h;
  return output_scale_factor_ == 1.0 ? out : out / output_scale_factor_;
}

Downsample2D::Downsample2D(int64_t channels, int64_t padding) : padding_(padding) {
  conv = register_module("conv", std::make_shared<Conv2d>(channels, channels, 3, 2, padding));
}

at::Tensor Downsample2D::forward(const at::Tensor& x) const {
  if (padding_ == 0) return conv->forward(at::constant_pad_nd(x, {0, 1, 0, 1}, 0.0));
  return conv->forward(x);
}

Upsample2D::Upsample2D(int64_t channels) {
  conv = register_module("conv", std::make_shared<Conv2d>(channels, channels, 3, 1, 1));
}

at::Tensor Upsample2D::forward(const at::Tensor& x,
                               const std::optional<std::vector<int64_t>>& output_size) const {
  const std::vector<int64_t> size =
      output_size ? *output_size : std::vector<int64_t>{x.size(2) * 2, x.size(3) * 2};
  return conv->forward(at::upsample_nearest2d(x, size));
}

Attention::Attention(const AttentionOptions& options) : options_(options) {
  SDS_CHECK(options.query_dim > 0 && options.heads > 0 && options.head_dim > 0,
            "Attention: query_dim {}, heads {} and head_dim {} must be positive", options.query_dim,
            options.heads, options.head_dim);
  const int64_t inner = options.heads * options.head_dim;
  const int64_t context = options.cross_attention_dim > 0 ? options.cross_attention_dim
                                                          : options.query_dim;
  if (options.norm_groups > 0) {
    group_norm = register_module(
        "group_norm",
        std::make_shared<GroupNorm>(options.norm_groups, options.query_dim, options.norm_eps));
  }
  to_q = register_module("to_q", std::make_shared<Linear>(options.query_dim, inner, options.qkv_bias));
  to_k = register_module("to_k", std::make_shared<Linear>(context, inner, options.qkv_bias));
  to_v = register_module("to_v", std::make_shared<Linear>(context, inner, options.qkv_bias));
  to_out = register_module("to_out", std::make_shared<ModuleList>());
  to_out_0 = to_out->append(std::make_shared<Linear>(inner, options.query_dim));
}

at::Tensor Attention::forward(const at::Tensor& hidden, const at::Tensor& context) const {
  const bool spatial = hidden.dim() == 4;
  SDS_CHECK(spatial || hidden.dim() == 3,
            "Attention: hidden states must be [B, L, C] or [B, C, H, W], got {}", shape_string(hidden.sizes()));
  at::Tensor x = spatial ? hidden.flatten(2).transpose(1, 2) : hidden;
  if (group_norm) x = group_norm->forward(x.transpose(1, 2)).transpose(1, 2);
  const at::Tensor& source = context.defined() ? context : x;
  const int64_t batch = x.size(0);
  auto split_heads = [&](const at::Tensor& t) {
    return t.view({batch, -1, options_.heads, options_.head_dim}).transpose(1, 2);
  };
  const at::Tensor q = split_heads(to_q->forward(x));
  const at::Tensor k = split_heads(to_k->forward(source));
  const at::Tensor v = split_heads(to_v->forward(source));
  at::Tensor out = at::scaled_dot_product_attention(q, k, v);
  out = out.transpose(1, 2).reshape({batch, -1, options_.heads * options_.head_dim});
  out = to_out_0->forward(out);
  if (spatial) out = out.transpose(-1, -2).reshape(hidden.sizes());
  if (options_.residual_connection) out = out + hidden;
  return options_.rescale_output_factor == 1.0 ? out : out / options_.rescale_output_factor;
}

std::vector<std::pair<std::string, std::shared_ptr<Linear>>> find_linear_layers(
    torch::nn::Module& module, const std::vector<std::string>& targets) {
  std::vector<std::pair<std::string, std::shared_ptr<Linear>>> found;
  for (const auto& item : module.named_modules()) {
    auto linear = std::dynamic_pointer_cast<Linear>(item.value());
    if (!linear) continue;
    const std::string& name = item.key();
    for (const std::string& target : targets) {
      const bool match = name == target ||
                         (name.size() > target.size() &&
                          name.compare(name.size() - target.size(), target.size(), target) == 0 &&
                          name[name.size() - target.size() - 1] == '.');
      if (match) {
        found.emplace_back(name, linear);
        break;
      }
    }
  }
  return found;
}

}  // namespace sds::models
