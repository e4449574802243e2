#pragma once
// What the objective tests share: one built-in exact prior and small cameras around it.

#include <memory>
#include <string>
#include <vector>

#include "sds/camera/camera.h"
#include "sds/diffusion/exact_prior.h"

namespace sds::test {

/// Image size of the objective tests: small enough for exact scores through autograd.
constexpr int64_t kObjectiveImageSize = 8;

/// The built-in scene's exact prior, built once per test program.
inline std::shared_ptr<ExactPrior> builtin_exact_prior() {
  static auto prior = std::make_shared<ExactPrior>(Scene::builtin());
  return prior;
}

/// A built-in exact prior with another conditioning ("multiview", "reference", ...).
inline std::shared_ptr<ExactPrior> builtin_exact_prior(const std::string& conditioning) {
  ExactPriorOptions o;
  o.conditioning = conditioning;
  return std::make_shared<ExactPrior>(Scene::builtin(), o);
}

/// A prior, one of its prompts and another concept of the same scene, for checking an objective
/// against its formula: 0 is the built-in "a red mug", 1 the mug family with colour width on which
/// docs/results.md revisits the papers' claims (a claim that fails there is then the testbed's
/// finding, not an implementation's slip).
struct Testbed {
  std::shared_ptr<ExactPrior> prior;
  std::string prompt;
  std::string negative;
};

inline Testbed objective_testbed(int which) {
  static auto families = std::make_shared<ExactPrior>(Scene::builtin_families());
  if (which == 0) return {builtin_exact_prior(), "a red mug", "a snowman"};
  return {families, "a mug in one of four colours", "a birdhouse"};
}

/// `prompt` for every image, with the cameras attached.
inline Conditioning text_and_cameras(const CameraBatch& cameras, const std::string& prompt) {
  Conditioning c;
  c.prompts = {prompt};
  c.cameras = cameras;
  return c;
}

/// Cameras at radius 3 and the exact prior's field of view, one per azimuth.
inline CameraBatch orbit_cameras(const std::vector<double>& azimuths, double elevation = 10.0) {
  std::vector<Camera> cams;
  for (double az : azimuths) {
    cams.push_back(
        Camera::orbit(elevation, az, 3.0, 40.0, kObjectiveImageSize, kObjectiveImageSize));
  }
  return CameraBatch(cams);
}

}  // namespace sds::test
