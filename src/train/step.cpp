#include "sds/train/step.h"

#include <cmath>

#include "sds/core/error.h"
#include "sds/core/rng.h"

namespace sds {

namespace {
constexpr uint64_t kStepStream = 0x5354455055ULL;  // one random stream per training step
constexpr uint64_t kDeviceStream = 0x4445564943ULL;  // the step's draws on a device
}  // namespace

at::Generator step_generator(uint64_t seed, int64_t step) {
  SDS_CHECK(step >= 0, "step_generator: expected a step >= 0, got {}", step);
  return make_generator(derive_seed(seed, kStepStream, static_cast<uint64_t>(step)));
}

at::Generator step_device_generator(uint64_t seed, int64_t step, const at::Device& device,
                                    const at::Generator& host) {
  SDS_CHECK(step >= 0, "step_device_generator: expected a step >= 0, got {}", step);
  if (device.is_cpu()) return host;
  return make_generator(derive_seed(seed, kDeviceStream, static_cast<uint64_t>(step)), device);
}

GuidanceOutput guidance_step(Guidance& guidance, const GuidanceInput& input,
                             const RenderFunction& render) {
  GuidanceOutput out = guidance.compute(input);
  const int64_t height = input.rgb.size(2), width = input.rgb.size(3);
  if (std::optional<Camera> reference = guidance.reference_camera(height, width)) {
    SDS_CHECK(static_cast<bool>(render),
              "guidance_step: the guidance supervises a reference view; pass a render function");
    RenderOutput known = render(CameraBatch({*reference}));
    GuidanceOutput ref =
        guidance.reference_loss(known.rgb, known.alpha, known.depth, input.step, input.total_steps);
    out.loss = out.loss + ref.loss;
    out.metrics.merge(ref.metrics);
  }
  SDS_CHECK(std::isfinite(out.lr_scale) && out.lr_scale > 0,
            "step {}: the guidance asked for learning-rate scale {}, expected > 0", input.step + 1,
            out.lr_scale);
  return out;
}

TrainingGroups::TrainingGroups(std::vector<ParameterGroup> representation,
                               std::vector<ParameterGroup> guidance)
    : groups_(std::move(representation)), representation_groups_(groups_.size()) {
  groups_.insert(groups_.end(), std::make_move_iterator(guidance.begin()),
                 std::make_move_iterator(guidance.end()));
  for (size_t k = 0; k < groups_.size(); ++k) {
    SDS_CHECK(groups_[k].lr > 0 && std::isfinite(groups_[k].lr),
              "trainer: {} parameter group \"{}\" has learning rate {}, expected > 0",
              k < representation_groups_ ? "representation" : "guidance", groups_[k].name,
              groups_[k].lr);
  }
}

TrainingGroups::TrainingGroups(Representation& representation, Guidance& guidance)
    : TrainingGroups(representation.parameter_groups(), guidance.parameter_groups()) {}

std::vector<double> TrainingGroups::learning_rates(int64_t step, double lr_scale) const {
  std::vector<double> out;
  for (size_t k = 0; k < groups_.size(); ++k) {
    const double lr = groups_[k].lr_at ? groups_[k].lr_at(step) : groups_[k].lr;
    out.push_back(k < representation_groups_ ? lr * lr_scale : lr);
  }
  return out;
}

}  // namespace sds
