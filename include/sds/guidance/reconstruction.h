#pragma once
// Multi-view reconstruction from the prior's known views: the upper bound of score distillation.

#include <memory>
#include <string>

#include "sds/core/json.h"
#include "sds/guidance/guidance.h"

namespace sds {

/// Supervises every rendered view directly with the prior's exact view from the same camera
/// (`Prior::known_views`): loss = mean over pixels of (rgb - rgb_known)^2. It is no score
/// distillation: it answers how well a representation, its resolution and its optimiser can fit
/// the object at all from the training views, so that a distillation result can be read against
/// what the representation reaches with perfect supervision. Needs a prior that knows the
/// prompt's views (the exact prior). JSON: {"type": "reconstruction"}.
class Reconstruction : public Guidance {
 public:
  Reconstruction(std::shared_ptr<Prior> prior, std::string prompt);
  static std::unique_ptr<Guidance> from_config(ConfigReader& config, const BuildContext& context);

  GuidanceOutput compute(const GuidanceInput& input) override;

 private:
  std::shared_ptr<Prior> prior_;
  std::string prompt_;
};

}  // namespace sds
