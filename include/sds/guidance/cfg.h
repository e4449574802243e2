#pragma once
// Classifier-free guidance. Two conventions coexist in the literature (docs/conventions.md):
//   threestudio: eps = eps_c + s (eps_c - eps_u)   (s = 100 for SD in its SDS configs)
//   diffusers:   eps = eps_u + s (eps_c - eps_u)   (s = 7.5 for sampling; threestudio VSD)
// threestudio's s equals diffusers' s - 1.

#include <ATen/ATen.h>

#include <string>

namespace sds {

enum class CfgConvention { ThreeStudio, Diffusers };

/// "threestudio" or "diffusers"; anything else is an sds::Error.
CfgConvention parse_cfg_convention(const std::string& name);

/// The guided noise prediction for scale `scale` under `convention`.
at::Tensor apply_cfg(const at::Tensor& eps_cond, const at::Tensor& eps_uncond, double scale,
                     CfgConvention convention);

/// Whether the unconditional prediction contributes at all (false for threestudio s = 0 and
/// diffusers s = 1, which skips a prior evaluation).
bool cfg_needs_unconditional(double scale, CfgConvention convention);

}  // namespace sds
