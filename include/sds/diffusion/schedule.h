#pragma once
// The forward diffusion process: betas, alpha_bar, noising and its inverse (diffusers'
// DDPMScheduler, without the sampler).

#include <ATen/ATen.h>

namespace sds {

/// A discrete DDPM noise schedule with T training timesteps, t = 0 .. T-1.
class NoiseSchedule {
 public:
  /// Stable Diffusion's "scaled_linear": beta_i = (sqrt(b0) + (sqrt(b1) - sqrt(b0)) i / (T-1))^2.
  static NoiseSchedule scaled_linear(int64_t steps = 1000, double beta_start = 0.00085,
                                     double beta_end = 0.012);
  /// The schedule of explicit betas `[T]` (T >= 2, each in (0, 1)), kept in float64.
  static NoiseSchedule from_betas(const at::Tensor& betas);

  /// T, the number of training timesteps.
  int64_t num_steps() const { return alphas_cumprod_.size(0); }
  /// alpha_bar_t = prod_{i <= t} (1 - beta_i), `[T]` float64.
  const at::Tensor& alphas_cumprod() const { return alphas_cumprod_; }
  /// alpha_bar at one timestep.
  double alpha_bar(int64_t t) const;
  /// alpha_bar at integer timesteps `t` `[B]`, as float64 `[B]` on t's device; t outside [0, T)
  /// is an sds::Error (a value check: see value_checks_enabled).
  at::Tensor alpha_bar(const at::Tensor& t) const;

  /// x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) eps, with t `[B]` and x0, eps `[B, ...]`.
  at::Tensor add_noise(const at::Tensor& x0, const at::Tensor& eps, const at::Tensor& t) const;
  /// x0 = (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar).
  at::Tensor x0_from_eps(const at::Tensor& x_t, const at::Tensor& eps, const at::Tensor& t) const;

  /// alpha_bar(t) shaped `[B, 1, 1, ...]` to broadcast against `like` `[B, ...]`, in its dtype.
  at::Tensor broadcast_alpha_bar(const at::Tensor& t, const at::Tensor& like) const;

 private:
  explicit NoiseSchedule(at::Tensor alphas_cumprod) : alphas_cumprod_(std::move(alphas_cumprod)) {}
  at::Tensor alphas_cumprod_;
};

}  // namespace sds
