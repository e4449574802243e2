#include "sds/diffusion/prior.h"

#include "sds/core/error.h"

namespace sds {

const std::string& Conditioning::prompt(int64_t b) const {
  SDS_CHECK(!prompts.empty(), "conditioning: expected at least one prompt, got none");
  if (prompts.size() == 1) return prompts.front();
  SDS_CHECK(b >= 0 && b < static_cast<int64_t>(prompts.size()),
            "conditioning: expected one prompt per batch element, got {} prompts for element {}",
            prompts.size(), b);
  return prompts[b];
}

std::shared_ptr<Prior> Prior::make_particle_model(const ParticlePriorOptions&) { return nullptr; }

std::shared_ptr<PersonalisablePrior> Prior::make_personalised(const PersonalisationOptions&) {
  return nullptr;
}

std::optional<GroundTruthImages> Prior::known_views(const std::string&,
                                                    const CameraBatch&) const {
  return std::nullopt;
}

Conditioning Conditioning::unconditional() const {
  Conditioning out = *this;
  for (auto& p : out.prompts) p.clear();
  if (out.prompts.empty()) out.prompts.push_back("");
  return out;
}

at::Tensor Prior::encode(const at::Tensor& rgb) const { return rgb * 2 - 1; }
at::Tensor Prior::decode(const at::Tensor& x) const { return (x + 1) / 2; }

}  // namespace sds
