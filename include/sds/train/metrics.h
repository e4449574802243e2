#pragma once
// Image and geometry metrics against ground truth.

#include <ATen/ATen.h>

#include <optional>
#include <vector>

#include "sds/camera/camera.h"
#include "sds/diffusion/scene.h"
#include "sds/repr/representation.h"

namespace sds {

/// PSNR in dB of each image of `prediction` against `target` (`[B, C, H, W]`, values in [0, 1]):
/// -10 log10(mean squared error), `[B]` float64. A perfect match gives +inf.
at::Tensor psnr(const at::Tensor& prediction, const at::Tensor& target);

/// PSNR of a representation at fixed views.
struct ViewScores {
  std::vector<double> psnr_per_view;
  double mean = 0.0;
  double min = 0.0;
};

/// Renders `cameras` (without gradients, in chunks of `chunk` views) and scores them against
/// `target` `[B, 3, H, W]`.
ViewScores score_views(Representation& representation, const CameraBatch& cameras,
                       const at::Tensor& target, const RenderOptions& options, int64_t chunk = 4);

/// Scores rendered views `[B, 3, H, W]` against `target`.
ViewScores score_views(const at::Tensor& prediction, const at::Tensor& target);

/// Renders `cameras` without gradients, in chunks: rgb `[B, 3, H, W]`.
at::Tensor render_views(Representation& representation, const CameraBatch& cameras,
                        const RenderOptions& options, int64_t chunk = 4);

/// Volumetric IoU of the representation's solid (Representation::inside) against the concept's
/// exact object, |solid and object| / |solid or object| over the centres of a resolution^3 grid
/// on [-1, 1]^3 (the exact prior's objects fit in it). nullopt for a representation without
/// inside(). resolution in [4, 512].
std::optional<double> geometry_iou(const Representation& representation, const Concept& concept_,
                                   int64_t resolution = 64);

}  // namespace sds
