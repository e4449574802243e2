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
};

}  // namespace sds
