// The NeRF stack: the hash-grid encoding (layout against tiny-cuda-nn's numbers, values against
// ATen's grid sampler and a naive loop, first and second derivatives against finite differences,
// determinism, input checks, CUDA against CPU), packed compositing against composite_rays and
// ATen, ray marching against uniform marching filtered by the occupancy.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include "testing.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "helpers.h"
#include "reference/composite_rays_reference.h"
#include "sds/core/error.h"
#include "sds/core/json.h"
#include "sds/core/rng.h"
#include "sds/ops/composite_rays.h"
#include "sds/ops/hash_grid.h"
#include "sds/ops/march_rays.h"
#include "sds/repr/nerf.h"
#include "sds/repr/occupancy_grid.h"
#include "sds/repr/voxel_grid.h"
#include "sds/train/generate.h"
#include "sds/train/regularisers.h"

namespace {

using sds::ops::hash_grid_encode;
using sds::ops::HashGridLayout;
using sds::ops::HashGridOptions;
using sds::test::finite_difference;
using sds::test::max_abs_diff;

const auto kF64 = at::TensorOptions().dtype(at::kDouble);

// threestudio's text-to-3D grid: 16 levels from 16 to 4096 vertices per axis.
HashGridOptions threestudio_grid() {
  HashGridOptions o;
  o.per_level_scale = 1.447269237440378;
  return o;
}

// A small grid with both kinds of level: 4^3 dense, then three hashed levels of 256 entries.
HashGridOptions small_grid(int64_t features = 2) {
  HashGridOptions o;
  o.n_levels = 4;
  o.n_features_per_level = features;
  o.log2_hashmap_size = 8;
  o.base_resolution = 4;
  o.per_level_scale = 2.0;
  return o;
}

// A naive float64 encoding written from tiny-cuda-nn's rules, one corner at a time.
at::Tensor naive_encode(const at::Tensor& params, const at::Tensor& points,
                        const HashGridLayout& layout) {
  const int64_t F = layout.options.n_features_per_level, L = layout.options.n_levels;
  const at::Tensor P = params.to(at::kDouble).contiguous(), U = points.to(at::kDouble).contiguous();
  at::Tensor out = at::zeros({U.size(0), L * F}, kF64);
  auto p = P.accessor<double, 2>();
  auto u = U.accessor<double, 2>();
  auto o = out.accessor<double, 2>();
  for (int64_t n = 0; n < U.size(0); ++n) {
    for (int64_t l = 0; l < L; ++l) {
      const auto& level = layout.levels[static_cast<size_t>(l)];
      double pos[3];
      int64_t g[3];
      for (int d = 0; d < 3; ++d) {
        pos[d] = u[n][d] * level.scale + 0.5;
        g[d] = static_cast<int64_t>(std::floor(pos[d]));
        pos[d] -= static_cast<double>(g[d]);
      }
      for (int c = 0; c < 8; ++c) {
        double w = 1;
        uint32_t v[3];
        for (int d = 0; d < 3; ++d) {
          const int bit = (c >> d) & 1;
          w *= bit ? pos[d] : 1 - pos[d];
          v[d] = static_cast<uint32_t>(g[d] + bit);
        }
        uint64_t index;
        if (level.hashed) {
          index = (v[0] ^ static_cast<uint32_t>(v[1] * 2654435761ull) ^
                   static_cast<uint32_t>(v[2] * 805459861ull)) %
                  static_cast<uint64_t>(level.size);
        } else {
          const uint64_t r = static_cast<uint64_t>(level.resolution);
          index = (v[0] + v[1] * r + v[2] * r * r) % static_cast<uint64_t>(level.size);
        }
        for (int64_t f = 0; f < F; ++f) {
          o[n][l * F + f] += w * p[level.offset + static_cast<int64_t>(index)][f];
        }
      }
    }
  }
  return out;
}

// Random points of the unit cube at least `margin` (in cell units) from every cell face of every
// level, so that finite differences of step h stay inside one cell.
at::Tensor interior_points(const HashGridLayout& layout, int64_t n, double margin) {
  std::vector<at::Tensor> kept;
  int64_t count = 0;
  while (count < n) {
    const at::Tensor u = at::rand({4 * n, 3}, kF64) * 0.9 + 0.05;
    at::Tensor ok = at::ones({4 * n}, at::TensorOptions().dtype(at::kBool));
    for (const auto& level : layout.levels) {
      const at::Tensor frac = at::frac(u * level.scale + 0.5);
      ok = ok & ((frac > margin) & (frac < 1 - margin)).all(1);
    }
    const at::Tensor good = u.index({ok});
    kept.push_back(good);
    count += good.size(0);
  }
  return at::cat(kept).slice(0, 0, n).contiguous();
}

}  // namespace

TEST_CASE("hash grid layout matches tiny-cuda-nn's level table", "[ops][hash_grid]") {
  // threestudio's grid: 5 dense levels (16, 24, 34, 49, 71 vertices; their cubes rounded up to a
  // multiple of 8), then 11 hashed levels of 2^19 entries: 6,299,960 entries, 12.6 M parameters.
  const HashGridLayout t = HashGridLayout::make(threestudio_grid());
  const std::vector<int64_t> resolutions{16, 24, 34, 49, 71, 102};
  const std::vector<int64_t> offsets{0, 4096, 17920, 57224, 174880, 532792, 1057080};
  for (size_t l = 0; l < resolutions.size(); ++l) {
    CHECK(t.levels[l].resolution == resolutions[l]);
  }
  for (size_t l = 0; l < offsets.size(); ++l) CHECK(t.levels[l].offset == offsets[l]);
  for (size_t l = 0; l < 16; ++l) CHECK(t.levels[l].hashed == (l >= 5));
  CHECK(t.levels[15].scale == Approx(4095.0).epsilon(1e-5));
  CHECK(t.n_entries == 6299960);
  CHECK(t.n_params() == 12599920);
  CHECK(t.n_output_dims() == 32);

  // tiny-cuda-nn's defaults (per_level_scale 2): 16^3, 32^3 and 64^3 dense, then 13 x 2^19.
  const HashGridLayout d = HashGridLayout::make(HashGridOptions{});
  CHECK(d.levels[3].resolution == 128);
  CHECK(d.levels[3].hashed);
  CHECK(d.n_entries == 4096 + 32768 + 262144 + 13 * 524288);

  // A dense level whose cube is not a multiple of 8 is padded: 5^3 = 125 -> 128.
  HashGridOptions o = small_grid();
  o.base_resolution = 5;
  o.n_levels = 1;
  CHECK(HashGridLayout::make(o).n_entries == 128);
}

