#pragma once
// Perp-Neg (arXiv 2304.04968) as threestudio applies it to view-dependent prompts: the positive
// prediction interpolates two view prompts by azimuth, and the other views' predictions enter as
// negatives through their components perpendicular to the positive direction.

#include <ATen/ATen.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "sds/camera/camera.h"
#include "sds/core/json.h"
#include "sds/diffusion/prior.h"

namespace sds {

/// The coefficients (a, b, c) of a negative weight f(r) = a e^{-b r} + c.
using PerpNegCurve = std::array<double, 3>;

/// f(r) = a e^{-b r} + c.
double perp_neg_curve(const PerpNegCurve& f, double r);

/// threestudio's defaults; JSON keys "f_fs", "f_sf", "f_sb", "f_fsb", "overhead_deg".
struct PerpNegOptions {
  PerpNegCurve f_fs{4.0, 0.5, -2.426};   ///< weight of the front negative, front-to-side
  PerpNegCurve f_sf{4.0, 0.5, -2.426};   ///< weight of the side negative, front-to-side
  PerpNegCurve f_sb{1.0, 0.5, -0.606};   ///< weight of the side negative, side-to-back
  PerpNegCurve f_fsb{1.0, 0.5, 0.967};   ///< weight of the front negative, side-to-back
  double overhead_deg = 60.0;

  static PerpNegOptions from_config(ConfigReader& config);
};

/// Reads key "perp_neg" of `config`: true (defaults), false (off) or an object of options.
std::optional<PerpNegOptions> read_perp_neg(ConfigReader& config,
                                            std::optional<PerpNegOptions> fallback = {});

/// A view prompt ("<prompt>, <sector> view") with its coefficient.
struct PerpNegTerm {
  std::string sector;
  double weight = 0.0;
};

/// The positive mixture and the negatives of one camera:
/// - overhead (elevation above overhead_deg): positive = overhead, no negatives;
/// - |azimuth| < 90, r = 1 - |azimuth| / 90: positive = r front + (1 - r) side, negatives
///   front with -f_fs(r) and side with -f_sf(1 - r);
/// - otherwise, r = 2 - |azimuth| / 90: positive = r side + (1 - r) back, negatives side with
///   -f_sb(r) and front with -f_fsb(r).
struct PerpNegPlan {
  std::vector<PerpNegTerm> positive;
  std::vector<PerpNegTerm> negatives;
};
PerpNegPlan perp_neg_plan(double azimuth_deg, double elevation_deg, const PerpNegOptions& options);

/// The part of x perpendicular to y, per batch element: x - (<x, y> / max(<y, y>, 1e-6)) y.
at::Tensor perpendicular_component(const at::Tensor& x, const at::Tensor& y);

/// Perp-Neg's two terms for a batch, relative to a baseline prediction eps_base:
/// `positive` = eps_pos - eps_base, with eps_pos the plan's mix of view-prompt predictions (the
/// exact prior has no text embeddings to interpolate, so the predictions are mixed), and
/// `negatives` = sum_i w_i perp(eps_neg_i - eps_base, positive).
struct PerpNegTerms {
  at::Tensor positive;
  at::Tensor negatives;
};
PerpNegTerms perp_neg_terms(Prior& prior, const std::string& prompt, const at::Tensor& x_t,
                            const at::Tensor& t, const CameraBatch& cameras,
                            const at::Tensor& eps_base, const PerpNegOptions& options);

}  // namespace sds
