#include "sds/guidance/reconstruction.h"

#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds {

Reconstruction::Reconstruction(std::shared_ptr<Prior> prior, std::string prompt)
    : prior_(std::move(prior)), prompt_(std::move(prompt)) {
  SDS_CHECK(prior_ != nullptr, "reconstruction guidance: expected a prior, got null");
}

std::unique_ptr<Guidance> Reconstruction::from_config(ConfigReader&, const BuildContext& context) {
  return std::make_unique<Reconstruction>(context.prior, context.prompt);
}

GuidanceOutput Reconstruction::compute(const GuidanceInput& input) {
  check_shape(input.rgb, "reconstruction guidance rgb", {-1, 3, -1, -1}, "[B, 3, H, W]");
  SDS_CHECK(input.cameras.size() == input.rgb.size(0),
            "reconstruction guidance: expected one camera per image ({}), got {}",
            input.rgb.size(0), input.cameras.size());
  std::optional<GroundTruthImages> known = prior_->known_views(prompt_, input.cameras);
  SDS_CHECK(known.has_value(),
            "reconstruction guidance: the prior does not know the views of \"{}\" "
            "(Prior::known_views: the exact prior does)",
            prompt_);
  const at::Tensor target = known->rgb.to(input.rgb.device(), input.rgb.scalar_type());
  SDS_CHECK(target.sizes() == input.rgb.sizes(),
            "reconstruction guidance: the known views are {}, the renders {}",
            shape_string(target.sizes()), shape_string(input.rgb.sizes()));
  GuidanceOutput out;
  out.loss = (input.rgb - target).pow(2).mean();
  out.metrics["mse"] = out.loss.detach();
  return out;
}

}  // namespace sds
