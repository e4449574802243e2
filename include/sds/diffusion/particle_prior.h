#pragma once
// VSD's particle score model eps_phi: a frozen prior plus a trainable correction that sees the
// camera. On the exact prior this is "exact prior + zero-initialised network"; for an exported
// UNet the same role is played by LoRA weights.

#include <memory>

#include "sds/core/json.h"
#include "sds/diffusion/prior.h"

namespace sds {

/// Shape of the correction network; JSON keys are the field names.
struct ParticlePriorOptions {
  int64_t hidden = 32;         ///< channels of the convolutional trunk
  int64_t embedding = 64;      ///< width of the time/camera embedding MLP
  uint64_t seed = 0;           ///< initialisation of every layer but the zero-initialised last
  at::Device device = at::kCPU;  ///< where the network lives (initialised on the host first)
  /// A latent diffusion prior's own particle model (`Prior::make_particle_model`): LoRA of this
  /// rank on its UNet's attention projections, scaling lora_alpha / lora_rank (threestudio: rank
  /// 4, scaling 1), and ProlificDreamer's camera embedding when `camera_condition` is on.
  int64_t lora_rank = 4;
  double lora_alpha = 4.0;
  bool camera_condition = true;
};

/// The camera condition `[B, 16]` float32 on `device`: each camera's flattened camera-to-world
/// matrix (threestudio's "extrinsics"), zeros (the null camera) for the elements that
/// `conditioning.drop_camera` marks and for all without cameras.
at::Tensor camera_condition(const Conditioning& conditioning, int64_t batch,
                            const at::Device& device);

/// eps_phi(x_t; y, t, c) = eps_base(x_t; y, t) + f_phi(x_t, t, c), where f_phi is a small
/// convolutional network whose activations are modulated (FiLM) by an MLP on the timestep and
/// the flattened 4x4 camera-to-world matrix c (threestudio's "extrinsics" camera condition; the
/// null camera is all zeros). Its last layer starts at zero, so eps_phi = eps_base at first.
class ParticlePrior : public Prior {
 public:
  ParticlePrior(std::shared_ptr<Prior> base, ParticlePriorOptions options = {});
  ~ParticlePrior() override;

  const NoiseSchedule& schedule() const override { return base_->schedule(); }
  at::Tensor encode(const at::Tensor& rgb) const override { return base_->encode(rgb); }
  at::Tensor decode(const at::Tensor& x) const override { return base_->decode(x); }
  /// Differentiable w.r.t. the correction's parameters; the base is a constant.
  at::Tensor predict_noise(const at::Tensor& x_t, const at::Tensor& t,
                           const Conditioning& conditioning) override;
  std::vector<at::Tensor> trainable_parameters() override;

  /// The correction alone, f_phi(x_t, t, c) `[B, 3, h, w]`.
  at::Tensor correction(const at::Tensor& x_t, const at::Tensor& t,
                        const Conditioning& conditioning);
  Prior& base() { return *base_; }

 private:
  struct Network;
  std::shared_ptr<Prior> base_;
  ParticlePriorOptions options_;
  std::unique_ptr<Network> net_;
};

}  // namespace sds
