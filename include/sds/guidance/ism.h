#pragma once
// Interval score matching (ISM, LucidDreamer, arXiv 2311.11284).

#include <memory>

#include "sds/guidance/distillation.h"

namespace sds {

/// Options of ISM; JSON keys are the field names. Defaults follow LucidDreamer's code.
struct IsmOptions {
  double guidance_scale = 7.5;   ///< eps_neg + s (eps_text - eps_neg)
  std::string negative_prompt;   ///< "" is the null prompt
  /// delta_T, the interval between s and t: 100 -> 50 over the first 30 % of the run (the
  /// warm-up of 1500 of LucidDreamer's 5000 steps).
  ScalarSchedule interval{100.0, 50.0, 0.0, 0.3};
  int64_t inversion_stride = 200;  ///< xs_delta_t, the DDIM inversion step from 0 to s
  double offset_noise = 0.1;       ///< scale of the per-channel noise offset shared by the batch
};

/// ISM: g = w(t) [eps_cfg(x_t; y, t) - eps(x_s; "", s)] with s = t - delta_T, where x_s comes
/// from deterministic DDIM inversion (eta = 0) of the unconditional prior from the barely noised
/// render in strides of `inversion_stride`, and x_t from one more inversion step s -> t. The
/// default w is sqrt((1 - a_t) / a_t) and t follows LucidDreamer's warm-up schedule.
class Ism : public DistillationGuidance {
 public:
  Ism(std::shared_ptr<Prior> prior, std::string prompt, IsmOptions options,
      std::shared_ptr<TimestepSchedule> timesteps, std::shared_ptr<Weighting> weighting,
      DistillationOptions common = {});
  static std::unique_ptr<Guidance> from_config(ConfigReader& config, const BuildContext& context);

  at::Tensor raw_gradient(const DistillationStep& step) override;

  /// One deterministic DDIM step of x from timestep `from` to `to` with prediction `eps`.
  static at::Tensor ddim_step(const NoiseSchedule& schedule, const at::Tensor& x,
                              const at::Tensor& eps, int64_t from, int64_t to);

 protected:
  at::Tensor draw_noise(const at::Tensor& z, at::Generator& generator) const override;

 private:
  IsmOptions options_;
};

}  // namespace sds
