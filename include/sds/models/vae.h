#pragma once
// diffusers' AutoencoderKL (the Stable Diffusion VAE), with its parameter names.

#include "sds/core/json.h"
#include "sds/models/blocks.h"

namespace sds::models {

/// The configuration of an AutoencoderKL, as diffusers reads config.json.
struct AutoencoderKLOptions {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  std::vector<int64_t> block_out_channels = {64};
  int64_t layers_per_block = 1;
  std::string act_fn = "silu";
  int64_t latent_channels = 4;
  int64_t norm_num_groups = 32;
  double scaling_factor = 0.18215;  ///< the UNet sees latents times this factor
  double shift_factor = 0;  ///< subtracted before scaling (0 for SD 1/2)
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;
  bool force_upcast = true;  ///< read and kept: diffusers' SD 1/2 pipelines do not act on it

  /// From a config.json object (after `read_model_config`); unsupported block types and
  /// options are an sds::Error that names them.
  static AutoencoderKLOptions from_config(const Json& config);
};

/// The VAE's diagonal Gaussian posterior q(z | x).
struct DiagonalGaussian {
  at::Tensor mean;    ///< `[B, latent_channels, h, w]`
  at::Tensor logvar;  ///< clamped to [-30, 20] as diffusers does
  /// mean + exp(logvar / 2) * N(0, 1), drawn with `generator` on the tensors' device.
  at::Tensor sample(at::Generator& generator) const;
};

/// diffusers' UNetMidBlock2D without time input: resnet, attention (one head over the
/// channels, GroupNorm in front, residual), resnet.
class VaeMidBlock : public torch::nn::Module {
 public:
  VaeMidBlock(int64_t channels, int64_t groups, const std::string& act, bool attention);
  at::Tensor forward(at::Tensor x) const;

  std::vector<std::shared_ptr<ResnetBlock2D>> resnets;
  std::shared_ptr<Attention> attention;
};

/// diffusers' VAE Encoder: conv_in, DownEncoderBlock2Ds, mid block, norm, conv_out to
/// 2 x latent channels (mean and log-variance).
class VaeEncoder : public torch::nn::Module {
 public:
  explicit VaeEncoder(const AutoencoderKLOptions& options);
  at::Tensor forward(const at::Tensor& x) const;

  std::shared_ptr<Conv2d> conv_in, conv_out;
  std::vector<std::vector<std::shared_ptr<ResnetBlock2D>>> down_resnets;
  std::vector<std::shared_ptr<Downsample2D>> downsamplers;  ///< null for the last block
  std::shared_ptr<VaeMidBlock> mid_block;
  std::shared_ptr<GroupNorm> conv_norm_out;

 private:
  Activation act_;
};

/// diffusers' VAE Decoder: conv_in, mid block, UpDecoderBlock2Ds, norm, conv_out.
class VaeDecoder : public torch::nn::Module {
 public:
  explicit VaeDecoder(const AutoencoderKLOptions& options);
  at::Tensor forward(const at::Tensor& z) const;

  std::shared_ptr<Conv2d> conv_in, conv_out;
  std::shared_ptr<VaeMidBlock> mid_block;
  std::vector<std::vector<std::shared_ptr<ResnetBlock2D>>> up_resnets;
  std::vector<std::shared_ptr<Upsample2D>> upsamplers;  ///< null for the last block
  std::shared_ptr<GroupNorm> conv_norm_out;

 private:
  Activation act_;
};

/// The KL autoencoder: images in [-1, 1] to latents (the UNet's input is the latent times
/// `scaling_factor`) and back.
class AutoencoderKL : public torch::nn::Module {
 public:
  explicit AutoencoderKL(const AutoencoderKLOptions& options);

  /// x `[B, in_channels, H, W]` in [-1, 1] -> the posterior over unscaled latents
  /// `[B, latent_channels, H / f, W / f]` (f = 2^(blocks - 1)).
  DiagonalGaussian encode(const at::Tensor& x) const;
  /// Unscaled latents `[B, latent_channels, h, w]` -> images `[B, out_channels, h f, w f]`.
  at::Tensor decode(const at::Tensor& z) const;
  const AutoencoderKLOptions& options() const { return options_; }
  /// The spatial factor between images and latents.
  int64_t downscale_factor() const;

  std::shared_ptr<VaeEncoder> encoder;
  std::shared_ptr<VaeDecoder> decoder;
  std::shared_ptr<Conv2d> quant_conv, post_quant_conv;

 private:
  AutoencoderKLOptions options_;
};

/// Loads `folder` (a diffusers `vae/` folder) into an AutoencoderKL on the CPU in float32,
/// renaming the old attention keys (`query`, `key`, `value`, `proj_attn`, stored as 1x1
/// convolutions or linear weights) as diffusers does.
std::shared_ptr<AutoencoderKL> load_vae(const std::filesystem::path& folder,
                                        const std::string& variant = "");

}  // namespace sds::models
