#pragma once
// The diffusion prior interface: a denoiser eps(x_t; y, t) over images, with its noise schedule.

#include <ATen/ATen.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sds/camera/camera.h"
#include "sds/diffusion/schedule.h"

namespace sds {

struct ParticlePriorOptions;
class PersonalisablePrior;

/// Rendered views of one object.
struct GroundTruthImages {
  at::Tensor rgb;    ///< `[B, 3, H, W]` float32 in [0, 1], composited over the background
  at::Tensor alpha;  ///< `[B, 1, H, W]` float32, the fraction of sub-pixel rays that hit the object
  /// `[B, 1, H, W]` float32, the distance to the first hit along the (unit) ray averaged over the
  /// sub-pixel rays, misses counting 0: the alpha-weighted depth a volume renderer outputs.
  at::Tensor depth;
};

/// A personalised copy of a prior (`Prior::make_personalised`); JSON keys are the field names.
/// The LoRA fields apply to priors personalised by training (Stable Diffusion: DreamBooth-LoRA
/// on the attention projections, rank 4, scaling lora_alpha / lora_rank = 1).
struct PersonalisationOptions {
  int64_t lora_rank = 4;
  double lora_alpha = 4.0;
  uint64_t seed = 0;  ///< the adapters' initialisation
};

/// A known view of the object: Zero123 / Magic123 condition on it and on each camera relative
/// to its camera.
struct ReferenceView {
  at::Tensor rgb;  ///< `[3, H, W]` in [0, 1], composited over the background
  Camera camera;
};

/// Everything a prior may condition on, for a batch of B noisy images. A prior that cannot use a
/// field that is set says so with sds::Error.
struct Conditioning {
  /// One prompt per batch element, or one for all. "" is the unconditional (null) prompt.
  /// A view-dependent suffix (", front view", ...) is part of the prompt.
  std::vector<std::string> prompts;
  /// The cameras the images were rendered from (camera-conditioned priors: MVDream, Zero123).
  std::optional<CameraBatch> cameras;
  /// `[B]` bool: elements whose camera embedding is replaced by the null camera (VSD's particle
  /// model is trained with camera dropout so that it can be evaluated without a camera). Undefined
  /// = none. Priors without a camera embedding ignore it.
  at::Tensor drop_camera{};
  /// The reference view (reference-image priors); priors without one ignore it.
  std::optional<ReferenceView> reference{};

  /// The prompt of batch element `b`.
  const std::string& prompt(int64_t b) const;
  /// The same conditioning with every prompt replaced by the null prompt.
  Conditioning unconditional() const;
};

/// A denoiser. Images cross the interface as rgb `[B, 3, H, W]` in [0, 1]; `encode` maps them to
/// the prior's own space (pixels in [-1, 1] here; latents for a latent prior), differentiably.
class Prior {
 public:
  static constexpr const char* kInterfaceName = "prior";
  /// What a prior is built with besides its JSON: the device its models run on.
  struct BuildContext {
    at::Device device = at::kCPU;
  };
  virtual ~Prior() = default;

  /// The forward process the denoiser was trained with.
  virtual const NoiseSchedule& schedule() const = 0;

  /// rgb `[B, 3, H, W]` in [0, 1] to the model space; the default is 2 rgb - 1.
  virtual at::Tensor encode(const at::Tensor& rgb) const;
  /// The inverse of `encode`; the default is (x + 1) / 2.
  virtual at::Tensor decode(const at::Tensor& x) const;

  /// The noise prediction eps(x_t; y, t) for x_t `[B, C, h, w]` in model space and integer
  /// timesteps t `[B]`. Differentiable only w.r.t. `trainable_parameters()` (guidance treats it
  /// as a constant of the image).
  virtual at::Tensor predict_noise(const at::Tensor& x_t, const at::Tensor& t,
                                   const Conditioning& conditioning) = 0;

  /// Parameters that an objective may train (VSD's LoRA / particle model, BSD's personalisation);
  /// none by default.
  virtual std::vector<at::Tensor> trainable_parameters() { return {}; }

  /// VSD's particle model eps_phi on this prior, when the prior has its own form of it (a latent
  /// diffusion model: LoRA adapters on its UNet and a camera embedding). The default, null, lets
  /// VSD wrap the prior in a `ParticlePrior` (a small trainable correction in its space).
  virtual std::shared_ptr<Prior> make_particle_model(const ParticlePriorOptions& options);

  /// BSD's personalised prior: a copy of this prior that can be fitted to images of one subject
  /// (DreamCraft3D's DreamBooth model). Null, the default, when this prior offers none.
  virtual std::shared_ptr<PersonalisablePrior> make_personalised(
      const PersonalisationOptions& options);

  /// Whether `predict_noise` conditions on `Conditioning::reference` (a reference-image prior,
  /// as Zero123 is to Magic123); false by default.
  virtual bool conditions_on_reference() const { return false; }

  /// The exact views of the object that `prompt` names, from `cameras`, when this prior knows
  /// them (the exact prior's ground truth); nullopt, the default, otherwise. Magic123 takes its
  /// reference image from here when it is given none.
  virtual std::optional<GroundTruthImages> known_views(const std::string& prompt,
                                                       const CameraBatch& cameras) const;
};

/// A prior that can be fitted to images of one subject: BSD's personalised prior.
class PersonalisablePrior : public Prior {
 public:
  /// The subject's images rgb `[N, 3, H, W]` in [0, 1] with their cameras and prompt, replacing
  /// the previous ones. A prior fitted in closed form re-fits here (the exact prior adds one
  /// component per image). A prior fitted by training (non-empty `trainable_parameters()`) is
  /// fitted by its caller with the diffusion loss on these images (BSD's DreamBooth steps); here
  /// it only checks them.
  virtual void set_images(const at::Tensor& rgb, const CameraBatch& cameras,
                          const std::string& prompt) = 0;
};

}  // namespace sds
