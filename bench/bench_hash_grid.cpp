// hash_grid_encode forward+backward: the fused op against an ATen composition of the same math
// (what a user without a fused kernel writes, like torch-ngp's pure-PyTorch fallback: per level,
// floor, the 8 corner indices by integer tensor ops, index_select, weights, sum; backward by
// autograd, whose index_select backward is an index_add), and CUDA against CPU when present.
// Both sides run on all threads (ATen's element-wise ops and index_add parallelise by
// themselves), get the same points and upstream gradient, and are checked to agree before timing.
//
// Usage: bench_hash_grid [log2_points=18] [reps=5]

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "bench_timing.h"
#include "sds/core/checks.h"
#include "sds/ops/hash_grid.h"

namespace {

using sds::bench::median_ms;

using sds::ops::HashGridLayout;

// The encoding written with ATen ops (uint32 hash arithmetic emulated in int64 with a mask): the
// indices and weights of all levels and corners first, then one gather (so that autograd's
// backward is one index_add into one zero tensor, not one per corner and level).
at::Tensor aten_encode(const at::Tensor& params, const at::Tensor& u,
                       const HashGridLayout& layout) {
  const int64_t mask = 0xffffffffLL;
  std::vector<at::Tensor> indices, weights;
  for (const auto& level : layout.levels) {
    const at::Tensor pos = u * level.scale + 0.5;
    const at::Tensor g = at::floor(pos);
    const at::Tensor f = pos - g;
    const at::Tensor gi = g.to(at::kLong);
    for (int c = 0; c < 8; ++c) {
      std::vector<at::Tensor> v(3), w(3);
      for (int d = 0; d < 3; ++d) {
        const int bit = (c >> d) & 1;
        v[static_cast<size_t>(d)] = (gi.select(1, d) + bit) & mask;
        w[static_cast<size_t>(d)] = bit ? f.select(1, d) : 1 - f.select(1, d);
      }
      at::Tensor index;
      if (level.hashed) {
        index = at::bitwise_xor(at::bitwise_xor(v[0], (v[1] * 2654435761LL) & mask),
                                (v[2] * 805459861LL) & mask);
      } else {
        index =
            (v[0] + v[1] * level.resolution + v[2] * (level.resolution * level.resolution)) & mask;
      }
      indices.push_back(at::remainder(index, level.size) + level.offset);
      weights.push_back(w[0] * w[1] * w[2]);
    }
  }
  const int64_t n = u.size(0), L = static_cast<int64_t>(layout.levels.size());
  const at::Tensor index = at::stack(indices, 1);  // [N, L 8]
  const at::Tensor weight = at::stack(weights, 1).unsqueeze(2);
  const at::Tensor corners = params.index_select(0, index.view({-1})).view({n, L * 8, -1});
  return (corners * weight).view({n, L, 8, -1}).sum(2).view({n, -1});
}

struct Grads {
  at::Tensor out, dparams;
};

template <class Encode>
Grads forward_backward(Encode encode, const at::Tensor& params, const at::Tensor& u,
                       const at::Tensor& g) {
  const at::Tensor p = params.detach().requires_grad_(true);
  const at::Tensor out = encode(p, u);
  return {out, torch::autograd::grad({out}, {p}, {g})[0]};
}

}  // namespace

