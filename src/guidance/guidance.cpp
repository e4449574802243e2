#include "sds/guidance/guidance.h"

#include "sds/core/checks.h"
#include "sds/core/error.h"
#include "sds/core/read_to_host.h"
#include "sds/core/registry.h"
#include "sds/guidance/bsd.h"
#include "sds/guidance/csd.h"
#include "sds/guidance/ism.h"
#include "sds/guidance/magic123.h"
#include "sds/guidance/nfsd.h"
#include "sds/guidance/reconstruction.h"
#include "sds/guidance/sds.h"
#include "sds/guidance/vsd.h"

namespace sds {

GuidanceOutput Guidance::reference_loss(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                        int64_t, int64_t) {
  fail("this guidance has no reference view");
}

std::map<std::string, double> log_metrics(const Metrics& metrics) {
  std::vector<at::Tensor> values;
  for (const auto& [name, value] : metrics) {
    SDS_CHECK(value.defined() && value.numel() == 1,
              "metrics: \"{}\" must be a one-element tensor, got {}", name,
              value.defined() ? shape_string(value.sizes()) : "an undefined tensor");
    values.push_back(value);
  }
  const at::Tensor host = read_to_host(values);
  std::map<std::string, double> out;
  auto it = metrics.begin();
  for (int64_t i = 0; i < host.size(0); ++i, ++it) out[it->first] = host[i].item<double>();
  return out;
}

at::Tensor target_loss(const at::Tensor& z, const at::Tensor& g) {
  at::Tensor target = (z - g).detach();
  return 0.5 * (z - target).pow(2).sum() / static_cast<double>(z.size(0));
}

std::string view_dependent_prompt(const std::string& prompt, const Camera& camera) {
  return prompt + ", " + view_sector(camera.azimuth_deg(), camera.elevation_deg()) + " view";
}

template <>
void register_builtins<Guidance>(Registry<Guidance>& r) {
  r.add("sds", &Sds::from_config);
  r.add("csd", &Csd::from_config);
  r.add("nfsd", &Nfsd::from_config);
  r.add("ism", &Ism::from_config);
  r.add("vsd", &Vsd::from_config);
  r.add("magic123", &Magic123::from_config);
  r.add("bsd", &Bsd::from_config);
  r.add("reconstruction", &Reconstruction::from_config);
}

}  // namespace sds
