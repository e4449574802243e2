// composite_rays forward+backward: the fused CPU kernel against the same formula composed from
// ATen ops and differentiated by autograd (the baseline), and CUDA against CPU when present.

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <cstdio>
#include <functional>
#include <vector>

#include "bench_timing.h"
#include "reference/composite_rays_reference.h"
#include "sds/core/checks.h"
#include "sds/ops/composite_rays.h"

namespace {

using sds::bench::median_ms;

using sds::ops::CompositeRaysOutput;

const auto aten_composite = sds::test::composite_rays_reference;

struct Problem {
  at::Tensor sigmas, rgbs, deltas, ts, v_rgb, v_alpha, v_depth, v_weights;
  Problem to(const at::Device& d) const {
    return {sigmas.to(d), rgbs.to(d),    deltas.to(d),  ts.to(d),
            v_rgb.to(d),  v_alpha.to(d), v_depth.to(d), v_weights.to(d)};
  }
};

Problem make_problem(int64_t R, int64_t S) {
  at::manual_seed(0);
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  at::Tensor deltas = at::rand({R, S}, opts) * 0.02f + 0.01f;
  return {at::rand({R, S}, opts) * 10,
          at::rand({R, S, 3}, opts),
          deltas,
          2 + at::cumsum(deltas, 1) - deltas,
          at::randn({R, 3}, opts),
          at::randn({R}, opts),
          at::randn({R}, opts),
          at::randn({R, S}, opts)};
}

using Composite = std::function<CompositeRaysOutput(const at::Tensor&, const at::Tensor&,
                                                    const at::Tensor&, const at::Tensor&)>;

// One training-step's worth of work: forward, then backward of all four outputs into sigmas and
// rgbs (leaves, as a field's outputs would be non-leaf; the difference is nil here).
void step(const Composite& f, const Problem& p) {
  const at::Tensor s = p.sigmas.detach().requires_grad_(true);
  const at::Tensor c = p.rgbs.detach().requires_grad_(true);
  const CompositeRaysOutput o = f(s, c, p.deltas, p.ts);
  torch::autograd::grad({o.rgb, o.alpha, o.depth, o.weights}, {s, c},
                        {p.v_rgb, p.v_alpha, p.v_depth, p.v_weights});
}

void run(int64_t R, int64_t S, const char* what) {
  const Problem p = make_problem(R, S);
  const Composite fused = sds::ops::composite_rays;
  const Composite aten = aten_composite;
  const double t_fused = median_ms([&] { step(fused, p); }, p.sigmas, 3, 21);
  const double t_aten = median_ms([&] { step(aten, p); }, p.sigmas, 3, 21);
  std::printf("R=%lld S=%lld float32 (%s), forward+backward, CPU (%d threads)\n",
              static_cast<long long>(R), static_cast<long long>(S), what, at::get_num_threads());
  std::printf("  fused CPU:          %8.3f ms\n", t_fused);
  std::printf("  ATen autograd CPU:  %8.3f ms\n", t_aten);
  std::printf("  speedup: %.1fx\n", t_aten / t_fused);
  if (sds::built_with_cuda() && at::hasCUDA()) {
    const Problem g = p.to(at::Device(at::kCUDA));
    const double t_cuda = median_ms([&] { step(fused, g); }, g.sigmas, 5, 51);
    const double t_cuda_aten = median_ms([&] { step(aten, g); }, g.sigmas, 5, 51);
    std::printf("  fused CUDA:         %8.3f ms (%.1fx vs fused CPU)\n", t_cuda, t_fused / t_cuda);
    std::printf("  ATen autograd CUDA: %8.3f ms (fused CUDA speedup: %.1fx)\n", t_cuda_aten,
                t_cuda_aten / t_cuda);
  }
}

}  // namespace

int main() {
  run(16384, 96, "64x64 pixels x 4 views");
  run(65536, 64, "128x128 pixels x 4 views");
  return 0;
}
