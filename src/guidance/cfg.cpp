#include "sds/guidance/cfg.h"

#include "sds/core/error.h"

namespace sds {

CfgConvention parse_cfg_convention(const std::string& name) {
  if (name == "threestudio") return CfgConvention::ThreeStudio;
  if (name == "diffusers") return CfgConvention::Diffusers;
  fail("cfg: expected \"threestudio\" or \"diffusers\", got \"{}\"", name);
}

at::Tensor apply_cfg(const at::Tensor& eps_cond, const at::Tensor& eps_uncond, double scale,
                     CfgConvention convention) {
  if (convention == CfgConvention::ThreeStudio) return eps_cond + scale * (eps_cond - eps_uncond);
  return eps_uncond + scale * (eps_cond - eps_uncond);
}

bool cfg_needs_unconditional(double scale, CfgConvention convention) {
  return convention == CfgConvention::ThreeStudio ? scale != 0.0 : scale != 1.0;
}

}  // namespace sds