TEST_CASE("hash grid forward matches a naive loop and ATen's grid sampler", "[ops][hash_grid]") {
  at::manual_seed(1);
  for (const int64_t F : {1, 2, 4, 8}) {
    const HashGridLayout layout = HashGridLayout::make(small_grid(F));
    const at::Tensor params = at::randn({layout.n_entries, F}, kF64);
    // Inside the cube, on its faces and corners, and outside it (wrapping, memory-safe).
    const at::Tensor points = at::cat({at::rand({300, 3}, kF64), at::randint(0, 2, {30, 3}, kF64),
                                       at::rand({30, 3}, kF64) * 3 - 1});
    const at::Tensor out = hash_grid_encode(params, points, layout);
    REQUIRE(out.sizes() == at::IntArrayRef({points.size(0), 4 * F}));
    CHECK(max_abs_diff(out, naive_encode(params, points, layout)) < 1e-12);
    const at::Tensor out32 = hash_grid_encode(params.to(at::kFloat), points.to(at::kFloat), layout);
    CHECK(max_abs_diff(out32, out) < 1e-4 * (1 + out.abs().max().item<double>()));
  }
  // A dense level is trilinear interpolation of the grid of its vertices, vertex i at
  // u = (i - 0.5) / scale: ATen's sampler (align_corners) over the same values.
  HashGridOptions o = small_grid(2);
  o.n_levels = 1;
  o.log2_hashmap_size = 10;
  o.base_resolution = 9;  // 729 vertices, padded to 736 entries
  const HashGridLayout layout = HashGridLayout::make(o);
  const at::Tensor params = at::randn({layout.n_entries, 2}, kF64);
  const int64_t r = layout.levels[0].resolution;
  const at::Tensor grid = params.slice(0, 0, r * r * r).view({r, r, r, 2}).permute({3, 0, 1, 2});
  const double scale = layout.levels[0].scale;
  // Points whose cell lies inside the vertex grid: p = u scale + 0.5 in [0, r - 1].
  const at::Tensor u = (at::rand({200, 3}, kF64) * (r - 1) - 0.5) / scale;
  const at::Tensor x = -1 + 2 * (u * scale + 0.5) / static_cast<double>(r - 1);
  const at::Tensor expected =
      at::grid_sampler(grid.unsqueeze(0), x.view({1, 1, 1, -1, 3}), 0, 0, true).view({2, -1}).t();
  CHECK(max_abs_diff(hash_grid_encode(params, u, layout), expected) < 1e-12);
}

TEST_CASE("hash grid first derivatives agree with finite differences", "[ops][hash_grid]") {
  at::manual_seed(2);
  const HashGridLayout layout = HashGridLayout::make(small_grid(2));
  const at::Tensor params = at::randn({layout.n_entries, 2}, kF64);
  const at::Tensor points = interior_points(layout, 12, 1e-3);
  const at::Tensor r = at::randn({12, 8}, kF64);
  auto loss = [&](const at::Tensor& p, const at::Tensor& u) {
    return (hash_grid_encode(p, u, layout) * r).sum();
  };
  const at::Tensor p = params.clone().set_requires_grad(true);
  const at::Tensor u = points.clone().set_requires_grad(true);
  const auto grads = torch::autograd::grad({loss(p, u)}, {p, u});
  const at::Tensor fd_u =
      finite_difference([&](const at::Tensor& x) { return loss(params, x); }, points, 1e-7);
  CHECK(max_abs_diff(grads[1], fd_u) < 1e-5 * (1 + fd_u.abs().max().item<double>()));
  // Linear in the parameters: every used entry's derivative is a sum of weights times r.
  const at::Tensor fd_p =
      finite_difference([&](const at::Tensor& x) { return loss(x, points); }, params, 1e-3);
  CHECK(max_abs_diff(grads[0], fd_p) < 1e-9);
  CHECK(grads[0].abs().sum().item<double>() > 0);
}

TEST_CASE("hash grid second derivatives agree with finite differences", "[ops][hash_grid]") {
  at::manual_seed(3);
  const HashGridLayout layout = HashGridLayout::make(small_grid(2));
  const int64_t n = 10;
  const at::Tensor params0 = at::randn({layout.n_entries, 2}, kF64);
  const at::Tensor points0 = interior_points(layout, n, 1e-3);
  const at::Tensor scale0 = at::randn({8}, kF64);  // a "network" after the encoding
  const at::Tensor r = at::randn({n, 8}, kF64);
  const at::Tensor w = at::randn({n, 3}, kF64);

  // A normal-like loss: L2 = sum(w * dL1/du), with L1 = sum(r * (enc(theta, u) * s)^2 / 2) so
  // that the upstream gradient depends on theta, u and s.
  auto second = [&](const at::Tensor& theta, const at::Tensor& u, const at::Tensor& s,
                    bool create_graph) {
    const at::Tensor uu = create_graph ? u : u.detach().requires_grad_(true);
    const at::Tensor y = hash_grid_encode(theta, uu, layout) * s;
    const at::Tensor l1 = (r * y * y).sum() / 2;
    const at::Tensor du = torch::autograd::grad({l1}, {uu}, {}, true, create_graph)[0];
    return (w * du).sum();
  };
  const at::Tensor theta = params0.clone().set_requires_grad(true);
  const at::Tensor u = points0.clone().set_requires_grad(true);
  const at::Tensor s = scale0.clone().set_requires_grad(true);
  const auto grads = torch::autograd::grad({second(theta, u, s, true)}, {theta, u, s});

  const at::Tensor fd_s = finite_difference(
      [&](const at::Tensor& x) { return second(params0, points0, x, false); }, scale0, 1e-6);
  CHECK(max_abs_diff(grads[2], fd_s) < 1e-6 * (1 + fd_s.abs().max().item<double>()));
  const at::Tensor fd_u = finite_difference(
      [&](const at::Tensor& x) { return second(params0, x, scale0, false); }, points0, 1e-7);
  CHECK(max_abs_diff(grads[1], fd_u) < 1e-4 * (1 + fd_u.abs().max().item<double>()));
  CHECK(fd_u.abs().max().item<double>() > 1e-3);  // the mixed second derivatives are not zero
  const at::Tensor fd_t = finite_difference(
      [&](const at::Tensor& x) { return second(x, points0, scale0, false); }, params0, 1e-5);
  CHECK(max_abs_diff(grads[0], fd_t) < 1e-6 * (1 + fd_t.abs().max().item<double>()));

  // The parameter gradient is differentiable too: a loss on it, w.r.t. s and u.
  const at::Tensor q = at::randn({layout.n_entries, 2}, kF64);
  auto on_param_grad = [&](const at::Tensor& uu, const at::Tensor& ss, bool create_graph) {
    const at::Tensor th = params0.clone().requires_grad_(true);
    const at::Tensor l1 = (r * hash_grid_encode(th, uu, layout) * ss).sum();
    const at::Tensor dtheta = torch::autograd::grad({l1}, {th}, {}, true, create_graph)[0];
    return (q * dtheta).sum();
  };
  const at::Tensor u2 = points0.clone().set_requires_grad(true);
  const at::Tensor s2 = scale0.clone().set_requires_grad(true);
  const auto g2 = torch::autograd::grad({on_param_grad(u2, s2, true)}, {u2, s2});
  const at::Tensor fd_s2 = finite_difference(
      [&](const at::Tensor& x) { return on_param_grad(points0, x, false); }, scale0, 1e-6);
  const at::Tensor fd_u2 = finite_difference(
      [&](const at::Tensor& x) { return on_param_grad(x, scale0, false); }, points0, 1e-7);
  CHECK(max_abs_diff(g2[1], fd_s2) < 1e-6 * (1 + fd_s2.abs().max().item<double>()));
  CHECK(max_abs_diff(g2[0], fd_u2) < 1e-4 * (1 + fd_u2.abs().max().item<double>()));
}

