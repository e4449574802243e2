#include "sds/guidance/guidance.h"

#include <cmath>

#include "sds/core/registry.h"
#include "sds/guidance/sds.h"

namespace sds {

at::Tensor target_loss(const at::Tensor& z, const at::Tensor& g) {
  at::Tensor target = (z - g).detach();
  return 0.5 * (z - target).pow(2).sum() / static_cast<double>(z.size(0));
}

std::string view_dependent_prompt(const std::string& prompt, const Camera& camera) {
  double a = std::fmod(camera.azimuth_deg, 360.0);
  if (a > 180.0) a -= 360.0;
  if (a <= -180.0) a += 360.0;
  a = std::abs(a);
  // threestudio: side always matches, then front, back, overhead override in that order.
  const char* sector = "side";
  if (a < 45.0) sector = "front";
  if (a > 135.0) sector = "back";
  if (camera.elevation_deg > 60.0) sector = "overhead";
  return prompt + ", " + sector + " view";
}

template <>
void register_builtins<Guidance>(Registry<Guidance>& r) {
  r.add("sds", &Sds::from_config);
}

}  // namespace sds
