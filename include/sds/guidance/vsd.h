#pragma once
// Variational score distillation (VSD, ProlificDreamer, arXiv 2305.16213).

#include <memory>

#include "sds/diffusion/particle_prior.h"
#include "sds/guidance/distillation.h"

namespace sds {

/// Options of VSD; JSON keys are the field names ("particle" holds ParticlePriorOptions).
/// Defaults are ProlificDreamer's (threestudio's prolificdreamer.yaml).
struct VsdOptions {
  double guidance_scale = 7.5;  ///< CFG of the frozen prior
  CfgConvention cfg = CfgConvention::Diffusers;
  /// s_phi: eps_phi = eps_phi(null camera) + s_phi (eps_phi(c) - eps_phi(null camera)). 1 is the
  /// plain camera-conditional model; ESD (entropic score distillation) uses 0.5.
  double particle_guidance_scale = 1.0;
  double particle_lr = 1e-4;           ///< learning rate of eps_phi (LoRA + camera MLP there)
  double particle_loss_weight = 1.0;   ///< lambda_lora
  double camera_dropout = 0.1;         ///< probability of training eps_phi with the null camera
  int64_t particle_samples = 1;        ///< timesteps drawn per image for the eps_phi loss
  ParticlePriorOptions particle;
};

/// VSD: g = w(t) (eps_cfg(z_t; y, t) - eps_phi(z_t; y, t, c)), with eps_phi trained in the same
/// optimiser step (1:1 schedule) by the diffusion loss ||eps_phi(sg(z)_t'; y, t', c) - eps||^2,
/// t' ~ U[0, 1000), on the current renders. The frozen pass uses the view-dependent prompt when
/// that option is on; eps_phi always sees the plain prompt and the camera.
class Vsd : public DistillationGuidance {
 public:
  /// `particle_base` is the frozen prior under eps_phi; `prior` by default (BSD puts eps_phi on
  /// the original prior and the pretrained pass on the personalised one).
  Vsd(std::shared_ptr<Prior> prior, std::string prompt, VsdOptions options,
      std::shared_ptr<TimestepSchedule> timesteps, std::shared_ptr<Weighting> weighting,
      DistillationOptions common = {}, std::shared_ptr<Prior> particle_base = nullptr);
  /// Reads VsdOptions' keys.
  static VsdOptions read_options(ConfigReader& config, VsdOptions defaults = {});
  static std::unique_ptr<Guidance> from_config(ConfigReader& config, const BuildContext& context);

  at::Tensor raw_gradient(const DistillationStep& step) override;
  std::vector<ParameterGroup> parameter_groups() override;
  std::vector<std::pair<std::string, at::Tensor>> named_tensors() override;

  /// The particle model's diffusion loss on images z `[B, 3, h, w]` (model space) with timesteps
  /// t `[B]`, noise and camera dropout given; differentiable w.r.t. its parameters.
  at::Tensor particle_loss(const at::Tensor& z, const at::Tensor& t, const at::Tensor& noise,
                           const CameraBatch& cameras, const at::Tensor& drop_camera);
  /// eps_phi: the prior's own particle model, or a `ParticlePrior` around it.
  Prior& particle() { return *particle_; }

 protected:
  void add_losses(const DistillationStep& step, GuidanceOutput& out) override;

 private:
  VsdOptions options_;
  std::shared_ptr<Prior> particle_;
};

}  // namespace sds