TEST_CASE("hash grid gradients are the same for any CPU thread count", "[ops][hash_grid]") {
  at::manual_seed(4);
  const HashGridLayout layout = HashGridLayout::make(small_grid(2));
  const at::Tensor params = at::randn({layout.n_entries, 2});
  const at::Tensor points = at::rand({5000, 3});
  const at::Tensor r = at::randn({5000, 8});
  auto grads = [&] {
    const at::Tensor p = params.clone().set_requires_grad(true);
    const at::Tensor u = points.clone().set_requires_grad(true);
    return torch::autograd::grad({(hash_grid_encode(p, u, layout) * r).sum()}, {p, u});
  };
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = grads();
  at::set_num_threads(std::max(2, threads));
  const auto many = grads();
  at::set_num_threads(threads);
  CHECK(at::equal(one[0], many[0]));
  CHECK(at::equal(one[1], many[1]));
}

TEST_CASE("hash grid rejects bad settings and inputs with sds::Error", "[ops][hash_grid]") {
  auto bad = [](auto edit) {
    HashGridOptions o;
    edit(o);
    return o;
  };
  CHECK_THROWS_AS(HashGridLayout::make(bad([](auto& o) { o.n_levels = 0; })), sds::Error);
  CHECK_THROWS_AS(HashGridLayout::make(bad([](auto& o) { o.n_levels = 33; })), sds::Error);
  CHECK_THROWS_AS(HashGridLayout::make(bad([](auto& o) { o.n_features_per_level = 3; })),
                  sds::Error);
  CHECK_THROWS_AS(HashGridLayout::make(bad([](auto& o) { o.log2_hashmap_size = 3; })), sds::Error);
  CHECK_THROWS_AS(HashGridLayout::make(bad([](auto& o) { o.log2_hashmap_size = 25; })), sds::Error);
  CHECK_THROWS_AS(HashGridLayout::make(bad([](auto& o) { o.base_resolution = 1; })), sds::Error);
  CHECK_THROWS_AS(HashGridLayout::make(bad([](auto& o) { o.per_level_scale = 0.5; })), sds::Error);
  CHECK_THROWS_AS(HashGridLayout::make(bad([](auto& o) { o.per_level_scale = NAN; })), sds::Error);
  // 16 levels growing 2.1x from 16: the finest would have 16 x 2.1^15 = 1.09 M vertices per axis.
  CHECK_THROWS_WITH(HashGridLayout::make(bad([](auto& o) { o.per_level_scale = 2.1; })),
                    Catch::Contains("finest level"));
  const HashGridLayout layout = HashGridLayout::make(small_grid(2));
  const at::Tensor params = at::zeros({layout.n_entries, 2});
  CHECK_THROWS_AS(hash_grid_encode(params, at::rand({4, 2}), layout), sds::Error);
  CHECK_THROWS_AS(hash_grid_encode(params, at::rand({4, 3}, kF64), layout), sds::Error);
  CHECK_THROWS_AS(hash_grid_encode(at::zeros({layout.n_entries + 1, 2}), at::rand({4, 3}), layout),
                  sds::Error);
  CHECK_THROWS_AS(hash_grid_encode(params.to(at::kInt), at::rand({4, 3}).to(at::kInt), layout),
                  sds::Error);
  CHECK_THROWS_AS(hash_grid_encode(params, at::rand({4, 3}), HashGridLayout{}), sds::Error);
  CHECK(hash_grid_encode(params, at::rand({0, 3}), layout).sizes() == at::IntArrayRef({0, 8}));
}

TEST_CASE("hash grid CUDA matches CPU", "[ops][hash_grid][cuda]") {
  SDS_REQUIRE_CUDA();
  at::manual_seed(5);
  const HashGridLayout layout = HashGridLayout::make(threestudio_grid());
  const at::Tensor params = at::randn({layout.n_entries, 2}) * 0.1;
  const at::Tensor points = at::rand({20000, 3});
  const at::Tensor r = at::randn({20000, 32});
  const at::Tensor w = at::randn({20000, 3});
  auto run = [&](const at::Device& device) {
    const at::Tensor p = params.to(device).set_requires_grad(true);
    const at::Tensor u = points.to(device).set_requires_grad(true);
    const at::Tensor y = hash_grid_encode(p, u, layout);
    const at::Tensor du =
        torch::autograd::grad({(y * y * r.to(device)).sum()}, {u}, {}, true, true)[0];
    const auto g =
        torch::autograd::grad({(du * w.to(device)).sum() + (y * r.to(device)).sum()}, {p, u});
    return std::vector<at::Tensor>{y.cpu(), du.cpu(), g[0].cpu(), g[1].cpu()};
  };
  const auto cpu = run(at::kCPU);
  const auto cuda = run(at::Device(at::kCUDA, 0));
  for (size_t i = 0; i < cpu.size(); ++i) {
    INFO("output " << i);
    CHECK(max_abs_diff(cpu[i], cuda[i]) < 1e-4 * (1 + cpu[i].abs().max().item<double>()));
  }
}

namespace {

// R rays with ragged sample counts (some none), packed; and the same rays padded to S samples
// with zero density (which adds nothing) for the dense op.
struct Ragged {
  at::Tensor sigmas, rgbs, deltas, ts, offsets;    // packed
  at::Tensor dsigmas, drgbs, ddeltas, dts, valid;  // dense [R, S], valid marks real samples
};

Ragged ragged_rays(int64_t R, int64_t S, at::ScalarType dtype) {
  const auto opts = at::TensorOptions().dtype(dtype);
  Ragged g;
  const at::Tensor counts = at::randint(0, S + 1, {R}, at::TensorOptions().dtype(at::kLong));
  g.valid = at::arange(S, at::TensorOptions().dtype(at::kLong)).unsqueeze(0) < counts.unsqueeze(1);
  g.dsigmas = at::where(g.valid, at::rand({R, S}, opts) * 3, 0.0).to(dtype);
  g.drgbs = at::rand({R, S, 3}, opts);
  g.ddeltas = at::rand({R, S}, opts) * 0.3 + 0.01;
  g.dts = at::cumsum(g.ddeltas, 1);
  g.offsets = at::cat({at::zeros({1}, counts.options()), counts.cumsum(0)});
  g.sigmas = g.dsigmas.index({g.valid});
  g.rgbs = g.drgbs.index({g.valid});
  g.deltas = g.ddeltas.index({g.valid});
  g.ts = g.dts.index({g.valid});
  return g;
}

}  // namespace

