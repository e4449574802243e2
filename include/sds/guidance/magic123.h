#pragma once
// Magic123's joint prior (arXiv 2306.17843): a 2D text prior and a 3D reference-image prior
// (Zero123), each through its own objective and weight, plus losses on the render of the
// reference view.

#include <map>
#include <memory>

#include "sds/diffusion/ground_truth.h"
#include "sds/guidance/distillation.h"

namespace sds {

/// Options of the joint prior; defaults are Magic123's coarse stage. JSON keys are the names.
struct Magic123Options {
  double lambda_2d = 1.0;   ///< weight of the 2D (text) objective
  double lambda_3d = 40.0;  ///< weight of the 3D (reference-image) objective
  double rgb_weight = 5.0;  ///< MSE(rgb alpha_ref, rgb_ref alpha_ref) on the reference view
  double mask_weight = 0.5;  ///< MSE(alpha, alpha_ref) on the reference view
  /// (1 - Pearson(depth, depth_ref)) / 2 over the reference mask (alpha_ref > 0.5), scale- and
  /// shift-free as Magic123's monocular-depth term; the reference depth is exact here.
  double depth_weight = 0.01;
  /// The reference camera's pose (its image size is the rendered views'); Magic123's reference
  /// is frontal.
  OrbitPose reference;
  /// The reference image, a PNG (RGBA: the alpha channel is the object's mask; RGB: all object),
  /// composited over white and resized (bilinear) to the rendered views' size. Empty: the 3D
  /// prior's own views of the prompt (`Prior::known_views`, the exact prior's ground truth).
  /// A file gives no depth, so it needs depth_weight 0.
  std::string reference_image;
};

/// L = lambda_2d L_2d + lambda_3d L_3d on the sampled views, and rgb_weight L_rgb + mask_weight
/// L_mask + depth_weight L_depth on the reference view. Each objective has its own prior: by
/// default the exact prior with text conditioning (2D, SDS at scale 100, t in [200, 600]) and
/// with reference conditioning (3D, SDS at scale 5, t in [200, 600]). The 3D prior must
/// condition on a reference view (`Prior::conditions_on_reference`). The reference image is
/// `reference_image`, or else the 3D prior's known view of the prompt at the reference camera.
class Magic123 : public Guidance {
 public:
  Magic123(std::shared_ptr<DistillationGuidance> guidance_2d,
           std::shared_ptr<DistillationGuidance> guidance_3d, Magic123Options options);
  /// JSON: the options above ("reference": {"elevation_deg", "azimuth_deg", "radius",
  /// "fovy_deg", "image"}), "guidance_2d" / "guidance_3d" (objective configs) and "prior_2d" / "prior_3d"
  /// (prior configs), each replacing the default named above.
  static std::unique_ptr<Guidance> from_config(ConfigReader& config, const BuildContext& context);

  GuidanceOutput compute(const GuidanceInput& input) override;
  std::vector<ParameterGroup> parameter_groups() override;
  std::vector<std::pair<std::string, at::Tensor>> named_tensors() override;
  std::optional<Camera> reference_camera(int64_t height, int64_t width) const override {
    return options_.reference.camera(height, width);
  }
  GuidanceOutput reference_loss(const at::Tensor& rgb, const at::Tensor& alpha,
                                const at::Tensor& depth, int64_t step,
                                int64_t total_steps) override;

  /// The reference view (rgb, alpha, and depth when known) at an image size (cached).
  const GroundTruthImages& reference_images(int64_t height, int64_t width);

  DistillationGuidance& guidance_2d() { return *guidance_2d_; }
  DistillationGuidance& guidance_3d() { return *guidance_3d_; }

 private:
  std::shared_ptr<DistillationGuidance> guidance_2d_, guidance_3d_;
  Magic123Options options_;

  std::map<std::pair<int64_t, int64_t>, GroundTruthImages> references_;
  at::Tensor reference_file_;  // `[4, H, W]` rgb + alpha of reference_image, read once
};

}  // namespace sds
