#pragma once
// A Stable Diffusion 1.x / 2.x prior from a local diffusers folder, on the native model ports of
// sds/models: latent encode/decode through the VAE (differentiable), epsilon from the UNet with
// cached text embeddings (epsilon- or v-prediction models).

#include <memory>
#include <string>
#include <vector>

#include "sds/core/json.h"
#include "sds/diffusion/prior.h"

namespace sds {

namespace models {
class Linear;
class AutoencoderKL;
class CLIPTextModel;
class CLIPTokenizer;
class UNet2DConditionModel;
}  // namespace models

/// JSON keys are the field names.
struct StableDiffusionOptions {
  /// A diffusers folder: model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/.
  std::string path;
  std::string variant;  ///< "" (plain weights) or "fp16" (`*.fp16.safetensors`)
  /// The UNet's and text encoder's dtype: "auto" (float16 on CUDA, float32 on the CPU),
  /// "float32", "float16" (CUDA only) or "bfloat16".
  std::string dtype = "auto";
  /// The VAE's dtype, "auto" = `dtype`. float32 avoids the float16 VAE's overflow to NaN that
  /// diffusers reports for large inputs.
  std::string vae_dtype = "auto";
  /// Renders are resized (bilinear) to resolution x resolution before the VAE encoder
  /// (threestudio: 512). A multiple of the VAE's downscale factor.
  int64_t resolution = 512;
  /// Renders are latents (`[B, latent_channels, H, W]`, in [0, 1] as rgb is): they are resized
  /// to resolution / f and mapped to [-1, 1] instead of being encoded (threestudio's
  /// rgb_as_latents).
  bool rgb_as_latents = false;
  /// Text-encoder layers skipped before the final layer norm (diffusers' clip_skip).
  int64_t clip_skip = 0;
  /// "epsilon" or "v_prediction"; "" = scheduler_config.json's prediction_type.
  std::string prediction_type;
};

/// The Stable Diffusion prior. Its modules are frozen: no parameter requires grad, and the UNet
/// and text encoder run without building a graph.
class StableDiffusionPrior : public Prior {
 public:
  StableDiffusionPrior(StableDiffusionOptions options, at::Device device = at::kCPU);
  ~StableDiffusionPrior() override;
  static std::unique_ptr<Prior> from_config(ConfigReader& config, const BuildContext& context);

  const NoiseSchedule& schedule() const override;
  /// rgb `[B, 3, H, W]` in [0, 1] -> latents `[B, 4, r / 8, r / 8]` (the VAE posterior's mean
  /// times the scaling factor), differentiable w.r.t. rgb; float32 out.
  at::Tensor encode(const at::Tensor& rgb) const override;
  /// Latents -> rgb in [0, 1] (the VAE decoder), float32.
  at::Tensor decode(const at::Tensor& latents) const override;
  /// The UNet's epsilon (v-prediction converted: eps = sqrt(ab) v + sqrt(1 - ab) x_t) for x_t
  /// `[B, 4, h, w]`, t `[B]`, with each element's prompt. Cameras are ignored (the prompt's view
  /// suffix carries the view); a reference view is an sds::Error.
  at::Tensor predict_noise(const at::Tensor& x_t, const at::Tensor& t,
                           const Conditioning& conditioning) override;

  /// VSD's particle model on this prior (ProlificDreamer as threestudio runs it): float32 LoRA
  /// adapters of `options.lora_rank` on the attention projections (to_q, to_k, to_v, to_out.0)
  /// of this prior's own UNet, zero-initialised, and with `options.camera_condition` an MLP
  /// (16 -> time embedding width, SiLU, linear, nn.Linear's init from `options.seed`) from the
  /// flattened camera-to-world matrix, added to the time embedding. This prior's own predictions
  /// run with the adapters off, so one UNet serves both. One per prior; the particle model keeps
  /// the modules alive on its own.
  std::shared_ptr<Prior> make_particle_model(const ParticlePriorOptions& options) override;

  /// BSD's personalised prior on this prior (DreamBooth-LoRA): a second set of float32 LoRA
  /// adapters ("personal", `options.lora_rank`, zero-initialised, from `options.seed`) on the
  /// same projections of this prior's UNet; the personalised prior predicts with only them on,
  /// differentiably w.r.t. them, and is fitted by its caller's diffusion loss (`set_images` only
  /// checks its images). One per prior.
  std::shared_ptr<PersonalisablePrior> make_personalised(
      const PersonalisationOptions& options) override;

  /// The text encoder's hidden states `[B, L, D]` for `prompts` in the UNet's dtype, computed
  /// once per prompt and cached on the device.
  at::Tensor text_embeddings(const std::vector<std::string>& prompts);

  const StableDiffusionOptions& options() const;
  const std::string& prediction_type() const;
  at::Device device() const;
  at::ScalarType dtype() const;
  models::UNet2DConditionModel& unet();
  models::AutoencoderKL& vae();
  models::CLIPTextModel& text_encoder();
  const models::CLIPTokenizer& tokenizer() const;

  /// The modules and caches, shared with the particle model.
  struct Core;

 private:
  std::shared_ptr<Core> core_;
};

/// The noise schedule of a diffusers scheduler_config.json ("scaled_linear", "linear" or
/// `trained_betas`); another beta schedule is an sds::Error.
NoiseSchedule read_noise_schedule(const std::filesystem::path& file);

}  // namespace sds