TEST_CASE("packed compositing equals composite_rays on the same samples", "[ops][composite_rays]") {
  at::manual_seed(6);
  const Ragged g = ragged_rays(64, 24, at::kDouble);
  const at::Tensor s = g.sigmas.clone().requires_grad_(true);
  const at::Tensor c = g.rgbs.clone().requires_grad_(true);
  const auto packed = sds::ops::composite_rays_packed(s, c, g.deltas, g.ts, g.offsets);
  const at::Tensor ds = g.dsigmas.clone().requires_grad_(true);
  const at::Tensor dc = g.drgbs.clone().requires_grad_(true);
  const auto dense = sds::ops::composite_rays(ds, dc, g.ddeltas, g.dts);
  const auto ref = sds::test::composite_rays_reference(g.dsigmas, g.drgbs, g.ddeltas, g.dts);
  CHECK(max_abs_diff(packed.rgb, dense.rgb) < 1e-14);
  CHECK(max_abs_diff(packed.alpha, dense.alpha) < 1e-14);
  CHECK(max_abs_diff(packed.depth, dense.depth) < 1e-14);
  CHECK(max_abs_diff(packed.weights, dense.weights.index({g.valid})) < 1e-14);
  CHECK(max_abs_diff(packed.rgb, ref.rgb) < 1e-12);
  CHECK(max_abs_diff(packed.depth, ref.depth) < 1e-12);
  CHECK(packed.alpha.min().item<double>() >= 0);  // empty rays: 0
  // Every output carries a gradient, the weights' too (as when normals are composited).
  const at::Tensor vr = at::randn({64, 3}, kF64), va = at::randn({64}, kF64),
                   vd = at::randn({64}, kF64), vw = at::randn({g.sigmas.size(0)}, kF64);
  at::Tensor vw_dense = at::zeros({64, 24}, kF64);
  vw_dense.index_put_({g.valid}, vw);
  const auto gp = torch::autograd::grad({(packed.rgb * vr).sum() + (packed.alpha * va).sum() +
                                         (packed.depth * vd).sum() + (packed.weights * vw).sum()},
                                        {s, c});
  const auto gd =
      torch::autograd::grad({(dense.rgb * vr).sum() + (dense.alpha * va).sum() +
                             (dense.depth * vd).sum() + (dense.weights * vw_dense).sum()},
                            {ds, dc});
  CHECK(max_abs_diff(gp[0], gd[0].index({g.valid})) < 1e-12);
  CHECK(max_abs_diff(gp[1], gd[1].index({g.valid})) < 1e-12);

  const at::Tensor bad_offsets = g.offsets.flip(0);
  CHECK_THROWS_AS(sds::ops::composite_rays_packed(g.sigmas, g.rgbs, g.deltas, g.ts, bad_offsets),
                  sds::Error);
  CHECK_THROWS_AS(
      sds::ops::composite_rays_packed(g.sigmas, g.rgbs, g.deltas, g.ts, g.offsets.to(at::kInt)),
      sds::Error);
  CHECK_THROWS_AS(
      sds::ops::composite_rays_packed(g.sigmas, g.rgbs.slice(0, 1), g.deltas, g.ts, g.offsets),
      sds::Error);
}

namespace {

// Rays from a sphere of radius 3 towards random points of the cube [-1, 1]^3, with their entry
// and exit distances.
struct RayBatch {
  at::Tensor o, d, near, far;
};

RayBatch random_rays(int64_t R, at::ScalarType dtype) {
  const at::Tensor eye = at::randn({R, 3}, kF64);
  const at::Tensor o = 3 * eye / eye.norm(2, 1, true);
  const at::Tensor target = at::rand({R, 3}, kF64) * 1.6 - 0.8;
  const at::Tensor d = (target - o) / (target - o).norm(2, 1, true);
  const at::Tensor inv = 1.0 / d;
  const at::Tensor t0 = (-1.0 - o) * inv, t1 = (1.0 - o) * inv;
  const at::Tensor near = at::minimum(t0, t1).amax(-1), far = at::maximum(t0, t1).amin(-1);
  return {o.to(dtype), d.to(dtype), near.to(dtype), far.to(dtype)};
}

// Uniform marching of one ray, kept where `occupied` (a function of the midpoint) says so.
template <class Keep>
std::vector<double> uniform_march(const at::Tensor& o, const at::Tensor& d, double near, double far,
                                  double jitter, double step, Keep keep) {
  std::vector<double> starts;
  for (int64_t k = 0;; ++k) {
    const double mid = near + (static_cast<double>(k) + jitter + 0.5) * step;
    if (!(mid < far)) break;
    if (keep((o + d * mid).contiguous())) starts.push_back(mid - 0.5 * step);
  }
  return starts;
}

}  // namespace

