#include "sds/guidance/weighting.h"

#include "sds/core/registry.h"

namespace sds {

namespace {
template <class W>
typename Registry<Weighting>::Factory plain() {
  return [](ConfigReader&, const Weighting::BuildContext&) { return std::make_unique<W>(); };
}
}  // namespace

template <>
void register_builtins<Weighting>(Registry<Weighting>& r) {
  r.add("sds", plain<SdsWeighting>());
  r.add("fantasia3d", plain<Fantasia3dWeighting>());
  r.add("uniform", plain<UniformWeighting>());
  r.add("noise_to_signal", plain<NoiseToSignalWeighting>());
}

}  // namespace sds
