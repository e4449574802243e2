#pragma once
// The representation regularisers of threestudio's systems, on any render that provides their
// inputs: orientation, sparsity, opacity (binary entropy) and z-variance.

#include <ATen/ATen.h>

#include <cstdint>

#include "sds/core/json.h"
#include "sds/core/scalar_schedule.h"
#include "sds/guidance/guidance.h"
#include "sds/repr/representation.h"

namespace sds {

/// The regularisers' weights as schedules (0: off), threestudio's lambda_orient,
/// lambda_sparsity, lambda_opaque and lambda_z_variance. JSON (under "trainer"):
/// "regularisers": {"orientation": [0, 10, 1000, 5000], "sparsity": 1, ...}.
struct RegulariserWeights {
  /// sum over samples of stopgrad(w_i) max(0, <n_i, d>)^2 (normals facing away from the camera),
  /// over the rays with opacity > 0 (RenderOutput::orientation).
  ScalarSchedule orientation = 0.0;
  /// mean over pixels of sqrt(alpha^2 + 0.01): less opacity overall.
  ScalarSchedule sparsity = 0.0;
  /// mean binary entropy of alpha clamped to [1e-3, 1 - 1e-3]: opacity 0 or 1.
  ScalarSchedule opacity = 0.0;
  /// mean RenderOutput::z_variance over the pixels with alpha > 0.5: one surface per ray.
  ScalarSchedule z_variance = 0.0;

  /// Reads the object's keys ("orientation", "sparsity", "opacity", "z_variance"); a negative
  /// weight is an sds::Error.
  static RegulariserWeights from_config(ConfigReader& config);
  /// Whether any weight is ever non-zero.
  bool any() const;
};

/// The weighted sum of the regularisers of `render` at 0-based `step` of `total_steps`, and each
/// weighted term as a metric ("reg_orientation", ...). A term with a non-zero weight whose input
/// the representation does not render (orientation and z_variance: RenderOutput's fields) is an
/// sds::Error naming it. No host sync.
GuidanceOutput regularisation(const RegulariserWeights& weights, const RenderOutput& render,
                              int64_t step, int64_t total_steps);

}  // namespace sds