TEST_CASE("march_rays equals uniform marching filtered by the occupancy", "[ops][march_rays]") {
  at::manual_seed(7);
  const int64_t R = 200;
  const RayBatch rays = random_rays(R, at::kDouble);
  const at::Tensor jitter = at::rand({R}, kF64);
  const double step = 0.037;
  // A random occupancy of 8 x 6 x 10 cells (anisotropic, to catch a transposed index).
  const at::Tensor occ = at::rand({8, 6, 10}) < 0.3;
  const at::Tensor full = at::ones({8, 6, 10}, at::TensorOptions().dtype(at::kBool));
  for (const bool all : {true, false}) {
    const at::Tensor grid = all ? full : occ;
    const auto m =
        sds::ops::march_rays(rays.o, rays.d, rays.near, rays.far, grid, 1.0, step, jitter);
    auto acc = grid.accessor<bool, 3>();
    auto keep = [&](const at::Tensor& x) {
      const auto p = x.accessor<double, 1>();
      const double cx = (p[0] + 1) / 2 * 8, cy = (p[1] + 1) / 2 * 6, cz = (p[2] + 1) / 2 * 10;
      if (cx < 0 || cy < 0 || cz < 0 || cx >= 8 || cy >= 6 || cz >= 10) return false;
      return acc[static_cast<int64_t>(cx)][static_cast<int64_t>(cy)][static_cast<int64_t>(cz)];
    };
    int64_t mismatched = 0, total = 0;
    double worst = 0;
    for (int64_t r = 0; r < R; ++r) {
      const std::vector<double> expected =
          uniform_march(rays.o[r], rays.d[r], rays.near[r].item<double>(),
                        rays.far[r].item<double>(), jitter[r].item<double>(), step, keep);
      const int64_t first = m.ray_offsets[r].item<int64_t>();
      const int64_t count = m.ray_offsets[r + 1].item<int64_t>() - first;
      total += count;
      if (count != static_cast<int64_t>(expected.size())) {
        ++mismatched;
        continue;
      }
      for (int64_t i = 0; i < count; ++i) {
        worst = std::max(worst, std::abs(m.t_starts[first + i].item<double>() -
                                         expected[static_cast<size_t>(i)]));
        CHECK(m.ray_indices[first + i].item<int64_t>() == r);
      }
    }
    INFO("all occupied: " << all);
    CHECK(mismatched == 0);
    CHECK(worst < 1e-12);
    CHECK(total == m.t_starts.size(0));
    CHECK(max_abs_diff(m.t_ends - m.t_starts, at::full_like(m.t_starts, step)) < 1e-12);
    CHECK(total > (all ? 5000 : 500));
  }
  // Empty grid, empty batch, rays that miss (far <= near).
  const auto none =
      sds::ops::march_rays(rays.o, rays.d, rays.near, rays.far, full.logical_not(), 1.0, step);
  CHECK(none.t_starts.size(0) == 0);
  CHECK(none.ray_offsets.size(0) == R + 1);
  const auto missed = sds::ops::march_rays(rays.o, rays.d, rays.far, rays.near, full, 1.0, step);
  CHECK(missed.t_starts.size(0) == 0);
  // Bad input.
  CHECK_THROWS_AS(
      sds::ops::march_rays(rays.o, rays.d, rays.near, rays.far, full.to(at::kFloat), 1.0, step),
      sds::Error);
  CHECK_THROWS_AS(sds::ops::march_rays(rays.o, rays.d, rays.near, rays.far, full, 1.0, 0.0),
                  sds::Error);
  CHECK_THROWS_AS(sds::ops::march_rays(rays.o, rays.d, rays.near, rays.far, full, -1.0, step),
                  sds::Error);
  CHECK_THROWS_AS(
      sds::ops::march_rays(rays.o, rays.d.to(at::kFloat), rays.near, rays.far, full, 1.0, step),
      sds::Error);
  CHECK_THROWS_AS(
      sds::ops::march_rays(rays.o, rays.d, rays.near.slice(0, 1), rays.far, full, 1.0, step),
      sds::Error);
}

TEST_CASE("march_rays and packed compositing: CUDA matches CPU", "[ops][march_rays][cuda]") {
  SDS_REQUIRE_CUDA();
  at::manual_seed(8);
  const at::Device dev(at::kCUDA, 0);
  const RayBatch rays = random_rays(5000, at::kFloat);
  const at::Tensor jitter = at::rand({5000});
  const at::Tensor occ = at::rand({32, 32, 32}) < 0.4;
  const auto cpu =
      sds::ops::march_rays(rays.o, rays.d, rays.near, rays.far, occ, 1.0, 0.01, jitter);
  const auto cuda = sds::ops::march_rays(rays.o.to(dev), rays.d.to(dev), rays.near.to(dev),
                                         rays.far.to(dev), occ.to(dev), 1.0, 0.01, jitter.to(dev));
  REQUIRE(at::equal(cpu.ray_offsets, cuda.ray_offsets.cpu()));
  CHECK(at::equal(cpu.ray_indices, cuda.ray_indices.cpu()));
  CHECK(max_abs_diff(cpu.t_starts, cuda.t_starts) < 1e-5);

  const Ragged g = ragged_rays(3000, 40, at::kFloat);
  auto run = [&](const at::Device& device) {
    const at::Tensor s = g.sigmas.to(device).requires_grad_(true);
    const at::Tensor c = g.rgbs.to(device).requires_grad_(true);
    const auto out = sds::ops::composite_rays_packed(s, c, g.deltas.to(device), g.ts.to(device),
                                                     g.offsets.to(device));
    const auto grads = torch::autograd::grad(
        {out.rgb.sum() + out.depth.sum() + out.weights.square().sum()}, {s, c});
    return std::vector<at::Tensor>{out.rgb.cpu(), out.alpha.cpu(), out.weights.cpu(),
                                   grads[0].cpu(), grads[1].cpu()};
  };
  const auto a = run(at::kCPU), b = run(dev);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("output " << i);
    CHECK(max_abs_diff(a[i], b[i]) < 1e-4 * (1 + a[i].abs().max().item<double>()));
  }
}

namespace {

// A density that is constant on the cells of a 16^3 grid over [-1, 1]^3: 40 in the cells of
// `mask`, 0 elsewhere.
struct CellField {
  at::Tensor mask;  // [16, 16, 16] bool, [x, y, z]
  at::Tensor operator()(const at::Tensor& x) const {
    const at::Tensor idx = ((x + 1) / 2 * 16).floor().clamp(0, 15).to(at::kLong);
    const at::Tensor flat = (idx.select(1, 0) * 16 + idx.select(1, 1)) * 16 + idx.select(1, 2);
    return mask.view({-1}).index_select(0, flat).to(at::kFloat) * 40.0;
  }
};

}  // namespace

TEST_CASE("occupancy grid marks exactly the cells with density and marching skips only empty ones",
          "[repr][occupancy_grid]") {
  at::manual_seed(9);
  CellField field{at::rand({16, 16, 16}) < 0.15};
  sds::OccupancyGridOptions options;
  options.resolution = 16;
  sds::OccupancyGrid grid(options, 1.0);
  CHECK(grid.binary().all().item<bool>());  // before any update, every cell is marched
  const double step = 0.02;
  auto evaluate = [&](const at::Tensor& x) { return field(x) * step; };
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(3);
  grid.update(0, evaluate, gen);
  CHECK(at::equal(grid.binary(), field.mask));

  // Rendering the field through the grid's packed samples equals the dense render over every
  // uniform sample: nothing with density was skipped.
  const RayBatch rays = random_rays(300, at::kFloat);
  const auto m = grid.march(rays.o, rays.d, step);
  const at::Tensor mid = 0.5 * (m.t_starts + m.t_ends);
  const at::Tensor x = rays.o.index_select(0, m.ray_indices) +
                       rays.d.index_select(0, m.ray_indices) * mid.unsqueeze(1);
  const at::Tensor colours = at::rand({x.size(0), 3});
  const auto packed = sds::ops::composite_rays_packed(field(x), at::ones({x.size(0), 3}),
                                                      m.t_ends - m.t_starts, mid, m.ray_offsets);
  const sds::ops::MarchedSamples every =
      sds::ops::march_rays(rays.o, rays.d, rays.near.clamp_min(0), rays.far,
                           at::ones({1, 1, 1}, at::TensorOptions().dtype(at::kBool)), 1.0, step);
  const at::Tensor mid_all = 0.5 * (every.t_starts + every.t_ends);
  const at::Tensor x_all = rays.o.index_select(0, every.ray_indices) +
                           rays.d.index_select(0, every.ray_indices) * mid_all.unsqueeze(1);
  const auto dense =
      sds::ops::composite_rays_packed(field(x_all), at::ones({x_all.size(0), 3}),
                                      every.t_ends - every.t_starts, mid_all, every.ray_offsets);
  CHECK(m.t_starts.size(0) < every.t_starts.size(0) / 2);  // most of the box is skipped
  CHECK(max_abs_diff(packed.alpha, dense.alpha) < 1e-5);
  CHECK(dense.alpha.max().item<double>() > 0.5);

  // After the warm-up, an update re-evaluates every occupied cell (there are fewer than a
  // quarter of the cells): where the density vanished, the occupancy decays by exactly 0.95.
  const at::Tensor before = grid.occupancy().clone();
  CellField emptied{field.mask.clone()};
  emptied.mask.select(0, 3).zero_();
  grid.update(
      options.warmup_steps, [&](const at::Tensor& p) { return emptied(p) * step; }, gen);
  const at::Tensor vanished = field.mask & emptied.mask.logical_not();
  REQUIRE(vanished.any().item<bool>());
  CHECK(max_abs_diff(grid.occupancy().index({vanished}), before.index({vanished}) * 0.95) < 1e-7);
  CHECK(at::equal(grid.binary(), field.mask));  // 0.95 x 0.8 is still occupied

  sds::OccupancyGridOptions bad = options;
  bad.resolution = 0;
  CHECK_THROWS_AS(sds::OccupancyGrid(bad, 1.0), sds::Error);
  bad = options;
  bad.ema_decay = 1.5;
  CHECK_THROWS_AS(sds::OccupancyGrid(bad, 1.0), sds::Error);
  CHECK_THROWS_AS(sds::OccupancyGrid(options, 0.0), sds::Error);
}

