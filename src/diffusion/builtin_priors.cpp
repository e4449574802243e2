// The priors that `make<Prior>` knows by name.
#include "sds/core/registry.h"
#include "sds/diffusion/exact_prior.h"
#include "sds/diffusion/stable_diffusion.h"

namespace sds {

template <>
void register_builtins<Prior>(Registry<Prior>& r) {
  r.add("exact", &ExactPrior::from_config);
  r.add("stable_diffusion", &StableDiffusionPrior::from_config);
}

}  // namespace sds
