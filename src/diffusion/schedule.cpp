#include "sds/diffusion/schedule.h"

#include "sds/core/checks.h"
#include "sds/core/device.h"
#include "sds/core/error.h"

namespace sds {

NoiseSchedule NoiseSchedule::scaled_linear(int64_t steps, double beta_start, double beta_end) {
  SDS_CHECK(steps >= 2, "noise schedule: expected >= 2 steps, got {}", steps);
  SDS_CHECK(beta_start > 0 && beta_end < 1 && beta_start <= beta_end,
            "noise schedule: expected 0 < beta_start <= beta_end < 1, got {} and {}", beta_start,
            beta_end);
  at::Tensor betas =
      at::linspace(std::sqrt(beta_start), std::sqrt(beta_end), steps, at::kDouble).pow(2);
  return NoiseSchedule(at::cumprod(1.0 - betas, 0));
}

NoiseSchedule NoiseSchedule::from_betas(const at::Tensor& betas) {
  SDS_CHECK(betas.defined() && betas.dim() == 1 && betas.size(0) >= 2 &&
                betas.is_floating_point(),
            "noise schedule: betas must be a floating [T] tensor with T >= 2");
  const at::Tensor b = betas.to(at::kCPU, at::kDouble);
  SDS_CHECK(b.gt(0).all().item<bool>() && b.lt(1).all().item<bool>(),
            "noise schedule: every beta must be in (0, 1)");
  return NoiseSchedule(at::cumprod(1.0 - b, 0));
}

double NoiseSchedule::alpha_bar(int64_t t) const {
  SDS_CHECK(t >= 0 && t < num_steps(), "timestep: expected t in [0, {}), got {}", num_steps(), t);
  return alphas_cumprod_[t].item<double>();
}

at::Tensor NoiseSchedule::alpha_bar(const at::Tensor& t) const {
  check_shape(t, "timesteps t", {-1}, "[B]");
  SDS_CHECK(!t.is_floating_point(), "timesteps t: expected an integer tensor, got {}",
            c10::toString(t.scalar_type()));
  at::Tensor tl = t.to(at::kLong);
  if (tl.numel() > 0 && value_checks_enabled(tl)) {
    const int64_t lo = tl.min().item<int64_t>(), hi = tl.max().item<int64_t>();
    SDS_CHECK(lo >= 0 && hi < num_steps(), "timesteps t: expected values in [0, {}), got [{}, {}]",
              num_steps(), lo, hi);
  }
  // On the device of t: host timesteps (the usual case) index the host table.
  return to_device(alphas_cumprod_, tl.device()).index_select(0, tl);
}

at::Tensor NoiseSchedule::broadcast_alpha_bar(const at::Tensor& t, const at::Tensor& like) const {
  SDS_CHECK(like.dim() >= 1 && like.size(0) == t.size(0),
            "timesteps t: expected one timestep per batch element ({}), got {}",
            like.dim() ? like.size(0) : 0, t.numel());
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = t.size(0);
  return to_device(alpha_bar(t), like.device()).to(like.scalar_type()).view(shape);
}

at::Tensor NoiseSchedule::add_noise(const at::Tensor& x0, const at::Tensor& eps,
                                    const at::Tensor& t) const {
  SDS_CHECK(x0.sizes() == eps.sizes(), "add_noise: expected x0 and eps of one shape, got {} and {}",
            shape_string(x0.sizes()), shape_string(eps.sizes()));
  at::Tensor a = broadcast_alpha_bar(t, x0);
  return a.sqrt() * x0 + (1 - a).sqrt() * eps;
}

at::Tensor NoiseSchedule::x0_from_eps(const at::Tensor& x_t, const at::Tensor& eps,
                                      const at::Tensor& t) const {
  at::Tensor a = broadcast_alpha_bar(t, x_t);
  return (x_t - (1 - a).sqrt() * eps) / a.sqrt();
}

}  // namespace sds