namespace {

sds::NerfOptions small_nerf() {
  sds::NerfOptions o;
  o.grid = small_grid(2);
  o.grid.n_levels = 6;
  o.grid.log2_hashmap_size = 12;
  o.samples_per_ray = 128;
  o.occupancy_grid.resolution = 32;
  return o;
}

sds::CameraBatch two_views(int64_t size) {
  return sds::CameraBatch({sds::Camera::orbit(20, 30, 3.0, 40, size, size),
                           sds::Camera::orbit(-10, 200, 3.0, 40, size, size)});
}

}  // namespace

TEST_CASE("nerf renders its initial blob and trains every part", "[repr][nerf]") {
  sds::Nerf nerf(small_nerf(), 0);
  const sds::CameraBatch cams = two_views(24);
  sds::RenderOptions ro;
  const sds::RenderOutput out = nerf.render(cams, ro);
  REQUIRE(out.rgb.sizes() == at::IntArrayRef({2, 3, 24, 24}));
  REQUIRE(out.alpha.sizes() == at::IntArrayRef({2, 1, 24, 24}));
  REQUIRE(out.normal.sizes() == at::IntArrayRef({2, 3, 24, 24}));
  CHECK(at::isfinite(out.rgb).all().item<bool>());
  // Magic3D's blob (sigma = softplus(10 (1 - |x| / 0.5))): opaque through the centre, empty at
  // the image corners; the albedo starts at sigmoid(0) = 0.5 grey.
  CHECK(out.alpha[0][0][12][12].item<double>() > 0.99);
  CHECK(out.alpha[0][0][0][0].item<double>() < 1e-3);
  CHECK(out.rgb[0][0][12][12].item<double>() == Approx(0.5).margin(0.01));
  CHECK(out.rgb[0][0][0][0].item<double>() == Approx(1.0).margin(1e-3));  // white background
  // Depth and opacity of a central pixel against a fine quadrature of the blob along its ray
  // (the MLP adds ~1e-4 to the raw density).
  {
    const sds::Rays rays = cams.rays(1, at::kDouble);
    const at::Tensor o = rays.origins[0][12][12], d = rays.directions[0][12][12];
    const at::Tensor t = at::linspace(1.5, 4.5, 30001, kF64);
    const at::Tensor x = o.unsqueeze(0) + t.unsqueeze(1) * d.unsqueeze(0);
    const at::Tensor sigma = at::softplus(10 * (1 - x.norm(2, 1) / 0.5));
    const double dt = 3.0 / 30000;
    const at::Tensor trans = at::exp(-at::cumsum(sigma * dt, 0) + sigma * dt);
    const at::Tensor w = trans * (1 - at::exp(-sigma * dt));
    CHECK(out.depth[0][0][12][12].item<double>() ==
          Approx((w * t).sum().item<double>()).margin(0.01));
  }

  sds::RenderOptions train;
  train.step = 5000;
  train.generator = at::make_generator<at::CPUGeneratorImpl>(1);
  const sds::RenderOutput t = nerf.render(cams, train);
  const at::Tensor loss = t.rgb.mean() + t.orientation.sum() + t.z_variance.mean();
  loss.backward();
  for (auto& group : nerf.parameter_groups()) {
    for (auto& p : group.parameters) {
      INFO(group.name);
      REQUIRE(p.grad().defined());
      CHECK(p.grad().abs().sum().item<double>() > 0);
    }
  }
}

TEST_CASE("nerf normals point along -grad sigma, analytic and by finite differences",
          "[repr][nerf]") {
  // At initialisation sigma is the blob (the MLP's output is ~1e-4): normals are x / |x|.
  for (const char* type : {"analytic", "finite_difference"}) {
    sds::NerfOptions o = small_nerf();
    o.normal_type = type;
    sds::Nerf nerf(o, 0);
    at::manual_seed(10);
    at::Tensor x = at::randn({200, 3});
    x = x / x.norm(2, 1, true) * (at::rand({200, 1}) * 0.5 + 0.2);
    const at::Tensor n = nerf.normals(x, nerf.density(x));
    INFO(type);
    // Forward differences of step 0.01 tilt a radial gradient by up to about 0.01 / |x|.
    const double tolerance = std::string(type) == "analytic" ? 1e-2 : 6e-2;
    CHECK(max_abs_diff(n, x / x.norm(2, 1, true)) < tolerance);
  }
  // Analytic normals train the grid through the encoding's second derivatives.
  sds::NerfOptions o = small_nerf();
  o.normal_type = "analytic";
  sds::Nerf nerf(o, 0);
  const at::Tensor x = at::rand({100, 3}) - 0.5;
  const at::Tensor n = nerf.normals(x, nerf.density(x));
  n.select(1, 0).sum().backward();
  const at::Tensor g = nerf.named_tensors()[0].second.grad();
  REQUIRE(g.defined());
  CHECK(g.abs().sum().item<double>() > 0);
}

