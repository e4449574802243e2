#include "sds/guidance/magic123.h"

#include <ATen/ops/upsample_bilinear2d.h>

#include "sds/core/checks.h"
#include "sds/core/device.h"
#include "sds/core/error.h"
#include "sds/core/registry.h"
#include "sds/core/io.h"

namespace sds {

namespace {

// Magic123's coarse stage: both priors at t in [0.2, 0.6] of T, SD at scale 100, Zero123 at 5.
Json default_objective(double scale) {
  return Json{{"type", "sds"},
              {"guidance_scale", scale},
              {"timesteps", Json{{"type", "uniform"}, {"min_step", 200}, {"max_step", 600}}}};
}

std::unique_ptr<DistillationGuidance> build_objective(ConfigReader& c, const char* key,
                                                      const Json& fallback,
                                                      std::shared_ptr<Prior> prior,
                                                      const std::string& prompt,
                                                      const at::Device& device) {
  std::unique_ptr<Guidance> g = make<Guidance>(c.has(key) ? c.raw(key) : fallback,
                                               c.where() + "." + key,
                                               Guidance::BuildContext{std::move(prior), prompt, device});
  auto* distillation = dynamic_cast<DistillationGuidance*>(g.get());
  SDS_CHECK(distillation != nullptr,
            "{}.{}: expected a score-distillation objective (sds, csd, nfsd, ism, vsd)",
            c.where(), key);
  g.release();
  return std::unique_ptr<DistillationGuidance>(distillation);
}

void check_finite_weight(double w, const char* name) {
  SDS_CHECK(std::isfinite(w) && w >= 0, "magic123 guidance: expected {} >= 0, got {}", name, w);
}

}  // namespace

Magic123::Magic123(std::shared_ptr<DistillationGuidance> guidance_2d,
                   std::shared_ptr<DistillationGuidance> guidance_3d, Magic123Options options)
    : guidance_2d_(std::move(guidance_2d)), guidance_3d_(std::move(guidance_3d)),
      options_(options) {
  SDS_CHECK(guidance_2d_ && guidance_3d_, "magic123 guidance: expected a 2D and a 3D objective");
  check_finite_weight(options_.lambda_2d, "lambda_2d");
  check_finite_weight(options_.lambda_3d, "lambda_3d");
  check_finite_weight(options_.rgb_weight, "rgb_weight");
  check_finite_weight(options_.mask_weight, "mask_weight");
  check_finite_weight(options_.depth_weight, "depth_weight");
  SDS_CHECK(options_.reference.radius > 0 && options_.reference.fovy_deg > 0 &&
                options_.reference.fovy_deg < 180,
            "magic123 guidance: expected a reference camera with radius > 0 and fovy in (0, 180), "
            "got radius {} and fovy {}",
            options_.reference.radius, options_.reference.fovy_deg);
  SDS_CHECK(guidance_3d_->prior().conditions_on_reference(),
            "magic123 guidance: the 3D objective's prior does not condition on a reference view "
            "(Prior::conditions_on_reference); use a reference-image prior, such as the exact "
            "prior with \"conditioning\": \"reference\"");
  if (!options_.reference_image.empty()) {
    SDS_CHECK(options_.depth_weight == 0,
              "magic123 guidance: reference.image {} gives no depth, so depth_weight must be 0, "
              "got {}",
              options_.reference_image, options_.depth_weight);
    reference_file_ = read_png(options_.reference_image);
  }
}

std::unique_ptr<Guidance> Magic123::from_config(ConfigReader& c, const BuildContext& context) {
  Magic123Options o;
  o.lambda_2d = c.get("lambda_2d", o.lambda_2d);
  o.lambda_3d = c.get("lambda_3d", o.lambda_3d);
  o.rgb_weight = c.get("rgb_weight", o.rgb_weight);
  o.mask_weight = c.get("mask_weight", o.mask_weight);
  o.depth_weight = c.get("depth_weight", o.depth_weight);
  if (c.has("reference")) {
    ConfigReader r(c.raw("reference"), c.where() + ".reference");
    o.reference.elevation_deg = r.get("elevation_deg", o.reference.elevation_deg);
    o.reference.azimuth_deg = r.get("azimuth_deg", o.reference.azimuth_deg);
    o.reference.radius = r.get("radius", o.reference.radius);
    o.reference.fovy_deg = r.get("fovy_deg", o.reference.fovy_deg);
    o.reference_image = r.get("image", o.reference_image);
    r.finish();
  }
  const Json text_prior{{"type", "exact"}, {"conditioning", "text"}};
  const Json reference_prior{{"type", "exact"}, {"conditioning", "reference"}};
  const Prior::BuildContext on_device{context.device};
  std::shared_ptr<Prior> prior_2d = make<Prior>(c.has("prior_2d") ? c.raw("prior_2d") : text_prior,
                                                c.where() + ".prior_2d", on_device);
  std::shared_ptr<Prior> prior_3d =
      make<Prior>(c.has("prior_3d") ? c.raw("prior_3d") : reference_prior,
                  c.where() + ".prior_3d", on_device);
  auto g2 = build_objective(c, "guidance_2d", default_objective(100.0), prior_2d, context.prompt,
                            context.device);
  auto g3 = build_objective(c, "guidance_3d", default_objective(5.0), prior_3d, context.prompt,
                            context.device);
  return std::make_unique<Magic123>(std::move(g2), std::move(g3), o);
}

const GroundTruthImages& Magic123::reference_images(int64_t height, int64_t width) {
  auto key = std::make_pair(height, width);
  if (auto it = references_.find(key); it != references_.end()) return it->second;
  const CameraBatch camera({options_.reference.camera(height, width)});
  GroundTruthImages ref;
  if (reference_file_.defined()) {
    at::Tensor image = reference_file_;
    if (image.size(0) == 3) image = at::cat({image, at::ones_like(image.narrow(0, 0, 1))});
    image = image.unsqueeze(0);
    if (image.size(2) != height || image.size(3) != width) {
      image = at::upsample_bilinear2d(image, {height, width}, /*align_corners=*/false).clamp(0, 1);
    }
    ref.alpha = image.narrow(1, 3, 1).contiguous();
    // Zero123 and Magic123 composite the segmented reference over white.
    ref.rgb = (image.narrow(1, 0, 3) * ref.alpha + (1 - ref.alpha)).contiguous();
  } else {
    std::optional<GroundTruthImages> known =
        guidance_3d_->prior().known_views(guidance_3d_->prompt(), camera);
    SDS_CHECK(known.has_value(),
              "magic123 guidance: no reference image: set \"reference\": {{\"image\": a PNG}}, "
              "or use a 3D prior that knows the prompt's views (Prior::known_views: the exact "
              "prior)");
    ref = std::move(*known);
  }
  return references_.emplace(key, std::move(ref)).first->second;
}

GuidanceOutput Magic123::compute(const GuidanceInput& input) {
  check_shape(input.rgb, "magic123 guidance rgb", {-1, 3, -1, -1}, "[B, 3, H, W]");
  const int64_t h = input.rgb.size(2), w = input.rgb.size(3);
  guidance_3d_->set_reference(ReferenceView{reference_images(h, w).rgb[0], options_.reference.camera(h, w)});

  GuidanceOutput out2 = guidance_2d_->compute(input);
  GuidanceOutput out3 = guidance_3d_->compute(input);
  GuidanceOutput out;
  out.loss = options_.lambda_2d * out2.loss + options_.lambda_3d * out3.loss;
  for (auto& [k, v] : out2.metrics) out.metrics["2d_" + k] = v;
  for (auto& [k, v] : out3.metrics) out.metrics["3d_" + k] = v;
  out.lr_scale = out2.lr_scale * out3.lr_scale;
  return out;
}

GuidanceOutput Magic123::reference_loss(const at::Tensor& rgb, const at::Tensor& alpha,
                                        const at::Tensor& depth, int64_t, int64_t) {
  check_shape(rgb, "magic123 reference render rgb", {1, 3, -1, -1}, "[1, 3, H, W]");
  const int64_t h = rgb.size(2), w = rgb.size(3);
  check_shape(alpha, "magic123 reference render alpha", {1, 1, h, w}, "[1, 1, H, W]");
  const GroundTruthImages& ref = reference_images(h, w);
  // The reference lives on the host; its copies are queued without a sync.
  at::Tensor ref_rgb = to_device(ref.rgb, rgb.device()).to(rgb.scalar_type());
  at::Tensor ref_alpha = to_device(ref.alpha, rgb.device()).to(rgb.scalar_type());
  at::Tensor rgb_loss = (rgb * ref_alpha - ref_rgb * ref_alpha).pow(2).mean();
  at::Tensor mask_loss = (alpha - ref_alpha).pow(2).mean();
  GuidanceOutput out;
  out.loss = options_.rgb_weight * rgb_loss + options_.mask_weight * mask_loss;
  out.metrics["ref_rgb"] = rgb_loss.detach();
  out.metrics["ref_mask"] = mask_loss.detach();
  if (options_.depth_weight > 0) {
    SDS_CHECK(depth.defined(), "magic123 guidance: depth_weight {} needs a rendered depth; this "
              "representation renders none (set depth_weight 0)", options_.depth_weight);
    check_shape(depth, "magic123 reference render depth", {1, 1, h, w}, "[1, 1, H, W]");
    // The Pearson correlation over the reference's mask, with the mask as weights (a
    // masked_select would wait for its size).
    const at::Tensor mask_host = ref.alpha > 0.5;
    const auto count = static_cast<double>(mask_host.sum().item<int64_t>());
    if (count >= 2) {
      at::Tensor m = to_device(mask_host, rgb.device()).to(depth.scalar_type());
      at::Tensor gt = to_device(ref.depth, rgb.device()).to(depth.scalar_type());
      at::Tensor pc = (depth - (depth * m).sum() / count) * m;
      at::Tensor gc = (gt - (gt * m).sum() / count) * m;
      at::Tensor pearson = (pc * gc).sum() / ((pc.pow(2).sum() * gc.pow(2).sum()).sqrt() + 1e-8);
      at::Tensor depth_loss = (1 - pearson) / 2;
      out.loss = out.loss + options_.depth_weight * depth_loss;
      out.metrics["ref_depth"] = depth_loss.detach();
    }
  }
  return out;
}

std::vector<ParameterGroup> Magic123::parameter_groups() {
  std::vector<ParameterGroup> out = guidance_2d_->parameter_groups();
  for (auto& g : guidance_3d_->parameter_groups()) out.push_back(g);
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> Magic123::named_tensors() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& [name, t] : guidance_2d_->named_tensors()) out.emplace_back("2d." + name, t);
  for (auto& [name, t] : guidance_3d_->named_tensors()) out.emplace_back("3d." + name, t);
  return out;
}

}  // namespace sds
