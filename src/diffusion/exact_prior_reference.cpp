// Reference-image conditioning of the exact prior (Zero123 / Magic123). A view-synthesis model
// sees the reference image and the camera relative to the reference camera, never the object's
// absolute pose. The exact analogue: identify the concept and the pose of the reference image as
// its nearest component (and, for a family, the member it shows), then weight that member's
// components by the camera kernel around the pose reached by applying the relative camera to the
// identified pose. The null prompt is the unconditional branch (Zero123 zeroes the image and camera
// embeddings): every component, equal weights.

#include "diffusion/exact_prior_math.h"
#include "sds/core/checks.h"
#include "sds/core/error.h"
#include "sds/diffusion/exact_prior.h"

namespace sds {

ExactPriorMath::Selection ExactPriorMath::select_reference(const ExactPrior& prior,
                                                           const ExactPriorComponents& comps,
                                                           const Conditioning& cond, int64_t b) {
  Selection sel;
  const auto k = static_cast<int64_t>(comps.cameras.size());
  if (cond.prompt(b).empty()) {
    sel.index = at::arange(k, at::kLong);
    const at::Tensor log_w = member_log_weights(prior, comps, sel.index);
    sel.log_pi = log_w - at::logsumexp(log_w, 0);
    return sel;
  }
  SDS_CHECK(cond.reference.has_value(),
            "exact prior: reference conditioning needs Conditioning::reference (the reference "
            "image and its camera); got none");
  SDS_CHECK(cond.cameras.has_value(),
            "exact prior: reference conditioning needs the cameras of the images; got none");
  const ReferenceView& ref = *cond.reference;
  const int64_t d = comps.mu.size(1);
  check_shape(ref.rgb, "exact prior reference image", {3, -1, -1}, "[3, H, W]");
  SDS_CHECK(ref.rgb.numel() == d,
            "exact prior: the reference image must have the size of the images it conditions "
            "({} values = 3 x H x W); got {}",
            d, shape_string(ref.rgb.sizes()));
  check_finite(ref.rgb, "exact prior reference image");

  // The reference's concept and pose: its nearest component. Reading it back from a device
  // waits for the queue, so a device reference is matched once per image (by its storage and
  // version counter), not once per step.
  auto find_nearest = [&] {
    at::Tensor y = ref.rgb.detach().to(comps.mu.device(), at::kDouble).reshape({-1}) * 2 - 1;
    return noisy_distances(y, comps.mu, comps.mu_sq_norm, 1.0).argmin().item<int64_t>();
  };
  int64_t nearest = -1;
  if (ref.rgb.is_cpu() && comps.mu.is_cpu()) {
    nearest = find_nearest();
  } else {
    std::lock_guard<std::mutex> lock(prior.reference_mutex_);
    ExactPrior::ReferenceMatch& match = prior.reference_match_;
    const void* image = ref.rgb.const_data_ptr();
    const auto version = static_cast<int64_t>(ref.rgb._version());
    if (match.image != image || match.version != version || match.components != k) {
      match = {image, version, k, find_nearest()};
    }
    nearest = match.nearest;
  }
  const int64_t concept_index = comps.concept_index[nearest];
  const int64_t member = comps.member_index[nearest];  // a family's reference shows one member
  const Camera& pose = comps.cameras[nearest];

  // The relative camera applied to the identified pose.
  const Camera& cam = (*cond.cameras)[b];
  const double d_elevation = cam.elevation_deg() - ref.camera.elevation_deg();
  const double d_azimuth = cam.azimuth_deg() - ref.camera.azimuth_deg();
  const Camera target =
      Camera::orbit(pose.elevation_deg() + d_elevation, pose.azimuth_deg() + d_azimuth,
                    cam.radius(), cam.fovy_deg(), cam.height, cam.width);

  std::vector<int64_t> index;
  for (int64_t i = 0; i < k; ++i) {
    if (comps.concept_index[i] == concept_index && comps.member_index[i] == member) {
      index.push_back(i);
    }
  }
  sel.index = at::tensor(index, at::kLong);
  at::Tensor cos_angle = comps.directions.index_select(0, sel.index).matmul(target.direction());
  at::Tensor log_w =
      camera_log_weights(prior, cos_angle,
                         fmt::format("the relative camera ({} degrees elevation, {} azimuth)",
                                     d_elevation, d_azimuth));
  sel.log_pi = log_w - at::logsumexp(log_w, 0);
  return sel;
}

}  // namespace sds
