#include <ATen/core/grad_mode.h>

#include "sds/train/metrics.h"

#include <set>

#include "sds/core/checks.h"
#include "sds/core/error.h"
#include "sds/diffusion/ground_truth.h"

namespace sds {

at::Tensor psnr(const at::Tensor& prediction, const at::Tensor& target) {
  check_shape(prediction, "psnr prediction", {-1, -1, -1, -1}, "[B, C, H, W]");
  SDS_CHECK(prediction.sizes() == target.sizes(),
            "psnr: expected prediction and target of one shape, got {} and {}",
            shape_string(prediction.sizes()), shape_string(target.sizes()));
  // On the prediction's device; only the [B] scores come back.
  const at::Device device = prediction.device();
  at::Tensor mse = (prediction.detach().to(at::kDouble) - target.detach().to(device, at::kDouble))
                       .pow(2)
                       .mean({1, 2, 3});
  return (-10.0 * at::log10(mse)).cpu();
}

at::Tensor render_views(Representation& representation, const CameraBatch& cameras,
                        const RenderOptions& options, int64_t chunk) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  const auto& all = cameras.cameras();
  for (size_t i = 0; i < all.size(); i += static_cast<size_t>(chunk)) {
    std::vector<Camera> part(all.begin() + static_cast<std::ptrdiff_t>(i),
                             all.begin() + static_cast<std::ptrdiff_t>(std::min(
                                               all.size(), i + static_cast<size_t>(chunk))));
    parts.push_back(representation.render(CameraBatch(part), options).rgb.detach());
  }
  return at::cat(parts);
}

ViewScores score_views(Representation& representation, const CameraBatch& cameras,
                       const at::Tensor& target, const RenderOptions& options, int64_t chunk) {
  return score_views(render_views(representation, cameras, options, chunk), target);
}

FamilyScores score_family(const at::Tensor& prediction, const std::vector<at::Tensor>& variants) {
  SDS_CHECK(!variants.empty(), "score_family: expected at least one variant, got none");
  FamilyScores f;
  at::Tensor sum;
  for (size_t v = 0; v < variants.size(); ++v) {
    ViewScores s = score_views(prediction, variants[v]);
    f.variant_mean_db.push_back(s.mean);
    if (v == 0 || s.mean > f.nearest_scores.mean) {
      f.nearest = static_cast<int64_t>(v);
      f.nearest_scores = std::move(s);
    }
    const at::Tensor image = variants[v].to(prediction.device(), at::kDouble);
    sum = v == 0 ? image : sum + image;
  }
  f.family_mean_db = score_views(prediction, sum / static_cast<double>(variants.size())).mean;
  return f;
}

int64_t variant_coverage(const std::vector<int64_t>& nearest, const std::vector<double>& nearest_db,
                         double threshold_db) {
  SDS_CHECK(nearest.size() == nearest_db.size(),
            "variant_coverage: expected one PSNR per run ({}), got {}", nearest.size(),
            nearest_db.size());
  std::set<int64_t> reached;
  for (size_t i = 0; i < nearest.size(); ++i) {
    if (nearest_db[i] >= threshold_db) reached.insert(nearest[i]);
  }
  return static_cast<int64_t>(reached.size());
}

ViewScores score_views(const at::Tensor& prediction, const at::Tensor& target) {
  at::Tensor p = psnr(prediction, target);
  ViewScores s;
  s.psnr_per_view.assign(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
  s.mean = p.mean().item<double>();
  s.min = p.min().item<double>();
  return s;
}

std::optional<double> geometry_iou(const Representation& representation, const Concept& concept_,
                                   int64_t resolution) {
  const auto scores = geometry_scores(representation, concept_, resolution);
  if (!scores) return std::nullopt;
  return scores->iou;
}

std::optional<GeometryScores> geometry_scores(const Representation& representation,
                                              const Concept& concept_, int64_t resolution) {
  SDS_CHECK(resolution >= 4 && resolution <= 512,
            "geometry_iou: expected a resolution in [4, 512], got {}", resolution);
  at::NoGradGuard no_grad;
  const double cell = 2.0 / static_cast<double>(resolution);
  at::Tensor coord = (at::arange(resolution, at::kDouble) + 0.5) * cell - 1.0;
  auto xyz = at::meshgrid({coord, coord, coord}, "ij");
  at::Tensor points = at::stack({xyz[0], xyz[1], xyz[2]}, -1).view({-1, 3});
  at::Tensor solid = representation.inside(points);
  if (!solid.defined()) return std::nullopt;
  SDS_CHECK(solid.dim() == 1 && solid.size(0) == points.size(0) && solid.scalar_type() == at::kBool,
            "geometry_iou: inside() returned {} {}, expected [{}] bool",
            c10::toString(solid.scalar_type()), shape_string(solid.sizes()), points.size(0));
  at::Tensor object = concept_occupancy(concept_, points) > 0.5;
  solid = solid.to(at::kCPU);
  const double both = (solid & object).sum().item<double>();
  const double either = (solid | object).sum().item<double>();
  const double solid_cells = solid.sum().item<double>();
  const double object_cells = object.sum().item<double>();
  GeometryScores g;
  g.iou = either > 0 ? both / either : 1.0;
  g.precision = solid_cells > 0 ? both / solid_cells : 1.0;
  g.recall = object_cells > 0 ? both / object_cells : 1.0;
  return g;
}

}  // namespace sds
