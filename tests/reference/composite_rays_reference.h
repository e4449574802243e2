#pragma once
// composite_rays written with ATen ops and differentiated by autograd: the ground truth of the
// tests and the baseline of the benchmark.

#include <ATen/ATen.h>

#include "sds/ops/composite_rays.h"

namespace sds::test {

inline ops::CompositeRaysOutput composite_rays_reference(const at::Tensor& sigmas,
                                                         const at::Tensor& rgbs,
                                                         const at::Tensor& deltas,
                                                         const at::Tensor& ts) {
  const at::Tensor tau = sigmas * deltas;
  const at::Tensor alpha_i = 1 - at::exp(-tau);
  // Exclusive prefix sum: sum_{j<i} tau_j.
  const at::Tensor before =
      at::constant_pad_nd(at::cumsum(tau.narrow(1, 0, tau.size(1) - 1), 1), {1, 0}, 0.0);
  const at::Tensor w = at::exp(-before) * alpha_i;
  return {(w.unsqueeze(-1) * rgbs).sum(1), w.sum(1), (w * ts).sum(1), w};
}

}  // namespace sds::test