TEST_CASE("nerf rejects bad configs with sds::Error", "[repr][nerf]") {
  auto build = [](const char* json) {
    sds::Json j = sds::parse_json(json, "representation");
    sds::ConfigReader reader(j, "representation");
    return sds::Nerf::from_config(reader, {});
  };
  CHECK_THROWS_AS(build(R"({"grid": {"n_levels": 0}})"), sds::Error);
  CHECK_THROWS_AS(build(R"({"grid": {"log2_hashmap_size": 30}})"), sds::Error);
  CHECK_THROWS_AS(build(R"({"grid": {"base_resolution": 1}})"), sds::Error);
  CHECK_THROWS_AS(build(R"({"grid": {"n_levels": 16, "per_level_scale": 3.0}})"), sds::Error);
  CHECK_THROWS_AS(build(R"({"grid": {"levels": 8}})"), sds::Error);  // unknown key
  CHECK_THROWS_AS(build(R"({"density_activation": "relu"})"), sds::Error);
  CHECK_THROWS_AS(build(R"({"normal_type": "pred"})"), sds::Error);
  CHECK_THROWS_AS(build(R"({"samples_per_ray": 0})"), sds::Error);
  CHECK_THROWS_AS(build(R"({"occupancy_grid": {"resolution": 1000}})"), sds::Error);
  CHECK_THROWS_AS(build(R"({"normal_type": "none"})"), sds::Error);  // shading needs normals
  CHECK_THROWS_AS(build(R"({"radius": -1})"), sds::Error);
  CHECK_THROWS_AS(build(R"({"isosurface_threshold": "mean"})"), sds::Error);
  CHECK_THROWS_AS(build(R"({"isosurface_threshold": -1})"), sds::Error);
  CHECK_THROWS_AS(build(R"({"isosurface_threshold": "occupancy", "alpha_threshold": 0})"),
                  sds::Error);
  CHECK_THROWS_AS(build(R"({"silhouette_views": -1})"), sds::Error);
  CHECK_THROWS_AS(build(R"({"silhouette_views": 64, "silhouette_resolution": 4})"), sds::Error);
  CHECK_THROWS_AS(build(R"({"fill_cavities": "yes"})"), sds::Error);
  CHECK_THROWS_AS(build(R"({"mesh_resolution": 4})"), sds::Error);
}

TEST_CASE("nerf silhouettes equal the opacity of an unpruned render at every threshold",
          "[repr][nerf]") {
  sds::NerfOptions o = small_nerf();
  o.early_stop_eps = 0;  // the render then sums every marched sample, as silhouettes() does
  o.alpha_threshold = 0;
  sds::Nerf nerf(o, 0);
  const sds::CameraBatch cams = two_views(32);
  const at::Tensor alpha = nerf.render(cams, sds::RenderOptions{}).alpha.squeeze(1);
  for (double q : {0.05, 0.5, 0.95}) {
    INFO("min_opacity " << q);
    const at::Tensor masks = nerf.silhouettes(cams, q);
    REQUIRE(masks.sizes() == at::IntArrayRef({2, 32, 32}));
    REQUIRE(masks.scalar_type() == at::kBool);
    // Rays whose opacity is within float rounding of q may fall either way.
    const at::Tensor clear = (alpha - q).abs() > 1e-4;
    CHECK(at::equal(masks.masked_select(clear), (alpha >= q).masked_select(clear)));
    CHECK(masks.any().item<bool>());
    CHECK_FALSE(masks.all().item<bool>());
  }
  CHECK_THROWS_AS(nerf.silhouettes(cams, 0.0), sds::Error);
  CHECK_THROWS_AS(nerf.silhouettes(cams, 1.0), sds::Error);
}

TEST_CASE("nerf solid: the occupancy level, the silhouettes' hull, and the mesh agree",
          "[repr][nerf]") {
  // At initialisation sigma is Magic3D's blob softplus(10 (1 - |x| / 0.5)) (the MLP adds about
  // 1e-4 to the raw density), so the level set sigma >= L is the ball of radius
  // 0.5 (1 - log(e^L - 1) / 10).
  auto level_radius = [](double level) { return 0.5 * (1 - std::log(std::expm1(level)) / 10); };
  at::manual_seed(7);
  at::Tensor dirs = at::randn({3000, 3}, kF64);
  dirs = dirs / dirs.norm(2, 1, true);
  const at::Tensor radius = at::rand({3000}, kF64) * 0.95;
  const at::Tensor points = dirs * radius.unsqueeze(1);
  auto agree_with_ball = [&](const at::Tensor& inside, double r) {
    const at::Tensor clear = (radius - r).abs() > 0.01;
    return at::equal(inside.masked_select(clear), (radius <= r).masked_select(clear));
  };

  // "occupancy": the density at which one step's opacity reaches alpha_threshold.
  sds::NerfOptions o = small_nerf();
  o.isosurface_occupancy = true;
  sds::Nerf occupancy(o, 0);
  const double level = -std::log(1 - o.alpha_threshold) / occupancy.step_size();
  CHECK(occupancy.isosurface_level() == Approx(level).epsilon(1e-12));
  CHECK(agree_with_ball(occupancy.inside(points), level_radius(level)));
  // No cavity in a ball: filling changes nothing.
  o.fill_cavities = true;
  o.mesh_resolution = 48;
  CHECK(at::equal(sds::Nerf(o, 0).inside(points), occupancy.inside(points)));

  // A low level reaches far into the blob's thin tail (radius 0.73), where rays stay nearly
  // transparent: the silhouettes' hull trims the solid to where the renders are opaque. A ray
  // through the blob reaches opacity 1/2 at 0.44 from the centre (a quadrature of sigma along
  // it: 0.504 at 0.44, 0.463 at 0.45), so the hull is that ball, widened by under a pixel
  // (0.023 at 96 pixels) and by the cones between the 32 views.
  sds::NerfOptions low = small_nerf();
  low.isosurface_threshold = 0.01;
  low.mesh_resolution = 48;
  const double wide = level_radius(0.01);
  REQUIRE(wide > 0.72);
  CHECK(agree_with_ball(sds::Nerf(low, 0).inside(points), wide));
  const double wide_mesh =
      sds::Nerf(low, 0).extract_mesh().vertices.norm(2, 1).max().item<double>();
  CHECK(wide_mesh == Approx(wide).margin(0.03));
  low.silhouette_views = 32;
  low.silhouette_resolution = 96;
  sds::Nerf trimmed(low, 0);
  const at::Tensor inside = trimmed.inside(points);
  CHECK(inside.masked_select(radius < 0.41).all().item<bool>());
  CHECK_FALSE(inside.masked_select(radius > 0.53).any().item<bool>());
  // The mesh bounds the same solid.
  const at::Tensor r_mesh = trimmed.extract_mesh().vertices.norm(2, 1);
  CHECK(r_mesh.max().item<double>() < 0.53);
  CHECK(r_mesh.min().item<double>() > 0.39);
}

