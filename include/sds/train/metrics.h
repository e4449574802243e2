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

/// One sample scored against every variant of a concept family at the same views.
struct FamilyScores {
  std::vector<double> variant_mean_db;  ///< mean PSNR over the views against each variant
  int64_t nearest = 0;                  ///< the variant with the highest mean PSNR
  ViewScores nearest_scores;            ///< the views scored against the nearest variant
  /// Mean PSNR against the variants' mean images: what an objective that averages the family's
  /// modes converges to.
  double family_mean_db = 0;
};

/// Scores `prediction` `[B, 3, H, W]` against each variant's images `variants[v]` (all of its
/// shape), as FamilyScores defines. `variants` must not be empty.
FamilyScores score_family(const at::Tensor& prediction, const std::vector<at::Tensor>& variants);

/// How many distinct variants a set of runs reaches: the number of distinct `nearest[i]` over
/// the runs with `nearest_db[i]` (their mean PSNR against that variant) >= `threshold_db`.
int64_t variant_coverage(const std::vector<int64_t>& nearest, const std::vector<double>& nearest_db,
                         double threshold_db);

/// Volumetric IoU of the representation's solid (Representation::inside) against the concept's
/// exact object, |solid and object| / |solid or object| over the centres of a resolution^3 grid
/// on [-1, 1]^3 (the exact prior's objects fit in it). nullopt for a representation without
/// inside(). resolution in [4, 512].
std::optional<double> geometry_iou(const Representation& representation, const Concept& concept_,
                                   int64_t resolution = 64);

/// The solid against the exact object on geometry_iou's grid. Precision below recall means a
/// solid too large (fattened parts, floaters, an unfilled cavity filled); recall below
/// precision, parts missing.
struct GeometryScores {
  double iou = 0.0;
  double precision = 0.0;  ///< |solid and object| / |solid|: how much of the solid is object
  double recall = 0.0;     ///< |solid and object| / |object|: how much of the object is solid
};

/// geometry_iou's comparison with precision and recall beside the IoU (an empty set scores 1).
std::optional<GeometryScores> geometry_scores(const Representation& representation,
                                              const Concept& concept_, int64_t resolution = 64);

}  // namespace sds
