#pragma once
// What a training step applies besides `loss.backward()` and the optimiser, in one place: the
// Trainer runs exactly these helpers, so a hand-written loop (C++ or Python) that calls them
// reproduces the Trainer's numbers.
//
//   for step i:  generator = step_generator(seed, i)
//                device_generator = step_device_generator(seed, i, device, generator)
//                cameras   = sampler.sample(i, generator)
//                rendered  = render(cameras, RenderOptions{background, step i, generator})
//                out       = guidance_step(guidance, {rendered.rgb, cameras, i, n, generator,
//                                                     device_generator}, render)
//                out.loss += regularisation(weights, rendered, i, n).loss   (when any weight)
//                set the optimiser's learning rates to groups.learning_rates(i, out.lr_scale)
//                out.loss.backward(); optimiser step; representation.after_step(i, ...)

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "sds/core/parameter_group.h"
#include "sds/guidance/guidance.h"
#include "sds/repr/representation.h"

namespace sds {

/// The generator of 0-based training step `step` of a run seeded with `seed` (CPU); the Trainer
/// draws the step's cameras, then the guidance's timesteps (and on a CPU run its noise), from it.
at::Generator step_generator(uint64_t seed, int64_t step);

/// The generator of a step's draws on `device` (GuidanceInput::device_generator): on the CPU the
/// step_generator itself, on a CUDA device a CUDA generator seeded from (seed, step).
at::Generator step_device_generator(uint64_t seed, int64_t step, const at::Device& device,
                                    const at::Generator& host);

/// Renders cameras for guidance_step(): a Representation, or any user function.
using RenderFunction = std::function<RenderOutput(const CameraBatch& cameras)>;

/// The guidance's loss for the rendered views of one step with everything the objective asks of
/// the loop: when it supervises a reference view (Magic123), that view is rendered through
/// `render` at the size of `input.rgb` and its loss and metrics are added. sds::Error when the
/// objective asks for a learning-rate scale that is not finite and positive.
GuidanceOutput guidance_step(Guidance& guidance, const GuidanceInput& input,
                             const RenderFunction& render);

/// The parameter groups an optimiser trains in a run: the representation's, then the guidance's
/// own (VSD's particle model, ...), with each group's learning rate at a step.
class TrainingGroups {
 public:
  /// sds::Error when a group has a learning rate that is not positive.
  TrainingGroups(std::vector<ParameterGroup> representation, std::vector<ParameterGroup> guidance);
  /// The groups of a representation and a guidance.
  TrainingGroups(Representation& representation, Guidance& guidance);

  /// Every group, the representation's first.
  const std::vector<ParameterGroup>& groups() const { return groups_; }
  /// How many of groups() belong to the representation.
  size_t representation_groups() const { return representation_groups_; }
  /// The learning rate of every group at 0-based `step`: `lr_at(step)` (or `lr`), times
  /// `lr_scale` (GuidanceOutput::lr_scale, DreamTime's time-prioritised rate) for the
  /// representation's groups only.
  std::vector<double> learning_rates(int64_t step, double lr_scale = 1.0) const;

 private:
  std::vector<ParameterGroup> groups_;
  size_t representation_groups_ = 0;
};

}  // namespace sds