TEST_CASE("nerf.json trained briefly on the exact prior fits the held-out views", "[nerf][e2e]") {
  sds::Json config =
      sds::read_json_file(std::filesystem::path(SDS_SOURCE_DIR) / "examples/configs/nerf.json");
  // A short version of the shipped config (the full one is measured in docs/results.md).
  config["steps"] = 150;
  // The shipped resolution milestone at a quarter of the pixels: 32 x 32 then 64 x 64.
  config["camera_sampler"]["height"] = sds::Json::array({32, 64});
  config["camera_sampler"]["width"] = sds::Json::array({32, 64});
  config["camera_sampler"]["resolution_milestones"] = sds::Json::array({100});
  config["trainer"]["checkpoint_every"] = 0;
  config["eval"]["turntable_frames"] = 4;
  // The solid's silhouettes at the same quarter of the pixels.
  config["representation"]["silhouette_resolution"] = 64;
  auto dir = sds::test::fresh_temp_dir("nerf_e2e");
  sds::GenerateOptions go;
  go.exports = {"obj"};
  sds::GenerateResult r = sds::generate(config, dir, go);
  INFO("mean " << r.held_out.mean << " dB, worst " << r.held_out.min << " dB, " << r.seconds
               << " s");
  CHECK(r.held_out.mean >= 24.0);
  CHECK(r.held_out.min >= 20.0);
  REQUIRE(r.geometry_iou.has_value());
  INFO("geometry IoU " << *r.geometry_iou);
  CHECK(*r.geometry_iou >= 0.8);  // 0.92 measured (the mug, seed 0)
  CHECK(std::filesystem::exists(dir / "export" / "mesh.obj"));
}

TEST_CASE("regularisers equal threestudio's formulas", "[train][regularisers]") {
  at::manual_seed(11);
  sds::RenderOutput r;
  r.alpha = at::rand({2, 1, 4, 4}, kF64);
  r.alpha.view({-1})[0] = 0.0;  // an empty ray (not counted by the orientation term)
  r.z_variance = at::rand({2, 1, 4, 4}, kF64);
  r.orientation = at::rand({2, 1, 4, 4}, kF64);
  sds::RegulariserWeights w;
  w.sparsity = 2.0;
  w.opacity = 3.0;
  w.z_variance = 5.0;
  w.orientation = sds::ScalarSchedule(10.0, 1000.0, 0, 100);  // 10 -> 1000 over 100 steps
  const sds::GuidanceOutput out = sds::regularisation(w, r, 50, 100);
  const at::Tensor a = r.alpha;
  const double sparsity = (a * a + 0.01).sqrt().mean().item<double>();
  const at::Tensor ac = a.clamp(1e-3, 1 - 1e-3);
  const double entropy = (-(ac * ac.log() + (1 - ac) * (1 - ac).log())).mean().item<double>();
  const double zvar = r.z_variance.index({a > 0.5}).mean().item<double>();
  const double orient = r.orientation.sum().item<double>() / (a > 0).sum().item<double>();
  CHECK(out.metrics.at("reg_sparsity").item<double>() == Approx(2 * sparsity));
  CHECK(out.metrics.at("reg_opacity").item<double>() == Approx(3 * entropy));
  CHECK(out.metrics.at("reg_z_variance").item<double>() == Approx(5 * zvar));
  CHECK(out.metrics.at("reg_orientation").item<double>() == Approx(505 * orient));
  CHECK(out.loss.item<double>() == Approx(2 * sparsity + 3 * entropy + 5 * zvar + 505 * orient));
  // A term whose input the representation does not render is an error, not a silent zero.
  sds::RenderOutput bare;
  bare.alpha = r.alpha;
  CHECK_THROWS_AS(sds::regularisation(w, bare, 0, 100), sds::Error);
  sds::RegulariserWeights only_alpha;
  only_alpha.sparsity = 1.0;
  CHECK(sds::regularisation(only_alpha, bare, 0, 100).loss.item<double>() == Approx(sparsity));
  CHECK_FALSE(sds::RegulariserWeights{}.any());
  sds::Json j = sds::parse_json(R"({"sparsity": -1})", "regularisers");
  sds::ConfigReader reader(j, "regularisers");
  CHECK_THROWS_AS(sds::RegulariserWeights::from_config(reader), sds::Error);

  // The voxel grid renders the z-variance: through its blob the weights lie within its radius of
  // 0.5 (a faint ray's normalised weights spread over the whole cube; it is masked by alpha).
  sds::VoxelGridOptions vo;
  vo.resolution = 16;
  sds::VoxelGrid grid(vo);
  const sds::RenderOutput v = grid.render(two_views(8), {});
  REQUIRE(v.z_variance.defined());
  CHECK(v.alpha[0][0][4][4].item<double>() > 0.5);
  CHECK(v.z_variance[0][0][4][4].item<double>() > 1e-4);
  CHECK(v.z_variance[0][0][4][4].item<double>() < 0.25);
}

TEST_CASE("the voxel grid's stratified samples: one uniform offset per ray in training renders",
          "[repr][voxel]") {
  // Uniform density: the weights do not depend on where the samples sit, so a ray's depth moves
  // by exactly (u - 1/2) * delta * alpha when its samples shift by u - 1/2 of an interval delta.
  sds::VoxelGridOptions vo;
  vo.resolution = 8;
  vo.samples_per_ray = 16;
  vo.stratified = true;
  sds::VoxelGrid grid(vo);
  {
    at::NoGradGuard no_grad;
    grid.named_tensors()[0].second.fill_(-3.0);  // raw density: sigma = 20 softplus(-3)
  }
  const sds::CameraBatch cams = two_views(6);
  const sds::RenderOutput eval = grid.render(cams, {});
  sds::RenderOptions train;
  train.generator = sds::make_generator(7);
  const sds::RenderOutput jittered = grid.render(cams, train);

  const sds::Rays rays = cams.rays(1, at::kFloat, at::kCPU);
  auto [near, far] =
      sds::ray_cube_intersection(rays.origins.view({-1, 3}), rays.directions.view({-1, 3}));
  at::Generator same = sds::make_generator(7);
  const at::Tensor u = at::rand({near.size(0)}, same, at::kFloat);
  const at::Tensor delta = (far - near) / static_cast<double>(vo.samples_per_ray);
  const at::Tensor alpha = eval.alpha.reshape({-1});
  const at::Tensor expected = eval.depth.reshape({-1}) + (u - 0.5) * delta * alpha;
  REQUIRE(alpha.max().item<double>() > 0.5);
  CHECK(at::allclose(jittered.alpha, eval.alpha, 1e-5, 1e-6));
  CHECK(at::allclose(jittered.depth.reshape({-1}), expected, 1e-4, 1e-5));
  CHECK((jittered.depth - eval.depth).abs().max().item<double>() > 1e-3);  // it did move

  // Off, or outside training: the interval midpoints, whatever the generator.
  vo.stratified = false;
  sds::VoxelGrid fixed(vo);
  {
    at::NoGradGuard no_grad;
    fixed.named_tensors()[0].second.fill_(-3.0);
  }
  train.generator = sds::make_generator(7);
  CHECK(at::equal(fixed.render(cams, train).depth, eval.depth));
  sds::Json bad = sds::parse_json(R"({"stratified": 1})", "representation");
  sds::ConfigReader reader(bad, "representation");
  CHECK_THROWS_AS(sds::VoxelGrid::from_config(reader, {}), sds::Error);
}