int main(int argc, char** argv) {
  const int log2_points = argc > 1 ? std::atoi(argv[1]) : 18;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  sds::ops::HashGridOptions options;  // threestudio's grid: 16 levels, 16 .. 4096, T = 2^19
  options.per_level_scale = 1.447269237440378;
  const HashGridLayout layout = HashGridLayout::make(options);
  const int64_t n = int64_t{1} << log2_points;
  at::manual_seed(0);
  const at::Tensor params = sds::ops::hash_grid_init(layout) * 1e3;
  const at::Tensor u = at::rand({n, 3});
  const at::Tensor g = at::randn({n, layout.n_output_dims()});
  auto fused = [&](const at::Tensor& p, const at::Tensor& x) {
    return sds::ops::hash_grid_encode(p, x, layout);
  };
  auto aten = [&](const at::Tensor& p, const at::Tensor& x) { return aten_encode(p, x, layout); };

  std::printf(
      "hash grid encoding forward+backward (params), %lld points, %d levels x %lld "
      "features, %lld entries, %d threads, median of %d\n",
      static_cast<long long>(n), static_cast<int>(layout.levels.size()),
      static_cast<long long>(options.n_features_per_level),
      static_cast<long long>(layout.n_entries), at::get_num_threads(), reps);
  const Grads a = forward_backward(fused, params, u, g);
  const Grads b = forward_backward(aten, params, u, g);
  const double out_diff = (a.out - b.out).abs().max().item<double>();
  const double grad_diff = (a.dparams - b.dparams).abs().max().item<double>();
  std::printf("agreement: max |out diff| %.2e, max |dparams diff| %.2e\n", out_diff, grad_diff);
  if (out_diff > 1e-3 || grad_diff > 1e-2) {
    std::printf("the two sides disagree: no timing\n");
    return 1;
  }
  const double t_fused = median_ms([&] { forward_backward(fused, params, u, g); }, u, 1, reps);
  const double t_aten = median_ms([&] { forward_backward(aten, params, u, g); }, u, 1, reps);
  std::printf("| side | ms | ns / point | fused speed-up |\n| --- | --- | --- | --- |\n");
  std::printf("| ATen composition (CPU) | %.1f | %.0f | 1.00 |\n", t_aten, 1e6 * t_aten / n);
  std::printf("| fused op (CPU) | %.1f | %.0f | %.2f |\n", t_fused, 1e6 * t_fused / n,
              t_aten / t_fused);

  // With the point gradient too (analytic normals' first pass).
  auto with_points = [&](auto encode) {
    const at::Tensor p = params.detach().requires_grad_(true);
    const at::Tensor x = u.detach().requires_grad_(true);
    torch::autograd::grad({encode(p, x)}, {p, x}, {g});
  };
  const double tp_fused = median_ms([&] { with_points(fused); }, u, 1, reps);
  const double tp_aten = median_ms([&] { with_points(aten); }, u, 1, reps);
  std::printf("| ATen composition, + point gradient (CPU) | %.1f | %.0f | 1.00 |\n", tp_aten,
              1e6 * tp_aten / n);
  std::printf("| fused op, + point gradient (CPU) | %.1f | %.0f | %.2f |\n", tp_fused,
              1e6 * tp_fused / n, tp_aten / tp_fused);

#ifdef SDS_WITH_CUDA
  if (at::cuda::is_available()) {
    const at::Device dev(at::kCUDA, 0);
    const at::Tensor pc = params.to(dev), uc = u.to(dev), gc = g.to(dev);
    const Grads c = forward_backward(fused, pc, uc, gc);
    std::printf("CUDA vs CPU: max |out diff| %.2e, max |dparams diff| %.2e\n",
                (c.out.cpu() - a.out).abs().max().item<double>(),
                (c.dparams.cpu() - a.dparams).abs().max().item<double>());
    const double t_cuda = median_ms([&] { forward_backward(fused, pc, uc, gc); }, uc, 1, reps * 4);
    const double t_cuda_aten =
        median_ms([&] { forward_backward(aten, pc, uc, gc); }, uc, 1, reps * 4);
    std::printf("| ATen composition (CUDA) | %.3f | %.2f | 1.00 |\n", t_cuda_aten,
                1e6 * t_cuda_aten / n);
    std::printf("| fused op (CUDA) | %.3f | %.2f | %.2f |\n", t_cuda, 1e6 * t_cuda / n,
                t_cuda_aten / t_cuda);
  }
#endif
  return 0;
}
